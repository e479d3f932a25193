"""Producer authorization: the policy's rules, the authorizer per AuthMode, and the endpoints refusing with
403 before anything is accepted (no sockets: a recording fake stands in for the use cases)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from plutus.core.envelope import IngestResult
from plutus.core.errors import ForbiddenEventTypeError, ForbiddenSourceError
from plutus.core.policy import ProducerPolicy, principal_key
from plutus.domains import build_registry
from plutus.ingest.accept import IngestCommand
from plutus.ingest.accept_batch import Outcome
from plutus.ingest.auth import Caller, Unauthenticated
from plutus.ingest.endpoints import BatchIngestEndpoint, IngestEndpoint
from plutus.ingest.http import HttpRequest, from_apigw
from plutus.ingest.producers import ProducerAuthorizer
from plutus.settings import Settings
from plutus_dev.emulator.apigw import build_event

REGISTRY = build_registry()
RESTRICTED = {
    "transfer_requested": "money",
    "kyc_document_uploaded": "identity",
    "heart_rate_reading": "clinical",
}
ROLE = "arn:aws:iam::123456789012:role/producers/payments-producer"
SESSION = "arn:aws:sts::123456789012:assumed-role/payments-producer/i-0abc"

POLICY = ProducerPolicy.model_validate(
    {
        "sources": {
            "payment_service": ["transfer_requested", "page_view", "iot_*", "<untyped>"],
            "srcA": ["*"],
            "*": ["player_login"],
        },
        "principals": {ROLE: ["payment_service"], "arn:aws:iam::123456789012:user/ops": ["*"]},
    }
)


def may_send(source: str, event_type: str | None) -> bool:
    return POLICY.may_send(source, event_type, RESTRICTED)


@pytest.mark.parametrize(
    ("source", "event_type", "allowed"),
    [
        ("payment_service", "transfer_requested", True),  # named exactly
        ("payment_service", "page_view", True),
        ("payment_service", "iot_fuel", True),  # prefix
        ("payment_service", None, True),  # <untyped>
        ("payment_service", "product_click", False),  # not named
        ("payment_service", "player_login", True),  # the '*' entry grants every source
        ("srcA", "product_click", True),  # '*' grants unrestricted types...
        ("srcA", None, True),
        ("srcA", "transfer_requested", False),  # ...never a restricted one
        ("srcA", "kyc_document_uploaded", False),
        ("nobody", "page_view", False),  # no entry: nothing
        ("nobody", None, False),
        ("nobody", "player_login", True),
    ],
)
def test_the_policy_grants_what_it_names_and_nothing_else(
    source: str, event_type: str | None, allowed: bool
) -> None:
    assert may_send(source, event_type) is allowed


def test_an_empty_policy_grants_nothing() -> None:
    empty = ProducerPolicy()
    assert not empty.may_send("payment_service", None, RESTRICTED)
    assert not empty.may_send("payment_service", "page_view", RESTRICTED)
    assert not empty.may_write(ROLE, "payment_service")


@given(
    pattern=st.one_of(
        st.just("*"),
        st.from_regex(r"[a-z][a-z0-9_]{0,10}\*", fullmatch=True),
    ),
    restricted=st.sampled_from(sorted(RESTRICTED)),
)
def test_no_wildcard_ever_grants_a_restricted_type(pattern: str, restricted: str) -> None:
    policy = ProducerPolicy(sources={"s": (pattern,), "*": (pattern,)})
    assert not policy.may_send("s", restricted, RESTRICTED)
    assert not policy.may_send("other", restricted, RESTRICTED)


def test_patterns_that_match_no_registered_type_are_reported() -> None:
    policy = ProducerPolicy(sources={"a": ("page_view", "pagee_view", "iot_*", "page_*", "*", "<untyped>")})
    assert policy.unknown_types(["page_view", "player_login"]) == ["iot_*", "pagee_view"]


def test_the_every_source_entry_may_not_name_a_restricted_type() -> None:
    with pytest.raises(ValueError, match="transfer_requested"):
        ProducerPolicy(sources={"*": ("transfer_requested",)}).check_restricted(RESTRICTED)


@pytest.mark.parametrize(
    "document",
    [
        {"sources": {"a": ["Transfer"]}},  # not a type name
        {"sources": {"a": ["*kyc"]}},  # a wildcard only at the end
        {"sources": {"a": "page_view"}},  # a list, not a string
        {"sources": {"": ["page_view"]}},
        {"principals": {"payments-producer": ["a"]}},  # an ARN
        {"sources": {}, "roles": {}},  # unknown member: a typo must not pass as "no rule"
    ],
)
def test_a_malformed_policy_is_refused_when_the_settings_load(
    monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]
) -> None:
    monkeypatch.setenv("PLUTUS_PRODUCER_POLICY", json.dumps(document))
    with pytest.raises(ValidationError):
        Settings(events_table="e", state_table="s", queue_url="q")


def test_the_policy_is_read_from_the_environment_and_empty_means_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLUTUS_PRODUCER_POLICY", json.dumps({"sources": {"a": ["page_view"]}}))
    settings = Settings(events_table="e", state_table="s", queue_url="q")
    assert settings.producer_policy == ProducerPolicy(sources={"a": ("page_view",)})
    monkeypatch.setenv("PLUTUS_PRODUCER_POLICY", "")
    assert Settings(events_table="e", state_table="s", queue_url="q").producer_policy is None


@pytest.mark.parametrize(
    ("arn", "key"),
    [
        (SESSION, "arn:aws:iam::123456789012:role/payments-producer"),
        (ROLE, "arn:aws:iam::123456789012:role/payments-producer"),
        ("arn:aws-us-gov:sts::123456789012:assumed-role/r/s", "arn:aws-us-gov:iam::123456789012:role/r"),
        ("arn:aws:iam::123456789012:user/ops", "arn:aws:iam::123456789012:user/ops"),
    ],
)
def test_an_assumed_role_session_is_its_role(arn: str, key: str) -> None:
    assert principal_key(arn) == key


@pytest.mark.parametrize(
    ("principal", "source", "allowed"),
    [
        (SESSION, "payment_service", True),
        (ROLE, "payment_service", True),
        (SESSION, "srcA", False),  # another producer's source
        (
            "arn:aws:sts::210987654321:assumed-role/payments-producer/x",
            "payment_service",
            False,
        ),  # other account
        ("arn:aws:sts::123456789012:assumed-role/payments-producer-2/x", "payment_service", False),
        ("arn:aws:iam::123456789012:user/ops", "anything", True),  # '*'
        ("arn:aws:iam::123456789012:user/ops2", "payment_service", False),
    ],
)
def test_a_principal_writes_only_the_sources_mapped_to_it(principal: str, source: str, allowed: bool) -> None:
    assert POLICY.may_write(principal, source) is allowed


def authorizer(mode: str, policy: ProducerPolicy | None = POLICY) -> ProducerAuthorizer:
    return ProducerAuthorizer(mode, policy, RESTRICTED)


def test_webhook_mode_authorizes_the_verified_source() -> None:
    auth = authorizer("WEBHOOK_SIGNATURE")
    auth.authorize(Caller(source="payment_service"), "payment_service", "transfer_requested")
    # The red-team case: srcA, correctly signed, may not move money.
    with pytest.raises(ForbiddenEventTypeError):
        auth.authorize(Caller(source="srcA"), "srcA", "transfer_requested")
    with pytest.raises(ForbiddenSourceError):
        auth.authorize(Caller(source="srcA"), "payment_service", "transfer_requested")


@pytest.mark.parametrize("mode", ["WEBHOOK_SIGNATURE", "IAM"])
def test_without_a_policy_authenticated_modes_refuse_everything(mode: str) -> None:
    auth = authorizer(mode, None)
    with pytest.raises((ForbiddenEventTypeError, ForbiddenSourceError)):
        auth.authorize(Caller(source="payment_service", principal=ROLE), "payment_service", None)


def test_iam_mode_maps_the_principal_to_its_sources_then_checks_the_type() -> None:
    auth = authorizer("IAM")
    auth.authorize(Caller(principal=SESSION), "payment_service", "transfer_requested")
    with pytest.raises(ForbiddenSourceError):
        auth.authorize(Caller(principal=SESSION), "srcA", "page_view")
    with pytest.raises(ForbiddenSourceError):
        auth.authorize(Caller(), "payment_service", "page_view")  # no principal: refused, not waved through
    with pytest.raises(ForbiddenEventTypeError):
        auth.authorize(Caller(principal=SESSION), "payment_service", "product_click")


def test_none_mode_is_open_without_a_policy_and_holds_claimed_sources_to_one() -> None:
    authorizer("NONE", None).authorize(Caller(), "anyone", "kyc_document_uploaded")
    # The red-team case: under a policy, a claimed source may not mark KYC complete.
    with pytest.raises(ForbiddenEventTypeError):
        authorizer("NONE").authorize(Caller(), "srcA", "kyc_document_uploaded")


def test_the_registry_marks_money_identity_and_clinical_types_restricted() -> None:
    restricted = REGISTRY.restricted_types()
    assert {
        "transaction_initiated": "money",
        "card_swipe": "money",
        "transfer_requested": "money",
        "kyc_document_uploaded": "identity",
        "heart_rate_reading": "clinical",
        "medication_administered": "clinical",
        "doctor_notes_updated": "clinical",
    }.items() <= restricted.items()
    assert "page_view" not in restricted


# The endpoints: a refused event is a 403 problem and never reaches the use case.

SETTINGS = Settings(
    events_table="e",
    state_table="s",
    queue_url="q",
    auth_mode="IAM",
    producer_policy=POLICY,
)
AUTHORIZER = ProducerAuthorizer.for_settings(SETTINGS, REGISTRY)
TRANSFER = {
    "source": "payment_service",
    "schema_version": "1.0",
    "event_type": "transfer_requested",
    "idempotency_key": "trf-1",
    "payload": {
        "transfer_id": "trf_1",
        "from_account_id": "acc_1",
        "to_account_id": "acc_2",
        "amount": 10,
        "currency": "KES",
    },
}


class Recorder:
    """The use cases, recording what reached them."""

    def __init__(self) -> None:
        self.accepted: list[IngestCommand] = []

    def accept_event(self, command: IngestCommand) -> IngestResult:
        self.accepted.append(command)
        return IngestResult(
            event_id=command.event_id,
            source=command.source,
            event_type=command.event_type,
            schema_version=command.schema_version,
            received_at="2026-01-01T00:00:00.000000Z",
        )

    def ingest_batch(self, items: Sequence[IngestCommand | Exception]) -> list[Outcome]:
        outcomes = []
        for item in items:
            if isinstance(item, Exception):
                outcomes.append(Outcome(error=item))
            else:
                self.accepted.append(item)
                outcomes.append(Outcome(event_id=item.event_id))
        return outcomes


def request(path: str, body: dict[str, Any], principal: str | None) -> HttpRequest:
    event = build_event(
        "POST", path, {"Content-Type": "application/json"}, json.dumps(body).encode(), "1.2.3.4"
    )
    if principal:
        event["requestContext"]["identity"]["userArn"] = principal
    return from_apigw(event)


def test_the_principal_comes_from_the_api_gateway_request_context() -> None:
    assert request("/api/v1/ingest", TRANSFER, SESSION).principal == SESSION
    assert request("/api/v1/ingest", TRANSFER, None).principal is None


@pytest.mark.parametrize(
    ("principal", "source", "status", "problem"),
    [
        (SESSION, "payment_service", 202, None),
        (SESSION, "srcA", 403, "forbidden-source"),
        (None, "payment_service", 403, "forbidden-source"),
        ("arn:aws:iam::123456789012:user/ops", "srcA", 403, "forbidden-event-type"),
    ],
)
def test_the_single_endpoint_answers_403_and_accepts_nothing(
    principal: str | None, source: str, status: int, problem: str | None
) -> None:
    recorder = Recorder()
    endpoint = IngestEndpoint(SETTINGS, REGISTRY, recorder.accept_event, Unauthenticated(), AUTHORIZER)

    reply = endpoint(request("/api/v1/ingest", {**TRANSFER, "source": source}, principal))

    assert reply.status == status
    if problem is None:
        assert len(recorder.accepted) == 1
        return
    assert reply.media_type == "application/problem+json"
    assert reply.document["type"] == f"https://plutus.dev/problems/{problem}"
    assert source not in reply.document["detail"]  # nothing the caller sent is echoed
    assert recorder.accepted == []


def test_the_batch_endpoint_refuses_per_item() -> None:
    recorder = Recorder()
    endpoint = BatchIngestEndpoint(
        SETTINGS,
        REGISTRY,
        recorder.ingest_batch,  # type: ignore[arg-type]
        Unauthenticated(),
        AUTHORIZER,
    )
    events = [
        TRANSFER,
        {**TRANSFER, "source": "srcA", "idempotency_key": "trf-2"},
        {**TRANSFER, "event_type": None, "payload": {"n": 1}, "idempotency_key": "u-1"},
        {
            "source": "payment_service",
            "schema_version": "1.0",
            "idempotency_key": "pc",
            "payload": {},
            "event_type": "product_click",
        },
    ]

    reply = endpoint(request("/api/v1/ingest/batch", {"events": events}, SESSION))

    statuses = [
        (r["status"], r.get("error", {}).get("type", "").rsplit("/", 1)[-1])
        for r in reply.document["results"]
    ]
    assert statuses == [(202, ""), (403, "forbidden-source"), (202, ""), (403, "forbidden-event-type")]
    assert [c.idempotency_key for c in recorder.accepted] == ["trf-1", "u-1"]


# The configuration: the template passes the policy to ingest, and the samples' policy covers the samples.


def test_the_template_gives_ingest_the_policy_and_denies_by_default() -> None:
    from plutus_dev.emulator.template import TEMPLATE, Stack, default_parameters, load_template

    template = load_template()
    parameter = template["Parameters"]["ProducerPolicy"]
    assert parameter["Default"] == ""
    policy = json.dumps({"sources": {"a": ["page_view"]}})
    for mode in ("NONE", "IAM", "WEBHOOK_SIGNATURE"):
        stack = Stack(
            "s", "us-east-1", default_parameters(template, {"AuthMode": mode, "ProducerPolicy": policy})
        )
        stack.template = template
        assert stack.function_environment("IngestFunction")["PLUTUS_PRODUCER_POLICY"] == policy
    assert TEMPLATE.exists()


def test_the_samples_policy_lets_every_sample_in_and_fits_the_parameter() -> None:
    from plutus_dev.cli.samples import EVENTS_DIR, sample_policy
    from plutus_dev.emulator.template import load_template

    document = json.dumps(sample_policy())
    assert len(document) <= int(load_template()["Parameters"]["ProducerPolicy"]["MaxLength"])
    policy = ProducerPolicy.model_validate_json(document)
    auth = ProducerAuthorizer("WEBHOOK_SIGNATURE", policy, REGISTRY.restricted_types())
    # Every API Gateway sample (consumer_batch.json is an SQS event: already accepted).
    gateway = [json.loads(p.read_text()) for p in sorted(EVENTS_DIR.glob("*.json"))]
    events = [json.loads(g["body"]) for g in gateway if "body" in g]
    assert len(events) >= len(REGISTRY.registrations)
    for event in events:
        auth.authorize(Caller(source=event["source"]), event["source"], event.get("event_type"))
