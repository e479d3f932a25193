"""Where ``plutus webhooks secret`` writes: the stack's own prefix, store and kinds, resolved as its functions
resolve them (flags of the target, then PLUTUS_WEBHOOK_*, then Settings' defaults); rotation's rules."""

from __future__ import annotations

import json

import pytest

from plutus.settings import Settings
from plutus_dev.cli import webhook_secrets as ws
from plutus_dev.cli.target import Target, from_outputs

OUTPUTS = {
    "EventsTableName": "t-Events",
    "StateTableName": "t-State",
    "EventsQueueUrl": "https://q/events",
    "EventsDeadLetterQueueUrl": "https://q/dlq",
}
A, B, C = ("whsec_" + c * 32 for c in "abc")


def target(**fields: str) -> Target:
    return from_outputs({**OUTPUTS, **fields}, "stack t", None, "us-east-1")


def test_a_deployed_stacks_outputs_and_sources_name_the_place() -> None:
    found = target(
        WebhookSecretPrefix="/prod/wh/",
        WebhookSecretStore="SSM",
        WebhookSources=json.dumps({"stripe": {"kind": "stripe"}}),
    )
    place = ws.resolve_place(found, "stripe", None, env={})
    assert (place.store, place.name, place.kind) == ("SSM", "/prod/wh/stripe", "stripe") and place.configured


def test_without_outputs_the_functions_variables_then_the_settings_defaults_apply() -> None:
    env = {"PLUTUS_WEBHOOK_SOURCES": json.dumps({"gh": {"kind": "github"}})}
    place = ws.resolve_place(target(), "gh", None, env=env)
    defaults = Settings.model_fields
    assert place.name == str(defaults["webhook_secret_prefix"].default) + "gh"
    assert place.store == defaults["webhook_secret_store"].default and place.kind == "github"


@pytest.mark.parametrize(
    ("source", "fields", "why"),
    [
        ("a/b", {}, "cannot tell"),
        ("stripe", {"WebhookSecretPrefix": "no-slash"}, "cannot tell"),
        ("stripe", {"WebhookSources": "{not json"}, "cannot tell"),
        ("stripe", {}, "not in the stack's WebhookSources"),
    ],
)
def test_a_place_that_cannot_be_told_is_refused(source: str, fields: dict[str, str], why: str) -> None:
    with pytest.raises(ws.SecretCommandError, match=why):
        ws.resolve_place(target(**fields), source, None, env={})


def test_a_rotation_keeps_one_current_secret_and_remove_old_keeps_the_newest() -> None:
    assert ws.put("stripe", B, A, rotate=True).value == f"{B}\n{A}"
    assert ws.put("stripe", B, A, rotate=False).value == B
    with pytest.raises(ws.SecretCommandError, match="remove-old"):
        ws.put("stripe", C, f"{B}\n{A}", rotate=True)
    with pytest.raises(ws.SecretCommandError, match="stored already"):
        ws.put("stripe", A, A, rotate=True)
    # An unusable stored entry is dropped, and said so by position and reason only
    change = ws.put("stripe", B, f"whsec_short\n{A}", rotate=True)
    assert change.value == f"{B}\n{A}" and "entry 1: too_short" in change.describe(
        ws.SecretPlace("s", "stripe", "SSM", "/p/s", True)
    )
    removed = ws.remove_old("stripe", f"{B}\n{A}")
    assert removed is not None and removed.value == B
    assert ws.remove_old("stripe", B) is None


def test_generated_secrets_are_usable_and_only_for_kinds_whose_secret_the_operator_chooses() -> None:
    for kind in ("github", "generic_hmac", "standard_webhooks"):
        assert ws.checked(kind, ws.generate(kind))  # type: ignore[arg-type]
    for kind in ("stripe", "slack", "shopify"):
        with pytest.raises(ws.SecretCommandError, match="issued by the provider"):
            ws.generate(kind)  # type: ignore[arg-type]
