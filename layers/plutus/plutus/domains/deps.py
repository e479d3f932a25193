"""What the packs' read endpoints depend on: the state reader, their settings and the read clock.

Packs never build clients: the composition root that creates the app puts a ``StateReader`` and the packs'
``PackSettings`` on it (:func:`install`), and these dependencies take them from the request's app. Tests
install fakes the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request

from plutus.core.effects import StateReader
from plutus.core.pack_settings import PackModel, PackSettings
from plutus.domains.kit import ReadTime, to_utc


def install(app: FastAPI, state: StateReader, packs: PackSettings) -> None:
    """Give ``app``'s read endpoints their state reader and pack settings."""
    app.state.state_reader = state
    app.state.pack_settings = packs


def state_reader(request: Request) -> StateReader:
    """The state table reader the app was built with."""
    reader: StateReader = request.app.state.state_reader
    return reader


def pack_settings(request: Request) -> PackSettings:
    """The packs' settings the app was built with."""
    packs: PackSettings = request.app.state.pack_settings
    return packs


def settings_of(model: type[PackModel]) -> Callable[[PackSettings], PackModel]:
    """A dependency on one pack's settings: ``Annotated[FintechSettings, Depends(settings_of(...))]``."""

    def dependency(packs: Annotated[PackSettings, Depends(pack_settings)]) -> PackModel:
        return packs.get(model)

    return dependency


# Between 1970 and 2999 with an offset (kit.ReadTime): any other value is a 422, never an overflow's 500.
AsOf = Annotated[ReadTime | None, Query(description="evaluate at this instant (default: now)")]


def read_clock(as_of: AsOf = None) -> datetime:
    """The instant a read endpoint judges at: the caller's ``as_of`` or, by default, now.

    Reads may use the clock (handlers never do): a deadline passed with no event since shows only here.
    """
    return to_utc(as_of) if as_of is not None else datetime.now(UTC)


State = Annotated[StateReader, Depends(state_reader)]
Now = Annotated[datetime, Depends(read_clock)]
