"""What a pack's read endpoints depend on: a reader of the state table."""

from __future__ import annotations

from plutus.adapters.aws import client
from plutus.adapters.state_store import DynamoStateReader
from plutus.core.effects import StateReader
from plutus.settings import get_settings


def state_reader() -> StateReader:
    """FastAPI dependency: the state table of this environment (tests override it)."""
    return DynamoStateReader(client("dynamodb"), get_settings().state_table)
