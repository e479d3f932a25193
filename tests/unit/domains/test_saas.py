"""SaaS usage pack: account activity sequences through the handlers, asserting meters, adoption and health."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from plutus.domains import saas
from plutus.domains.kit import parse_iso
from plutus.domains.saas.handlers import account_pk, billing_period
from tests.fakes import DomainRunner, packs
from tests.unit.domains.readclient import read_client

ACCOUNT = "acct_northwind"


def _received(at: str) -> str:
    # Received when it happened unless a test says otherwise: billing must not depend on the test date.
    return at.replace("Z", ".000000Z")


def _runner(**overrides: Any) -> DomainRunner:
    return DomainRunner(routers=[saas.router], packs=packs(**overrides))


def _use(
    runner: DomainRunner, feature: str, at: str, user: str = "usr_3f9a", units: int = 1, **kw: Any
) -> str:
    payload = {"account_id": ACCOUNT, "user_id": user, "feature": feature, "units": units, "occurred_at": at}
    return runner.send("feature_used", payload, received_at=kw.pop("received_at", _received(at)), **kw)


def _view(runner: DomainRunner, at: str, user: str = "usr_3f9a") -> str:
    payload = {
        "account_id": ACCOUNT,
        "user_id": user,
        "dashboard_id": "dash_revenue_weekly",
        "occurred_at": at,
    }
    return runner.send("dashboard_viewed", payload, received_at=_received(at))


def _export(runner: DomainRunner, export_id: str, rows: int, at: str, **kw: Any) -> str:
    payload = {
        "account_id": ACCOUNT,
        "user_id": "usr_3f9a",
        "export_id": export_id,
        "format": "csv",
        "rows": rows,
        "occurred_at": at,
    }
    return runner.send("export_triggered", payload, received_at=kw.pop("received_at", _received(at)), **kw)


def _invite(runner: DomainRunner, invitee: str, at: str) -> str:
    payload = {
        "account_id": ACCOUNT,
        "inviter_user_id": "usr_3f9a",
        "invitee_user_id": invitee,
        "role": "member",
        "occurred_at": at,
    }
    return runner.send("user_invited", payload, received_at=_received(at))


def _get(runner: DomainRunner, path: str, **params: str) -> Any:
    client = read_client(saas.api_router(), runner.state, runner.packs)
    response = client.get(f"/api/v1/saas/accounts/{ACCOUNT}/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


# --- billing meters -----------------------------------------------------------------------------------------


def test_usage_is_metered_once_per_business_id_and_only_for_metered_features() -> None:
    runner = _runner()
    # Given a month of usage: exports (one resent by the producer under a new key), metered AI summaries and
    # API calls, an unmetered feature, and invites (one colleague invited twice)
    _export(runner, "exp_1", 18_250, "2026-11-03T10:00:00Z")
    _export(runner, "exp_2", 400, "2026-11-12T16:30:00Z")
    _export(runner, "exp_1", 18_250, "2026-11-03T10:00:00Z")
    _use(runner, "ai_summary", "2026-11-05T09:00:00Z", units=3)
    _use(runner, "ai_summary", "2026-11-06T09:00:00Z", units=2, user="usr_81c2")
    _use(runner, "api_access", "2026-11-06T10:00:00Z", units=1_200)
    _use(runner, "report_builder", "2026-11-07T11:00:00Z", units=5)
    _invite(runner, "usr_81c2", "2026-11-02T09:00:00Z")
    _invite(runner, "usr_c7d0", "2026-11-02T09:05:00Z")
    _invite(runner, "usr_81c2", "2026-11-09T09:00:00Z")

    meters = _get(runner, "meters/2026-11")
    assert meters["meters"] == {
        "exports": 2,
        "export_rows": 18_650,
        "units_ai_summary": 5,
        "units_api_access": 1_200,
        "seats_invited": 2,
    }
    assert meters["late_events"] == 0
    profile = runner.state.get(account_pk(ACCOUNT), "PROFILE")
    assert profile is not None and (int(profile["seats_invited"]), int(profile["reinvites"])) == (2, 1)


def test_usage_arriving_after_its_month_closed_is_billed_in_the_month_it_arrived() -> None:
    runner = _runner(saas_billing_grace_days=3)
    # An October export whose event reaches Plutus on 5 November, after October closed on 4 November
    _export(runner, "exp_late", 100, "2026-10-30T12:00:00Z", received_at="2026-11-05T08:00:00.000000Z")
    _export(runner, "exp_grace", 50, "2026-10-31T12:00:00Z", received_at="2026-11-03T08:00:00.000000Z")

    november = _get(runner, "meters/2026-11")
    october = _get(runner, "meters/2026-10")
    assert (november["meters"]["export_rows"], november["late_events"]) == (100, 1)
    assert (october["meters"]["export_rows"], october["late_events"]) == (50, 0)


def test_billing_period_closes_after_the_grace_days() -> None:
    at = parse_iso("2026-12-31T23:59:00.000000Z")
    assert billing_period(at, "2027-01-03T23:59:59.000000Z", 3) == "2026-12"
    assert billing_period(at, "2027-01-04T00:00:01.000000Z", 3) == "2027-01"


# --- feature adoption ---------------------------------------------------------------------------------------


def test_feature_adoption_counts_uses_distinct_users_and_what_was_never_adopted() -> None:
    runner = _runner()
    for n, user in enumerate(["usr_a", "usr_b", "usr_c", "usr_a"]):
        _view(runner, f"2026-11-2{n}T09:00:00Z", user=user)
    _use(runner, "report_builder", "2026-10-01T09:00:00Z", user="usr_a")  # outside the 30-day window
    _use(runner, "report_builder", "2026-11-25T09:00:00Z", user="usr_a")
    _export(runner, "exp_1", 10, "2026-11-25T10:00:00Z")  # by usr_3f9a
    _use(runner, "beta_canvas", "2026-11-25T11:00:00Z", user="usr_b")  # not in the catalogue

    adoption = _get(runner, "features", as_of="2026-11-26T00:00:00Z")
    features = {f["feature"]: f for f in adoption["features"]}
    assert adoption["active_users"] == 4
    assert (features["dashboards"]["uses"], features["dashboards"]["users"]) == (4, 3)
    assert features["dashboards"]["user_share"] == 0.75
    assert (features["report_builder"]["uses"], features["report_builder"]["uses_in_window"]) == (2, 1)
    assert features["report_builder"]["first_used_at"] == "2026-10-01T09:00:00.000000Z"
    assert features["beta_canvas"]["in_catalogue"] is False
    assert adoption["catalogue_adoption"] == 3 / 8
    assert adoption["not_adopted"] == ["team_invites", "alerts", "api_access", "ai_summary", "sso"]


# --- health score -------------------------------------------------------------------------------------------


def _daily(runner: DomainRunner, first: date, last: date, per_day: int, features: list[str]) -> None:
    d, n = first, 0
    while d <= last:
        for k in range(per_day):
            _use(
                runner,
                features[n % len(features)],
                f"{d.isoformat()}T{9 + k:02d}:00:00Z",
                user=f"usr_{n % 5}",
            )
            n += 1
        d += timedelta(days=1)


def test_a_broad_growing_account_active_today_is_healthy() -> None:
    runner = _runner()
    features = ["dashboards", "exports", "report_builder", "alerts", "ai_summary", "api_access"]
    _daily(runner, date(2026, 10, 30), date(2026, 11, 12), 2, features)  # previous 14 days: 28 events
    _daily(runner, date(2026, 11, 13), date(2026, 11, 26), 3, features)  # last 14 days: 42 events

    health = _get(runner, "health", as_of="2026-11-26T18:00:00Z")
    assert (health["events_recent"], health["events_previous"]) == (42, 28)
    assert health["days_since_active"] == 0 and health["recency_score"] == 1.0
    assert health["breadth_score"] == 0.75  # 6 of the 8 catalogue features
    assert health["trend_ratio"] == pytest.approx(43 / 29, abs=1e-4)
    # 100 * (0.4 * 1 + 0.3 * 0.75 + 0.3 * 0.7414)
    assert (health["score"], health["band"], health["churn_risk"]) == (85, "healthy", "low")


def test_an_account_gone_quiet_after_narrow_use_is_a_high_churn_risk_and_decays_at_read_time() -> None:
    runner = _runner()
    _daily(runner, date(2026, 10, 20), date(2026, 11, 5), 5, ["dashboards", "exports"])

    at_the_time = _get(runner, "health", as_of="2026-11-05T20:00:00Z")
    later = _get(runner, "health", as_of="2026-11-26T12:00:00Z")

    assert at_the_time["days_since_active"] == 0
    assert later["days_since_active"] == 21 and later["recency_score"] == pytest.approx(0.3)
    assert later["features_in_window"] == ["dashboards", "exports"] and later["breadth_score"] == 0.25
    assert (later["events_recent"], later["events_previous"]) == (0, 35)
    # 100 * (0.4 * 0.3 + 0.3 * 0.25 + 0.3 * (1 / 36) / 2)
    assert (later["score"], later["band"], later["churn_risk"]) == (20, "critical", "high")
    assert at_the_time["score"] > later["score"]


def test_health_weights_and_bands_are_settings() -> None:
    runner = _runner(saas_weight_breadth=0, saas_weight_trend=0, saas_healthy_min_score=95)
    _view(runner, "2026-11-23T09:00:00Z")
    health = _get(runner, "health", as_of="2026-11-26T09:00:00Z")
    assert (health["score"], health["band"]) == (90, "at_risk")  # recency only: 1 - 3/30
    with pytest.raises(ValueError, match="must not exceed"):
        packs(saas_at_risk_min_score=80, saas_healthy_min_score=70)


def test_unknown_account_is_404_and_a_malformed_period_is_422() -> None:
    runner = _runner()
    client = read_client(saas.api_router(), runner.state, runner.packs)
    for path in ("health", "features", "meters/2026-11"):
        assert client.get(f"/api/v1/saas/accounts/acct_none/{path}").status_code == 404
    _view(runner, "2026-11-23T09:00:00Z")
    assert client.get(f"/api/v1/saas/accounts/{ACCOUNT}/meters/2026-13").status_code == 422
    assert (
        client.get(f"/api/v1/saas/accounts/{ACCOUNT}/meters/2026-11").status_code == 404
    )  # nothing billable
