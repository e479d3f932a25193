"""Where a stack reads a source's webhook secrets, and the value ``plutus webhooks secret`` writes there.

The place is resolved as the stack's functions resolve it (``plutus.settings.Settings``' own fields, so the
pattern and defaults cannot drift): the target's (a CloudFormation stack's outputs and ``WebhookSources``
parameter, a running embedded stack's state file), else the functions' ``PLUTUS_WEBHOOK_*`` variables,
else the defaults. Every secret is checked with the code the stack loads it with
(:func:`plutus.core.webhook_secrets.load_secrets`) before anything is written: what the CLI stores, the stack
can use. Nothing here prints or logs a secret.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, TypeAdapter, ValidationError, create_model

from plutus.core.providers import ProviderKind, WebhookSourceName, WebhookSources
from plutus.core.webhook_secrets import LoadedSecrets, Rejected, load_secrets
from plutus.settings import Settings
from plutus_dev.cli.target import Target

# The Settings fields that say where secrets live, with their own types, patterns and defaults.
_PLACE_FIELDS = ("webhook_secret_store", "webhook_secret_prefix")
_FIELDS = {
    name: (Settings.model_fields[name].annotation, Settings.model_fields[name]) for name in _PLACE_FIELDS
}
_Place: type[BaseModel] = create_model("_Place", **_FIELDS)  # type: ignore[call-overload]
# Kinds whose secret the operator chooses (and the provider is told); the others are issued by the provider.
GENERATED_KINDS: frozenset[str] = frozenset({"github", "generic_hmac", "standard_webhooks"})
# The bytes of a generated secret: 32 (256 bits), twice the minimum, as `openssl rand -hex 32`.
GENERATED_BYTES = 32
NOT_FOUND = {"ResourceNotFoundException", "ParameterNotFound"}


class SecretCommandError(Exception):
    """What the operator must fix before anything is written (exit code 2)."""


@dataclass(frozen=True)
class SecretPlace:
    """One source's secret: its store, its name and the kind its secrets are checked as."""

    source: str
    kind: ProviderKind
    store: Literal["SECRETS_MANAGER", "SSM"]
    name: str
    # Whether the stack's WebhookSources lists the source (a producer's is not listed, and needs no entry).
    configured: bool

    @property
    def where(self) -> str:
        """``Secrets Manager secret /plutus/webhooks/stripe``."""
        store = "SSM SecureString" if self.store == "SSM" else "Secrets Manager secret"
        return f"{store} {self.name}"


def _setting(target: Target, env: Mapping[str, str], field: str) -> str | None:
    return getattr(target, field) or env.get(f"PLUTUS_{field.upper()}") or None


def resolve_place(
    target: Target, source: str, kind: ProviderKind | None, env: Mapping[str, str] = os.environ
) -> SecretPlace:
    """Where ``target``'s stack reads ``source``'s secrets, and their kind (``kind``: for a source the stack's
    WebhookSources does not list, such as a Standard Webhooks producer)."""
    try:
        TypeAdapter(WebhookSourceName).validate_python(source)
        given = {f: v for f in _PLACE_FIELDS if (v := _setting(target, env, f)) is not None}
        place: Any = _Place.model_validate(given)
        text = _setting(target, env, "webhook_sources") or ""
        sources = TypeAdapter(WebhookSources).validate_python(json.loads(text) if text.strip() else {})
    except (ValidationError, ValueError) as exc:
        raise SecretCommandError(f"cannot tell where the stack reads secrets: {exc}") from None
    configured = sources.get(source)
    if configured is not None and kind is not None and kind != configured.kind:
        raise SecretCommandError(
            f"{source} is a {configured.kind} source in the stack's WebhookSources, not {kind}: its "
            "secret is checked as that kind's"
        )
    found = configured.kind if configured is not None else kind
    if found is None:
        listed = ", ".join(sorted(sources)) or "none"
        raise SecretCommandError(
            f"{source} is not in the stack's WebhookSources (listed: {listed}). Configure it there first, or "
            "give its kind (a Standard Webhooks producer of /api/v1/ingest: --kind standard_webhooks)."
        )
    return SecretPlace(
        source,
        found,
        place.webhook_secret_store,
        place.webhook_secret_prefix + source,
        configured is not None,
    )


def generate(kind: ProviderKind) -> str:
    """A new random secret in the form ``kind`` uses (for the kinds whose secret the operator chooses)."""
    if kind not in GENERATED_KINDS:
        raise SecretCommandError(
            f"a {kind} secret is issued by the provider: copy it from its dashboard "
            "(--from-file, or the prompt)"
        )
    key = secrets.token_bytes(GENERATED_BYTES)
    return "whsec_" + base64.b64encode(key).decode() if kind == "standard_webhooks" else key.hex()


def checked(kind: ProviderKind, text: str) -> str:
    """``text`` as one secret of ``kind``, checked as the stack will check it; else
    :class:`SecretCommandError` naming the reason (never the text)."""
    loaded = load_secrets(kind, text)
    if loaded.rejected:
        reasons = _reasons(loaded.rejected)
        raise SecretCommandError(f"not a usable {kind} secret: {reasons}; nothing was stored")
    if len(loaded.texts) != 1:
        raise SecretCommandError(f"give exactly one secret (found {len(loaded.texts)}); nothing was stored")
    return loaded.texts[0]


def _reasons(rejected: tuple[Rejected, ...]) -> str:
    return ", ".join(f"entry {r.position}: {r.reason}" for r in rejected)


def read(target: Target, place: SecretPlace) -> str | bytes | None:
    """The stored value (``None``: nothing stored yet)."""
    try:
        if place.store == "SSM":
            found = target.client("ssm").get_parameter(Name=place.name, WithDecryption=True)
            return str(found["Parameter"]["Value"])
        value = target.client("secretsmanager").get_secret_value(SecretId=place.name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in NOT_FOUND:
            return None
        raise
    if "SecretString" in value:
        return str(value["SecretString"])
    return bytes(value["SecretBinary"])


def write(target: Target, place: SecretPlace, value: str, exists: bool) -> None:
    """Store ``value`` as the source's secrets (a new version of the secret, or the parameter overwritten)."""
    if place.store == "SSM":
        target.client("ssm").put_parameter(Name=place.name, Value=value, Type="SecureString", Overwrite=True)
    elif exists:
        target.client("secretsmanager").put_secret_value(SecretId=place.name, SecretString=value)
    else:
        target.client("secretsmanager").create_secret(Name=place.name, SecretString=value)


@dataclass(frozen=True)
class Change:
    """The value to store, and what became of the stored entries (for the operator; no secret)."""

    value: str
    kept: int
    dropped: tuple[Rejected, ...]
    replaced: int

    def describe(self, place: SecretPlace) -> str:
        """What the write did, in a sentence."""
        parts = [f"Stored {1 + self.kept} secret(s) for {place.source} ({place.kind}) in {place.where}"]
        if self.kept:
            parts.append("the new one first, the current one kept for the rotation")
        if self.replaced:
            parts.append(f"{self.replaced} previous secret(s) no longer stored")
        if self.dropped:
            parts.append(f"dropped unusable stored entries ({_reasons(self.dropped)})")
        return "; ".join(parts)


def put(kind: ProviderKind, secret: str, current: str | bytes | None, rotate: bool) -> Change:
    """The value after putting ``secret`` (checked): alone, or first with the current one kept (``rotate``).

    A rotation keeps one current secret: with two already stored, the older must go first (``remove-old``),
    or the value would grow with every roll and keep retired secrets verifying.
    """
    stored = load_secrets(kind, current)
    if not rotate:
        return Change(secret, 0, stored.rejected, len(stored.texts))
    if len(stored.texts) > 1:
        raise SecretCommandError(
            f"{len(stored.texts)} secrets are stored already (a rotation in progress): run `remove-old` once "
            "the provider signs with the newest only, then rotate again"
        )
    if secret in stored.texts:
        raise SecretCommandError("this secret is the one stored already; nothing was stored")
    return Change("\n".join((secret, *stored.texts)), len(stored.texts), stored.rejected, 0)


def remove_old(kind: ProviderKind, current: str | bytes | None) -> Change | None:
    """The value keeping only the newest (first) usable secret; ``None`` if there is nothing to remove."""
    stored: LoadedSecrets = load_secrets(kind, current)
    if not stored.texts:
        raise SecretCommandError("no usable secret is stored for this source; nothing to keep")
    if len(stored.texts) == 1 and not stored.rejected:
        return None
    return Change(stored.texts[0], 0, stored.rejected, len(stored.texts) - 1)
