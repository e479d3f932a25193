"""The producer policy: which event types each source may send, and which sources each principal may write.

Configuration, not code: the template's ``ProducerPolicy`` parameter (``PLUTUS_PRODUCER_POLICY``), a JSON
document such as::

    {"sources": {"payment_service": ["payment_completed", "<untyped>"],
                 "core_banking": ["transaction_initiated", "transfer_requested", "kyc_document_uploaded"],
                 "*": ["page_view", "product_click"]},
     "principals": {"arn:aws:iam::123456789012:role/core-banking-producer": ["core_banking"]}}

Everything not granted is refused (deny by default):

- A source may send the types its own entry names, plus those the ``"*"`` entry grants every source.
- A pattern is a type name, a prefix ending in ``*`` (``iot_*``), ``*`` (any type) or ``<untyped>`` (events
  without an ``event_type``, which only get a receipt).
- A *restricted* type (its model declares ``restricted``: money-moving, identity, clinical) is granted only
  by its exact name in the entry of the source itself: a wildcard never grants it, and the ``"*"`` entry may
  not name it. Widening a pattern cannot silently let a source move money.
- IAM: a principal may write the sources its entry names (``"*"``: any source; the type rules still apply).
  An assumed-role session is its role: ``arn:aws:sts::1:assumed-role/R/session`` is ``arn:aws:iam::1:role/R``.

Pure: no AWS, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

ANY = "*"
UNTYPED = "<untyped>"

SourceName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
TypePattern = Annotated[str, StringConstraints(pattern=r"^(\*|<untyped>|[a-z][a-z0-9_.\-]{0,63}\*?)$")]
PrincipalArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[\x21-\x7e]+$")
]

_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/[^/]+$")
_ROLE = re.compile(r"^arn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:[^/]+/)*([^/]+)$")


def principal_key(arn: str) -> str:
    """The identity an ARN stands for: a role for its assumed-role sessions (paths dropped), else the ARN.

    API Gateway reports a role's caller as ``arn:aws:sts::<account>:assumed-role/<role>/<session>``, which
    names neither the role's path nor a stable session, so a policy names the role and both sides meet here.
    """
    match = _ASSUMED_ROLE.match(arn) or _ROLE.match(arn)
    if match is None:
        return arn
    partition, account, role = match.groups()
    return f"arn:{partition}:iam::{account}:role/{role}"


def _grants(pattern: str, event_type: str | None, restricted: bool) -> bool:
    if event_type is None:
        return pattern in (UNTYPED, ANY)
    if pattern == event_type:
        return True
    # Wildcards never grant a restricted type: it must be named.
    if restricted or not pattern.endswith(ANY):
        return False
    return event_type.startswith(pattern[:-1])


class ProducerPolicy(BaseModel):
    """Who may send what. See the module docstring for the rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: dict[SourceName, tuple[TypePattern, ...]] = {}
    principals: dict[PrincipalArn, tuple[SourceName, ...]] = {}

    def check_restricted(self, restricted: Mapping[str, str]) -> None:
        """Raise ``ValueError`` if the ``"*"`` entry names a restricted type (it would grant every source)."""
        named = sorted(set(self.sources.get(ANY, ())) & set(restricted))
        if named:
            raise ValueError(f"the '*' source entry may not grant restricted types: {', '.join(named)}")

    def unknown_types(self, known: Collection[str]) -> list[str]:
        """Patterns that can match none of the ``known`` types: a typo here silently denies, so say so."""
        patterns = {p for types in self.sources.values() for p in types} - {ANY, UNTYPED}
        return sorted(
            p
            for p in patterns
            if not any(t == p or (p.endswith(ANY) and t.startswith(p[:-1])) for t in known)
        )

    def may_send(self, source: str, event_type: str | None, restricted: Mapping[str, str]) -> bool:
        """Whether ``source`` may send events of ``event_type`` (``None``: untyped)."""
        is_restricted = event_type in restricted
        if any(_grants(p, event_type, is_restricted) for p in self.sources.get(source, ())):
            return True
        if is_restricted:
            return False
        return any(_grants(p, event_type, False) for p in self.sources.get(ANY, ()))

    def may_write(self, principal: str, source: str) -> bool:
        """Whether the IAM ``principal`` (a user ARN or an assumed-role session) may write ``source``."""
        wanted = principal_key(principal)
        for arn, sources in self.principals.items():
            if principal_key(arn) == wanted and (source in sources or ANY in sources):
                return True
        return False
