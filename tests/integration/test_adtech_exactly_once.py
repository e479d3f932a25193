"""Adtech through the real ingest and consumer handlers against moto: spend, clicks and attributed
conversions are charged exactly once under duplicate requests, resends under new keys, redelivery and
replay."""

from __future__ import annotations

from functools import partial
from typing import Any

from tests import tables
from tests.builders import an_event, an_sqs_event
from tests.clock import DAY
from tests.integration.harness import Harness
from tests.integration.redelivery import deliver_again, drain_capturing, stable_state

# Every event of this test comes from one producer.
ad_server = partial(an_event, source="ad_server")
CAMPAIGN = "cmp_it_blackfriday"


def _impression(n: int, cost: int) -> dict[str, Any]:
    return ad_server(
        f"imp-{n}",
        "ad_impression",
        {
            "impression_id": f"imp_it_{n}",
            "campaign_id": CAMPAIGN,
            "advertiser_id": "adv_acme",
            "creative_id": "cr_728x90",
            "placement_id": "pl_sports_mid",
            "user_id": f"u_{n % 3}",
            "cost_micros": cost,
            "daily_budget_micros": 2_000_000,
            "occurred_at": f"{DAY}T09:0{n}:00Z",
        },
    )


def test_spend_and_conversions_are_charged_once_under_every_kind_of_duplicate(stack: Harness) -> None:
    # Given six impressions, two CPC clicks, a viewability verdict and a conversion
    sent = [_impression(n, 10_000 * (n + 1)) for n in range(6)]
    sent += [
        ad_server(
            f"clk-{n}",
            "click",
            {
                "click_id": f"clk_it_{n}",
                "impression_id": f"imp_it_{n}",
                "campaign_id": CAMPAIGN,
                "advertiser_id": "adv_acme",
                "user_id": f"u_{n % 3}",
                "cost_micros": 300_000,
                "occurred_at": f"{DAY}T09:1{n}:00Z",
            },
        )
        for n in (0, 1)
    ]
    sent.append(
        ad_server(
            "view-0",
            "viewability_measured",
            {
                "impression_id": "imp_it_0",
                "campaign_id": CAMPAIGN,
                "measurable": True,
                "viewable": True,
                "in_view_ms": 4_100,
                "occurred_at": f"{DAY}T09:00:03Z",
            },
        )
    )
    sent.append(
        ad_server(
            "conv-0",
            "conversion",
            {
                "conversion_id": "conv_it_0",
                "advertiser_id": "adv_acme",
                "user_id": "u_1",
                "value_micros": 120_000_000,
                "currency": "EUR",
                "occurred_at": f"{DAY}T10:00:00Z",
            },
        )
    )
    bodies: list[str] = []
    for body in sent:
        assert stack.post_event(body).status == 202
        # One at a time: the conversion must see the click before it
        bodies += drain_capturing(stack)
    assert len(bodies) == len(sent)
    expected_spend = sum(10_000 * (n + 1) for n in range(6)) + 2 * 300_000
    decision_url = f"/api/v1/adtech/campaigns/{CAMPAIGN}/decision?as_of={DAY}T12:00:00Z"
    before = stack.request("GET", decision_url).json()
    assert (before["spend_today_micros"], before["impressions"], before["clicks"]) == (expected_spend, 6, 2)
    assert (before["conversions"], before["conversion_value_micros"]) == (1, 120_000_000)
    state_before = stable_state(stack, "AD#")

    # When every request is retried (same key), the ad server resends two impressions and a click under new
    # keys (new event ids), every message is delivered again (a duplicate, a redelivery after a lost delete)
    # and an operator replays them all
    assert {stack.post_event(body).status for body in sent} == {200}
    for body in (sent[0], sent[5], sent[6]):
        assert stack.post_event({**body, "idempotency_key": body["idempotency_key"] + "-retry"}).status == 202
    assert deliver_again(stack, bodies) == 3 * len(bodies) + 2 * 3

    # Then nothing was charged or credited twice: the counters, markers and attribution are unchanged
    assert stack.request("GET", decision_url).json() == before
    assert stable_state(stack, "AD#") == state_before
    attribution = stack.request("GET", "/api/v1/adtech/conversions/conv_it_0").json()
    assert (attribution["campaign_id"], attribution["click_id"]) == (CAMPAIGN, "clk_it_1")
    # And by noon 810,000 of the 2,000,000 budget is spent: behind the even plan, so speed up by 1.19M / 0.81M
    assert before["budget_micros"] == 2_000_000 and before["pacing_multiplier"] == 1.4691


class _StaleOnce:
    """A state reader that misses ``key`` once, as a consumer does whose read raced a concurrent commit."""

    def __init__(self, reader: Any, key: tuple[str, str]) -> None:
        self.reader, self.key, self.missed = reader, key, False

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        if (pk, sk) == self.key and not self.missed:
            self.missed = True
            return None
        result: dict[str, Any] | None = self.reader.get(pk, sk)
        return result

    def query(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.reader.query(*args, **kwargs)
        return result


def test_two_copies_of_an_impression_racing_are_charged_once(stack: Harness) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from plutus import bootstrap

    # Given one impression sent twice under two keys (two event ids), the first processed
    first, second = _impression(0, 25_000), {**_impression(0, 25_000), "idempotency_key": "imp-0-resent"}
    assert stack.post_event(first).status == 202
    assert stack.drain() == 1
    assert stack.post_event(second).status == 202
    [message] = tables.receive(stack.client("sqs"), stack.queue_url)

    # When the second copy's handler reads state from before the first committed (a lost race): it asks for
    # the create-only marker, the transaction is cancelled on it, and the consumer re-runs the handler
    consumer = bootstrap.Root().consumer
    consumer.state = _StaleOnce(consumer.state, ("AD#IMP#imp_it_0", "IMPRESSION"))  # type: ignore[assignment]
    [record] = an_sqs_event([message], stack.stack.arns["EventsQueue"])["Records"]
    assert consumer.process_record(SQSRecord(record)) == "processed"

    # Then the re-run found the marker and charged nothing: one impression, 25,000 micros
    assert consumer.state.missed  # type: ignore[attr-defined]
    decision = stack.request("GET", f"/api/v1/adtech/campaigns/{CAMPAIGN}/decision?as_of={DAY}T12:00:00Z")
    assert (decision.json()["impressions"], decision.json()["spend_today_micros"]) == (1, 25_000)
