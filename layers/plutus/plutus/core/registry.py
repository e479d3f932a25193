"""Event-type registry: domain packs register handlers on their own router; one registry includes them all."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from plutus.core.effects import Effect, StateReader
from plutus.core.env_settings import EnvSettings
from plutus.core.pack_settings import PackModel, PackSettings


class EventModel(BaseModel):
    """Base of every typed payload model. Subclasses set ``event_type`` and ``schema_version``."""

    # Validators are built on a model's first use, not at import: a cold start pays for the types it sees.
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[str]
    # Why only named sources may send this type ("money", "identity", "clinical"), or None. A producer policy
    # grants a restricted type by its exact name only, never by a wildcard (plutus.core.policy).
    restricted: ClassVar[str | None] = None
    # The payload field whose value orders this type's events on a FIFO queue (its MessageGroupId: the
    # account, the vehicle, the package), or None to order by source (plutus.core.ordering).
    ordering_key: ClassVar[str | None] = None


class HandlerSettings(Protocol):
    """The core settings a handler may read (``plutus.settings.Settings`` has them): none today. Table names,
    queues and producer secrets are not a handler's business; a pack's own knobs are in its settings model."""


@dataclass(frozen=True, slots=True)
class EventContext:
    """What a handler knows besides the payload. No boto3 here: state is read through ``state``.

    ``settings`` are the core's (as far as handlers need them); a pack reads its own, typed, with
    ``settings_of(FintechSettings)``.
    """

    event_id: str
    source: str
    event_type: str | None
    schema_version: str
    received_at: str
    state: StateReader
    settings: HandlerSettings
    packs: PackSettings = field(default_factory=PackSettings)

    def settings_of(self, model: type[PackModel]) -> PackModel:
        """A pack's settings (validated once per execution environment)."""
        return self.packs.get(model)


Handler = Callable[[Any, EventContext], Iterable[Effect] | None]
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Registration:
    """How one (event type, schema version) is parsed and handled."""

    event_type: str
    schema_version: str
    model: type[BaseModel]
    handlers: tuple[Handler, ...]
    upcast: Upcaster | None = None
    current_version: str | None = None


class DuplicateRegistrationError(Exception):
    """The same (event type, schema version) was registered twice."""


class Router:
    """A domain pack's own set of registrations, and the settings model its handlers and reads use."""

    def __init__(self, domain: str, settings: type[EnvSettings] | None = None) -> None:
        self.domain = domain
        self.settings = settings
        self._models: dict[tuple[str, str], type[EventModel]] = {}
        self._handlers: dict[tuple[str, str], list[Handler]] = {}
        self._upcasters: dict[tuple[str, str], tuple[Upcaster, type[EventModel]]] = {}

    def _key(self, model: type[EventModel]) -> tuple[str, str]:
        key = (model.event_type, model.schema_version)
        owner = self._models.setdefault(key, model)
        if owner is not model:
            raise DuplicateRegistrationError(f"{key} is already registered in {self.domain}")
        return key

    def on(self, model: type[EventModel]) -> Callable[[Handler], Handler]:
        """Register the decorated function as a handler of ``model``'s (type, version)."""

        def decorator(fn: Handler) -> Handler:
            self._handlers.setdefault(self._key(model), []).append(fn)
            return fn

        return decorator

    def upcaster(self, old: type[EventModel], new: type[EventModel]) -> Callable[[Upcaster], Upcaster]:
        """Register the decorated function as the upcast of ``old``'s payload to ``new``'s."""

        def decorator(fn: Upcaster) -> Upcaster:
            key = self._key(old)
            if key in self._upcasters:
                raise DuplicateRegistrationError(f"{key} already has an upcaster in {self.domain}")
            self._upcasters[key] = (fn, new)
            return fn

        return decorator

    def registrations(self) -> Iterable[Registration]:
        """Everything this router registered."""
        for key, model in self._models.items():
            if key in self._upcasters:
                fn, new = self._upcasters[key]
                yield Registration(key[0], key[1], model, (), upcast=fn, current_version=new.schema_version)
            else:
                yield Registration(key[0], key[1], model, tuple(self._handlers.get(key, ())))


class Registry:
    """All registrations, keyed by (event type, schema version). Refuses duplicates."""

    def __init__(self, default_handler: Handler) -> None:
        self.default_handler = default_handler
        self._entries: dict[tuple[str, str], Registration] = {}
        self.domains: dict[str, list[tuple[str, str]]] = {}
        self.settings_models: list[type[EnvSettings]] = []

    def include_router(self, router: Router) -> None:
        """Add every registration of ``router``; raises on a (type, version) already present."""
        for reg in router.registrations():
            key = (reg.event_type, reg.schema_version)
            if key in self._entries:
                raise DuplicateRegistrationError(f"{key} is registered twice ({router.domain})")
            self._entries[key] = reg
            self.domains.setdefault(router.domain, []).append(key)
        if router.settings is not None and router.settings not in self.settings_models:
            self.settings_models.append(router.settings)

    def lookup(self, event_type: str, schema_version: str) -> Registration | None:
        """The registration of (type, version), or ``None``."""
        return self._entries.get((event_type, schema_version))

    def knows_type(self, event_type: str) -> bool:
        """Whether any version of ``event_type`` is registered."""
        return any(t == event_type for t, _ in self._entries)

    def versions(self, event_type: str) -> list[str]:
        """The registered schema versions of ``event_type``."""
        return sorted(v for t, v in self._entries if t == event_type)

    @property
    def event_types(self) -> list[str]:
        """Every registered event type, sorted."""
        return sorted({t for t, _ in self._entries})

    def restricted_types(self) -> dict[str, str]:
        """Every restricted event type and why (its models' ``restricted``), for the producer policy."""
        return {
            reg.event_type: reason
            for reg in self._entries.values()
            if (reason := getattr(reg.model, "restricted", None))
        }

    def ordering_key(self, event_type: str, schema_version: str) -> str | None:
        """The payload field (type, version)'s events are ordered by, or ``None`` (unknown or undeclared)."""
        reg = self._entries.get((event_type, schema_version))
        return getattr(reg.model, "ordering_key", None) if reg is not None else None

    @property
    def registrations(self) -> list[Registration]:
        """Every registration."""
        return list(self._entries.values())

    def resolve(
        self,
        event_type: str,
        schema_version: str,
        payload: dict[str, Any],
        context: dict[str, Any] | None = None,
    ) -> tuple[Registration, BaseModel]:
        """Parse ``payload``, upcasting older versions until a version with handlers is reached.

        ``context`` is pydantic's validation context: the event-time window (``plutus.core.times``).
        Raises ``KeyError`` for an unregistered (type, version) and pydantic's ``ValidationError`` for an
        invalid payload.
        """
        reg = self._entries[(event_type, schema_version)]
        parsed = reg.model.model_validate(payload, context=context)
        seen = {schema_version}
        while reg.upcast is not None and reg.current_version is not None:
            payload = reg.upcast(parsed.model_dump(mode="json"))
            if reg.current_version in seen:
                raise RuntimeError(f"upcast cycle for {event_type}")
            seen.add(reg.current_version)
            reg = self._entries[(event_type, reg.current_version)]
            parsed = reg.model.model_validate(payload, context=context)
        return reg, parsed
