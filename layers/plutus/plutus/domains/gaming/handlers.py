"""Gaming processors.

- Leaderboards, exactly once: the consumer's marker stops a redelivered event, and a marker per (player,
  match) binds the result to its first event (``kit.bind_business_id``): the same result sent again under
  another key scores nothing, another score, result, board or duration for that match is a conflict (nothing
  scores; the event fails for an operator). Purchases are bound by purchase id the same way. Each board
  keeps a per-player score item (the truth), a bounded top-N item rewritten under its version only when the
  player is on it or now beats its last entry (scores only grow, so the list stays exact), and a histogram
  of players per score bucket that gives any other player's rank within a bucket's range.
- Anti-cheat: a score rate no human reaches is flagged and (by default) withheld from the leaderboard; a win
  streak reaching the limit is flagged for review.
- Social feed: a friend request makes the sender follow the recipient; a player's matches (and, optionally,
  purchases) are fanned out to at most ``gaming_feed_fanout_cap`` followers' feeds, whose entries expire.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from plutus.core.effects import Effect, Put, Update
from plutus.core.registry import EventContext, Router
from plutus.domains.gaming.models import (
    FriendRequestSentV1,
    InGamePurchaseV1,
    MatchCompletedV1,
    PlayerLoginV1,
)
from plutus.domains.gaming.settings import GamingSettings
from plutus.domains.kit import as_int, bind_business_id, event_time, expires_at, iso, version_of

router = Router("gaming", settings=GamingSettings)

PROFILE = "PROFILE"
SOCIAL = "SOCIAL"
TOP = "TOP"
SCORE_PREFIX = "SCORE#"
MATCH_PREFIX = "MATCH#"
PURCHASE_PREFIX = "PURCHASE#"
SPEND_PREFIX = "SPEND#"
FLAG_PREFIX = "FLAG#"
FOLLOWER_PREFIX = "FOLLOWER#"
FOLLOWING_PREFIX = "FOLLOWING#"
BUCKET_PREFIX = "B#"


def player_pk(player_id: str) -> str:
    """Partition of one player: profile, scores per board, match markers, flags, social edges, spend."""
    return f"GAME#PLAYER#{player_id}"


def board_pk(board: str) -> str:
    """Partition of one leaderboard's top-N item."""
    return f"GAME#BOARD#{board}"


def histogram_pk(board: str) -> str:
    """Partition of one leaderboard's score histogram (apart from the top-N item, to spread the writes)."""
    return f"GAME#BOARD#{board}#HIST"


def feed_pk(player_id: str) -> str:
    """Partition of one player's feed."""
    return f"GAME#FEED#{player_id}"


def bucket_of(score: int, settings: GamingSettings) -> int:
    """The histogram bucket of a score; the last bucket holds every score beyond the range."""
    return int(min(score // settings.rank_bucket_width, settings.rank_buckets - 1))


def bucket_sk(bucket: int) -> str:
    """Zero-padded so buckets sort by score."""
    return f"{BUCKET_PREFIX}{bucket:06d}"


def bucket_bounds(bucket: int, settings: GamingSettings) -> dict[str, int | None]:
    """The score range [lo, hi) of a bucket (``hi`` None for the last), stored so reads need no settings."""
    width = settings.rank_bucket_width
    last = bucket == settings.rank_buckets - 1
    return {"lo": bucket * width, "hi": None if last else (bucket + 1) * width}


def ranked(entries: dict[str, int], size: int) -> list[tuple[str, int]]:
    """Highest score first; ties by player id, so the order is stable."""
    return sorted(entries.items(), key=lambda kv: (-kv[1], kv[0]))[:size]


def fan_out(actor: str, activity: dict[str, Any], at: datetime, ctx: EventContext) -> Iterator[Effect]:
    """One feed entry per follower of ``actor``, for at most ``gaming_feed_fanout_cap`` followers."""
    settings = ctx.settings_of(GamingSettings)
    followers = ctx.state.query(player_pk(actor), FOLLOWER_PREFIX, limit=settings.feed_fanout_cap)
    entry = {
        "actor": actor,
        "at": iso(at),
        "event_id": ctx.event_id,
        "expires_at": expires_at(at, settings.feed_ttl_seconds),
        **activity,
    }
    for follower in followers:
        yield Put(feed_pk(str(follower["follower_id"])), f"{iso(at)}#{ctx.event_id}", entry)


def _flag(player_id: str, at: datetime, kind: str, ctx: EventContext, **details: Any) -> Put:
    return Put(
        player_pk(player_id),
        f"{FLAG_PREFIX}{iso(at)}#{kind}#{ctx.event_id}",
        {"kind": kind, "player_id": player_id, "at": iso(at), "event_id": ctx.event_id, "details": details},
    )


@router.on(PlayerLoginV1)
def handle_record_login(event: PlayerLoginV1, ctx: EventContext) -> Iterator[Effect]:
    """Count logins and the daily login streak (consecutive days with a login)."""
    at = event_time(event.occurred_at, ctx)
    pk = player_pk(event.player_id)
    item = ctx.state.get(pk, PROFILE) or {}
    today = at.date()
    last_day = date.fromisoformat(str(item["last_login_day"])) if "last_login_day" in item else None
    streak = as_int(item.get("login_streak_days"))
    changes: dict[str, Any] = {"logins": as_int(item.get("logins")) + 1, "platform": event.platform}
    if last_day is None or today > last_day:
        changes["login_streak_days"] = streak + 1 if last_day == today - timedelta(days=1) else 1
        changes["last_login_day"] = today.isoformat()
        changes["last_login_at"] = iso(at)
    yield Update(pk, PROFILE, set=changes, expect_version=version_of(item or None))


@router.on(MatchCompletedV1)
def handle_record_match(event: MatchCompletedV1, ctx: EventContext) -> Iterator[Effect]:
    """Once per (player, match): anti-cheat, the player's record, the leaderboard, and the feed."""
    settings = ctx.settings_of(GamingSettings)
    at = event_time(event.occurred_at, ctx)
    pk = player_pk(event.player_id)
    result = {
        "board": event.board,
        "score": event.score,
        "result": event.result,
        "duration_seconds": event.duration_seconds,
    }
    marker = bind_business_id(
        ctx, pk, MATCH_PREFIX + event.match_id, kind="match_id", content=result, at=at, board=event.board
    )
    if marker is None:
        return
    yield marker

    profile = ctx.state.get(pk, PROFILE) or {}
    streak = as_int(profile.get("win_streak")) + 1 if event.result == "win" else 0
    rate = event.score / event.duration_seconds
    impossible = rate > settings.max_score_per_second
    if impossible:
        yield _flag(
            event.player_id,
            at,
            "impossible_score_rate",
            ctx,
            match_id=event.match_id,
            score=event.score,
            duration_seconds=event.duration_seconds,
        )
    if streak == settings.max_win_streak:
        yield _flag(event.player_id, at, "win_streak", ctx, match_id=event.match_id, streak=streak)
    yield Update(
        pk,
        PROFILE,
        set={
            "matches": as_int(profile.get("matches")) + 1,
            "wins": as_int(profile.get("wins")) + int(event.result == "win"),
            "win_streak": streak,
            "best_win_streak": max(streak, as_int(profile.get("best_win_streak"))),
        },
        expect_version=version_of(profile or None),
    )
    withheld = impossible and settings.withhold_flagged_scores
    if not withheld:
        yield from _score(event, ctx)
        yield from fan_out(
            event.player_id,
            {"type": "match", "board": event.board, "score": event.score, "result": event.result},
            at,
            ctx,
        )


def _score(event: MatchCompletedV1, ctx: EventContext) -> Iterator[Effect]:
    settings = ctx.settings_of(GamingSettings)
    pk, sk = player_pk(event.player_id), SCORE_PREFIX + event.board
    item = ctx.state.get(pk, sk)
    old = as_int(item["score"]) if item else None
    new = (old or 0) + event.score
    yield Update(
        pk,
        sk,
        set={
            "board": event.board,
            "player_id": event.player_id,
            "score": new,
            "matches": as_int((item or {}).get("matches")) + 1,
        },
        expect_version=version_of(item),
    )
    old_bucket, new_bucket = (None if old is None else bucket_of(old, settings)), bucket_of(new, settings)
    if old_bucket != new_bucket:
        if old_bucket is not None:
            yield Update(histogram_pk(event.board), bucket_sk(old_bucket), add={"players": -1})
        yield Update(
            histogram_pk(event.board),
            bucket_sk(new_bucket),
            add={"players": 1},
            set_if_absent=bucket_bounds(new_bucket, settings),
        )

    top = ctx.state.get(board_pk(event.board), TOP)
    entries = {str(e["player_id"]): as_int(e["score"]) for e in (top or {}).get("entries", [])}
    size = settings.leaderboard_size
    lowest = ranked(entries, size)[-1] if len(entries) >= size else None
    # Only a listed player or one who now beats the last entry rewrites the (contended) top-N item.
    if event.player_id in entries or lowest is None or (-new, event.player_id) < (-lowest[1], lowest[0]):
        entries[event.player_id] = new
        yield Update(
            board_pk(event.board),
            TOP,
            set={"entries": [{"player_id": p, "score": s} for p, s in ranked(entries, size)]},
            expect_version=version_of(top),
        )


@router.on(FriendRequestSentV1)
def handle_follow_on_friend_request(event: FriendRequestSentV1, ctx: EventContext) -> Iterator[Effect]:
    """The sender follows the recipient (once), and the recipient's feed shows the request."""
    at = event_time(event.occurred_at, ctx)
    sender, recipient = event.from_player_id, event.to_player_id
    # The edge is the pair's marker: a request between the same two players again changes nothing.
    follower = bind_business_id(
        ctx,
        player_pk(recipient),
        FOLLOWER_PREFIX + sender,
        kind="friend request",
        content={},
        at=at,
        follower_id=sender,
        since=iso(at),
    )
    if follower is None:
        return
    mutual = ctx.state.get(player_pk(sender), FOLLOWER_PREFIX + recipient) is not None
    yield follower
    edge = {"since": iso(at), "event_id": ctx.event_id}
    yield Put(player_pk(sender), FOLLOWING_PREFIX + recipient, {"player_id": recipient, **edge})
    yield Update(player_pk(recipient), SOCIAL, add={"followers": 1})
    yield Update(player_pk(sender), SOCIAL, add={"following": 1})
    yield Put(
        feed_pk(recipient),
        f"{iso(at)}#{ctx.event_id}",
        {
            "actor": sender,
            "type": "friend_request",
            "mutual": mutual,
            "at": iso(at),
            "event_id": ctx.event_id,
            "expires_at": expires_at(at, ctx.settings_of(GamingSettings).feed_ttl_seconds),
        },
    )


@router.on(InGamePurchaseV1)
def handle_record_purchase(event: InGamePurchaseV1, ctx: EventContext) -> Iterator[Effect]:
    """Spend per currency, once per purchase id; optionally shared with followers."""
    at = event_time(event.occurred_at, ctx)
    pk = player_pk(event.player_id)
    purchase = {"item_id": event.item_id, "price": event.price, "currency": event.currency}
    marker = bind_business_id(
        ctx,
        pk,
        PURCHASE_PREFIX + event.purchase_id,
        kind="purchase_id",
        content=purchase,
        at=at,
        item_id=event.item_id,
    )
    if marker is None:
        return
    yield marker
    yield Update(
        pk,
        SPEND_PREFIX + event.currency,
        add={"total": event.price, "purchases": 1},
        set_if_absent={"currency": event.currency},
    )
    if ctx.settings_of(GamingSettings).feed_share_purchases:
        yield from fan_out(
            event.player_id,
            {"type": "purchase", "item_id": event.item_id, "item_name": event.item_name},
            at,
            ctx,
        )
