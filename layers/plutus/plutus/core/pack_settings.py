"""Each domain pack's own settings model, kept once per execution environment.

A pack declares an ``EnvSettings`` model (``FintechSettings``, environment ``PLUTUS_FINTECH_*``) on
its router; handlers read it typed with ``ctx.settings_of(FintechSettings)`` and read endpoints through
``plutus.domains.deps.settings_of``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from plutus.core.env_settings import EnvSettings

PackModel = TypeVar("PackModel", bound=EnvSettings)


class PackSettings:
    """The domain packs' settings models, each read from the environment and validated once, then kept.

    The composition root (:mod:`plutus.bootstrap`) loads one per execution environment, eagerly from the
    registry's packs, so a bad ``PLUTUS_<PACK>_*`` value fails at init, loudly. Tests build one from
    instances.
    """

    def __init__(self, *values: EnvSettings) -> None:
        self._values: dict[type[EnvSettings], EnvSettings] = {type(v): v for v in values}

    @classmethod
    def load(cls, models: Iterable[type[EnvSettings]]) -> PackSettings:
        """Read and validate every one of ``models`` from the environment now."""
        return cls(*(model() for model in models))

    def get(self, model: type[PackModel]) -> PackModel:
        """The instance of ``model`` (read from the environment on first use if it was not loaded)."""
        value = self._values.get(model)
        if not isinstance(value, model):
            value = self._values[model] = model()  # fields come from the environment
        return value
