"""Gaming event payloads (schema 1.0)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from plutus.core.registry import EventModel
from plutus.domains.kit import EventTime, Ident

# Real (USD) or virtual (GEMS) currencies.
GameCurrency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3,8}$")]


class PlayerLoginV1(EventModel):
    """A player signed in."""

    event_type = "player_login"
    schema_version = "1.0"
    ordering_key = "player_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "player_id": "p_ravenclaw77",
                    "platform": "pc",
                    "region": "eu-west",
                    "client_version": "4.12.1",
                    "occurred_at": "2026-11-26T19:02:11Z",
                }
            ]
        }
    )

    player_id: Ident
    platform: str = Field(min_length=1, max_length=32)
    region: str | None = Field(default=None, max_length=32)
    client_version: str | None = Field(default=None, max_length=32)
    occurred_at: EventTime | None = None


class MatchCompletedV1(EventModel):
    """One player's result in a finished match (one event per player)."""

    event_type = "match_completed"
    schema_version = "1.0"
    ordering_key = "player_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "match_id": "m_20261126_88121",
                    "player_id": "p_ravenclaw77",
                    "board": "ranked-season-7",
                    "mode": "battle_royale",
                    "score": 1840,
                    "result": "win",
                    "kills": 9,
                    "duration_seconds": 1260,
                    "occurred_at": "2026-11-26T19:24:40Z",
                }
            ]
        }
    )

    match_id: Ident
    player_id: Ident
    board: Ident = "global"
    mode: str | None = Field(default=None, max_length=64)
    score: int = Field(ge=0, le=10_000_000)
    result: Literal["win", "loss", "draw"]
    kills: int | None = Field(default=None, ge=0, le=1_000_000)
    duration_seconds: int = Field(gt=0, le=86_400)
    occurred_at: EventTime | None = None


class FriendRequestSentV1(EventModel):
    """A player sent another a friend request; the sender follows the recipient's activity from then on."""

    event_type = "friend_request_sent"
    schema_version = "1.0"
    ordering_key = "from_player_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from_player_id": "p_ravenclaw77",
                    "to_player_id": "p_nightowl",
                    "occurred_at": "2026-11-26T19:30:02Z",
                }
            ]
        }
    )

    from_player_id: Ident
    to_player_id: Ident
    occurred_at: EventTime | None = None

    @model_validator(mode="after")
    def _distinct_players(self) -> FriendRequestSentV1:
        if self.from_player_id == self.to_player_id:
            raise ValueError("a player cannot befriend themselves")
        return self


class InGamePurchaseV1(EventModel):
    """A player bought an item."""

    event_type = "in_game_purchase"
    schema_version = "1.0"
    ordering_key = "player_id"
    restricted = "money"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "purchase_id": "pur_5510c",
                    "player_id": "p_ravenclaw77",
                    "item_id": "skin_dragon_legendary",
                    "item_name": "Legendary Dragon Skin",
                    "price": 9.99,
                    "currency": "USD",
                    "occurred_at": "2026-11-26T19:41:18Z",
                }
            ]
        }
    )

    purchase_id: Ident
    player_id: Ident
    item_id: Ident
    item_name: str = Field(min_length=1, max_length=128)
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    currency: GameCurrency
    occurred_at: EventTime | None = None
