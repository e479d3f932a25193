"""SaaS usage processors: daily activity, feature adoption, distinct users and exactly-once billing meters.

Every activity event counts towards the account's day (for recency, breadth and trend of the health score,
computed at read time) and towards a feature: ``feature_used`` names its feature; dashboards, exports and
invites are features too. Billing meters are atomic adds committed with the event's exactly-once marker. An
export id is bound to its first event (``kit.bind_business_id``): resent with the same format and rows (a
producer retrying under a new key) it is not billed again; with other rows or format it is a conflict,
never billed, and the event fails for an operator. An invitee is bound to the account alone: a re-invite,
whatever its role or inviter, is activity and never a second seat.

State keys (one partition per account for what is read; an account's reads are single queries):

- ``SAAS#ACCOUNT#<id>`` / ``DAY#<yyyy-mm-dd>``: ``events`` and ``f_<feature>`` counts of the day.
- ``SAAS#ACCOUNT#<id>`` / ``FEATURE#<feature>``: uses, distinct users, first use.
- ``SAAS#ACCOUNT#<id>#USER#<user>`` / ``USER``, ``FEATURE#<feature>``, ``INVITE`` and
  ``SAAS#ACCOUNT#<id>#EXPORT#<id>`` / ``EXPORT``: create-only markers that make distinct counts and billing
  idempotent on business ids. They are only ever read by key, so they live outside the account's partition:
  a busy account's partition takes its counters' writes, not a marker write per new user (``make capacity``).
- ``SAAS#ACCOUNT#<id>`` / ``PROFILE``: distinct active users, seats invited.
- ``SAAS#ACCOUNT#<id>`` / ``METER#<yyyy-mm>``: the billing period's meters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from plutus.core.effects import Effect, Update
from plutus.core.registry import EventContext, Router
from plutus.domains.kit import bind_business_id, day, event_time, iso, parse_iso
from plutus.domains.saas.models import DashboardViewedV1, ExportTriggeredV1, FeatureUsedV1, UserInvitedV1
from plutus.domains.saas.settings import SaasSettings

router = Router("saas", settings=SaasSettings)

# Activity that is not a named feature_used still counts as using a product area.
DASHBOARDS, EXPORTS, TEAM_INVITES = "dashboards", "exports", "team_invites"


def account_pk(account_id: str) -> str:
    """The partition of one account."""
    return f"SAAS#ACCOUNT#{account_id}"


def marker_pk(account_id: str, kind: str, key: str) -> str:
    """The partition of one user's (or export's) create-only markers, outside the account's hot partition."""
    return f"{account_pk(account_id)}#{kind}#{key}"


def billing_period(at: datetime, received_at: str, grace_days: int) -> str:
    """The month an event is billed in: its own, unless it arrived after that month's invoice closed.

    A month closes ``grace_days`` after it ends; usage arriving later is billed in the month it arrived (the
    closed invoice is never changed). Judged on the receipt time, so a replay bills the same month.
    """
    month_start = datetime(at.year, at.month, 1, tzinfo=UTC)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    received = parse_iso(received_at)
    billed = received if received > next_month + timedelta(days=grace_days) else at
    return billed.strftime("%Y-%m")


def _first_use(ctx: EventContext, pk: str, sk: str, kind: str, at: datetime) -> Update | None:
    """The marker of a first use (of a feature by a user, of the product by a user, of an invitee), bound to
    nothing but its key; ``None`` when it was seen before."""
    return bind_business_id(ctx, pk, sk, kind=kind, content={}, at=at)


def _activity(
    ctx: EventContext,
    account_id: str,
    user_id: str,
    feature: str,
    at: datetime,
    profile: dict[str, int] | None = None,
) -> Iterator[Update]:
    """The day's activity, the feature's uses and the distinct-user counts of one user's action.

    ``profile`` adds further counters to the account's profile (one item may be written once per event).
    """
    pk = account_pk(account_id)
    yield Update(pk, f"DAY#{day(at)}", add={"events": 1, f"f_{feature}": 1}, set_if_absent={"day": day(at)})
    user_pk = marker_pk(account_id, "USER", user_id)
    new_feature_user = _first_use(ctx, user_pk, f"FEATURE#{feature}", "feature user", at)
    feature_add = {"uses": 1, "users": 1} if new_feature_user else {"uses": 1}
    yield Update(
        pk,
        f"FEATURE#{feature}",
        add=feature_add,
        set_if_absent={"feature": feature, "first_used_at": iso(at)},
    )
    if new_feature_user is not None:
        yield new_feature_user
    new_user = _first_use(ctx, user_pk, "USER", "user", at)
    profile = dict(profile or {})
    if new_user is not None:
        yield new_user
        profile["active_users"] = 1
    if profile:
        yield Update(pk, "PROFILE", add=profile, set_if_absent={"account_id": account_id})


def _meter(ctx: EventContext, account_id: str, at: datetime, **add: int) -> Update:
    period = billing_period(at, ctx.received_at, ctx.settings_of(SaasSettings).billing_grace_days)
    late = {"late_events": 1} if period != at.strftime("%Y-%m") else {}
    return Update(
        account_pk(account_id), f"METER#{period}", add={**add, **late}, set_if_absent={"period": period}
    )


@router.on(FeatureUsedV1)
def handle_record_feature_use(event: FeatureUsedV1, ctx: EventContext) -> Iterable[Effect]:
    """Count the use for adoption and health; a metered feature's units go to the billing meter."""
    at = event_time(event.occurred_at, ctx)
    yield from _activity(ctx, event.account_id, event.user_id, event.feature, at)
    if event.feature in ctx.settings_of(SaasSettings).metered_features:
        yield _meter(ctx, event.account_id, at, **{f"units_{event.feature}": event.units})


@router.on(DashboardViewedV1)
def handle_record_dashboard_view(event: DashboardViewedV1, ctx: EventContext) -> Iterable[Effect]:
    """A dashboard view is activity on the dashboards feature."""
    yield from _activity(ctx, event.account_id, event.user_id, DASHBOARDS, event_time(event.occurred_at, ctx))


@router.on(ExportTriggeredV1)
def handle_bill_export(event: ExportTriggeredV1, ctx: EventContext) -> Iterable[Effect]:
    """Bill the export and its rows once per export id; count it as activity on exports."""
    at = event_time(event.occurred_at, ctx)
    marker = bind_business_id(
        ctx,
        marker_pk(event.account_id, "EXPORT", event.export_id),
        "EXPORT",
        kind="export_id",
        content={"format": event.format, "rows": event.rows},
        at=at,
    )
    if marker is None:
        return
    yield marker
    yield from _activity(ctx, event.account_id, event.user_id, EXPORTS, at)
    yield _meter(ctx, event.account_id, at, exports=1, export_rows=event.rows)


@router.on(UserInvitedV1)
def handle_bill_invite(event: UserInvitedV1, ctx: EventContext) -> Iterable[Effect]:
    """A first invite of a colleague is a seat (billed once per invitee); a re-invite is only activity."""
    at = event_time(event.occurred_at, ctx)
    invitee_pk = marker_pk(event.account_id, "USER", event.invitee_user_id)
    marker = _first_use(ctx, invitee_pk, "INVITE", "invitee", at)
    profile = {"seats_invited": 1} if marker else {"reinvites": 1}
    yield from _activity(ctx, event.account_id, event.inviter_user_id, TEAM_INVITES, at, profile)
    if marker is not None:
        yield marker
        yield _meter(ctx, event.account_id, at, seats_invited=1)
