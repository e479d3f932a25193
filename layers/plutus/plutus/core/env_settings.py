"""Settings models read from the environment: pydantic validation without a settings framework.

pydantic-settings did this before, and its import (its sources, ``pydantic.dataclasses``, ``asyncio``,
dotenv) cost about 100 ms of every cold start, more than the rest of the settings work together. What Plutus
used of it is small and kept here, with the same names and rules: a field ``events_table`` of a model whose
``env_prefix`` is ``PLUTUS_`` is read from ``PLUTUS_EVENTS_TABLE`` (any case), values given to the
constructor win over the environment, every value (defaults included) is validated, unknown fields are
refused, and a tuple, list, set or dict field is read as JSON (``PLUTUS_SAAS_FEATURE_CATALOGUE='["a","b"]'``)
unless it is marked ``NoDecode``.
An empty variable is a value (``""``), as before: validation decides whether it is allowed.
"""

from __future__ import annotations

import json
import os
import types
import typing
from typing import Any, Self

from pydantic import BaseModel, ConfigDict

# Field types whose environment value is JSON; everything else is handed to pydantic as the string it is.
_JSON_ORIGINS = (tuple, list, set, frozenset, dict)


class NoDecode:
    """``Annotated[T, NoDecode]``: the field's environment value reaches validation as the string it is, even
    for a collection type (its own validator parses it), as pydantic-settings' marker of the same name."""


class EnvConfig(ConfigDict, total=False):
    """pydantic's model config, plus where the model's environment variables start."""

    env_prefix: str


def _is_json(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_json(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return (origin or annotation) in _JSON_ORIGINS


def environment_values(
    model: type[BaseModel], environ: typing.Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The values of ``model``'s fields found in ``environ`` (default: the process environment)."""
    prefix = str(model.model_config.get("env_prefix", "")).lower()
    found = {k.lower(): v for k, v in (os.environ if environ is None else environ).items()}
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        raw = found.get(prefix + name.lower())
        if raw is None:
            continue
        if _is_json(field.annotation) and NoDecode not in field.metadata:
            try:
                values[name] = json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"{(prefix + name).upper()} must be JSON") from exc
        else:
            values[name] = raw
    return values


class EnvSettings(BaseModel):
    """A frozen, validated model whose fields default to the environment (``env_prefix`` + field name)."""

    model_config = EnvConfig(frozen=True, extra="forbid", validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**(environment_values(type(self)) | values))

    @classmethod
    def from_environment(cls) -> Self:
        """The model from the environment alone: a required field that is not set fails here, loudly."""
        return cls()
