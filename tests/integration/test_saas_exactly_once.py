"""SaaS usage through the real ingest and consumer handlers against moto: billing meters, adoption and
distinct-user counts are applied exactly once under duplicate requests, resends, redelivery and replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.builders import an_event
from tests.integration.harness import Harness
from tests.integration.redelivery import deliver_again, drain_capturing, stable_state

ACCOUNT = "acct_it_contoso"


def _usage(key: str, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """An event of the test account."""
    return an_event(key, event_type, {"account_id": ACCOUNT, **payload}, source="product_analytics")


def test_billing_meters_count_exactly_once_under_duplicates_redelivery_and_replay(stack: Harness) -> None:
    # Given today's usage (dated today, so it is billed this month and counts as today's activity whatever
    # the test date; and in the past, since ingest refuses event times more than 5 minutes ahead)
    clock = datetime.now(UTC).replace(second=0, microsecond=0)
    now = max(clock.replace(hour=0, minute=0), clock - timedelta(minutes=10))
    at = [(now + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ") for n in range(6)]
    sent = [
        _usage(
            "u1",
            "feature_used",
            {"user_id": "usr_a", "feature": "ai_summary", "units": 3, "occurred_at": at[0]},
        ),
        _usage(
            "u2",
            "feature_used",
            {"user_id": "usr_b", "feature": "ai_summary", "units": 4, "occurred_at": at[1]},
        ),
        _usage(
            "u3",
            "feature_used",
            {"user_id": "usr_a", "feature": "api_access", "units": 250, "occurred_at": at[2]},
        ),
        _usage(
            "d1", "dashboard_viewed", {"user_id": "usr_b", "dashboard_id": "dash_ops", "occurred_at": at[3]}
        ),
        _usage(
            "e1",
            "export_triggered",
            {
                "user_id": "usr_a",
                "export_id": "exp_it_1",
                "format": "parquet",
                "rows": 52_000,
                "occurred_at": at[4],
            },
        ),
        _usage(
            "i1",
            "user_invited",
            {"inviter_user_id": "usr_a", "invitee_user_id": "usr_c", "role": "viewer", "occurred_at": at[5]},
        ),
    ]
    for body in sent:
        assert stack.post_event(body).status == 202
    bodies = drain_capturing(stack)
    assert len(bodies) == len(sent)
    period = now.strftime("%Y-%m")
    meters_url = f"/api/v1/saas/accounts/{ACCOUNT}/meters/{period}"
    meters = stack.request("GET", meters_url).json()
    assert meters["meters"] == {
        "units_ai_summary": 7,
        "units_api_access": 250,
        "exports": 1,
        "export_rows": 52_000,
        "seats_invited": 1,
    }
    before = stable_state(stack, "SAAS#")

    # When every request is retried, the export and the invite are resent under new keys, every message is
    # delivered again (a duplicate, a redelivery after a lost delete) and an operator replays them all
    assert {stack.post_event(body).status for body in sent} == {200}
    for body in (sent[4], sent[5]):
        assert stack.post_event({**body, "idempotency_key": body["idempotency_key"] + "-again"}).status == 202
    assert deliver_again(stack, bodies) == 3 * len(bodies) + 2 * 2

    # Then the meters are unchanged; only the resent invite counted (as a re-invite, never a second seat)
    assert stack.request("GET", meters_url).json() == meters
    after = {(i["pk"], i["sk"]): i for i in stable_state(stack, "SAAS#")}
    changed = {key for key, item in after.items() if item not in before}
    profile = after[(f"SAAS#ACCOUNT#{ACCOUNT}", "PROFILE")]
    assert (int(profile["seats_invited"]), int(profile["reinvites"]), int(profile["active_users"])) == (
        1,
        1,
        2,
    )
    assert {sk for _, sk in changed} == {"PROFILE", f"DAY#{now.strftime('%Y-%m-%d')}", "FEATURE#team_invites"}
    adoption = stack.request("GET", f"/api/v1/saas/accounts/{ACCOUNT}/features").json()
    uses = {f["feature"]: (f["uses"], f["users"]) for f in adoption["features"]}
    assert uses == {
        "ai_summary": (2, 2),
        "api_access": (1, 1),
        "dashboards": (1, 1),
        "exports": (1, 1),
        "team_invites": (2, 1),
    }
    # And the health counts the activity once: 7 events today (the re-invite included), 5 of 8 features
    health = stack.request("GET", f"/api/v1/saas/accounts/{ACCOUNT}/health").json()
    assert (health["days_since_active"], health["events_recent"], health["breadth_score"]) == (0, 7, 0.625)
    assert (health["score"], health["churn_risk"]) == (89, "low")
