"""Every domain pack, included with one line each.

A pack is a package exposing ``router`` (its event registrations, and its settings model) and, optionally,
``api_router()``, which imports and returns its read endpoints (a FastAPI ``APIRouter`` under
``/api/v1/<domain>/``) only when called, so the ingest and consumer hot paths never load a web framework.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

import plutus.domains.adtech as adtech
import plutus.domains.ecommerce as ecommerce
import plutus.domains.fintech as fintech
import plutus.domains.gaming as gaming
import plutus.domains.healthcare as healthcare
import plutus.domains.iot as iot
import plutus.domains.logistics as logistics
import plutus.domains.saas as saas
from plutus.core.registry import Registry
from plutus.domains import default

# Type-only: the ingest hot path builds the registry and must not import FastAPI (see plutus.ingest.entry).
if TYPE_CHECKING:
    from fastapi import APIRouter

PACKS: tuple[ModuleType, ...] = (
    ecommerce,
    fintech,
    iot,
    gaming,
    healthcare,
    adtech,
    logistics,
    saas,
)


def build_registry() -> Registry:
    """A registry of every pack (the composition root builds it once per execution environment)."""
    registry = Registry(default_handler=default.handle_record_receipt)
    for pack in PACKS:
        registry.include_router(pack.router)
    return registry


def read_routers() -> list[APIRouter]:
    """The read endpoints of every pack that has them (this imports FastAPI)."""
    return [pack.api_router() for pack in PACKS if hasattr(pack, "api_router")]
