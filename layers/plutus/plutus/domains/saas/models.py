"""SaaS product-usage event payloads. Users are pseudonymous ids: no e-mail addresses or names."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from plutus.core.registry import EventModel
from plutus.domains.kit import AwareEventTime, Ident

# A feature name becomes an attribute name (``f_<feature>``) and a sort key: lowercase snake case only.
FeatureName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


# --8<-- [start:feature_used]
class FeatureUsedV1(EventModel):
    """A user used a product feature; ``units`` is what a metered feature bills (API calls, summaries)."""

    event_type = "feature_used"
    schema_version = "1.0"
    ordering_key = "account_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": "acct_northwind",
                    "user_id": "usr_3f9a",
                    "feature": "ai_summary",
                    "units": 3,
                    "occurred_at": "2026-11-26T14:22:05Z",
                }
            ]
        }
    )

    account_id: Ident
    user_id: Ident
    feature: FeatureName
    units: int = Field(default=1, ge=1, le=1_000_000)
    occurred_at: AwareEventTime


# --8<-- [end:feature_used]
class UserInvitedV1(EventModel):
    """A member invited a colleague to the account (a seat, billed once per invitee)."""

    event_type = "user_invited"
    schema_version = "1.0"
    ordering_key = "account_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": "acct_northwind",
                    "inviter_user_id": "usr_3f9a",
                    "invitee_user_id": "usr_81c2",
                    "role": "member",
                    "occurred_at": "2026-11-26T09:05:00Z",
                }
            ]
        }
    )

    account_id: Ident
    inviter_user_id: Ident
    invitee_user_id: Ident
    role: Literal["admin", "member", "viewer"]
    occurred_at: AwareEventTime


class DashboardViewedV1(EventModel):
    """A user opened a dashboard."""

    event_type = "dashboard_viewed"
    schema_version = "1.0"
    ordering_key = "account_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": "acct_northwind",
                    "user_id": "usr_3f9a",
                    "dashboard_id": "dash_revenue_weekly",
                    "occurred_at": "2026-11-26T08:47:31Z",
                }
            ]
        }
    )

    account_id: Ident
    user_id: Ident
    dashboard_id: Ident
    occurred_at: AwareEventTime


class ExportTriggeredV1(EventModel):
    """A user exported data; exports and exported rows are billing meters."""

    event_type = "export_triggered"
    schema_version = "1.0"
    ordering_key = "account_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": "acct_northwind",
                    "user_id": "usr_3f9a",
                    "export_id": "exp_20261126_0042",
                    "format": "xlsx",
                    "rows": 18_250,
                    "occurred_at": "2026-11-26T15:10:12Z",
                }
            ]
        }
    )

    account_id: Ident
    user_id: Ident
    export_id: Ident
    format: Literal["csv", "xlsx", "pdf", "parquet"]
    rows: int = Field(ge=0, le=100_000_000)
    occurred_at: AwareEventTime
