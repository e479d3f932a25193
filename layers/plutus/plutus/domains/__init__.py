"""Every domain pack, included in the registry with one line each."""

from __future__ import annotations

from functools import lru_cache

from plutus.domains import default
from plutus.registry import Registry


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The registry of this execution environment, built once."""
    registry = Registry(default_handler=default.handle_record_receipt)
    return registry
