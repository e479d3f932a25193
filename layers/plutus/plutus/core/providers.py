"""Provider webhook sources: which sources ``POST /api/v1/webhooks/{source}`` serves, and how each is signed.

Configuration, not code and not a secret: the template's ``WebhookSources`` parameter
(``PLUTUS_WEBHOOK_SOURCES``), a JSON document such as::

    {"stripe": {"kind": "stripe"},
     "shop": {"kind": "shopify"},
     "acme": {"kind": "generic_hmac", "header": "X-Acme-Signature", "encoding": "hex", "prefix": "sha256=",
              "id_header": "X-Acme-Delivery", "type_header": "X-Acme-Event"}}

The kind lives here, in the deployment, rather than next to the secret, on purpose:

- the kind chooses the verification algorithm (with or without a signed timestamp). Whoever may write a
  secret must not also be able to downgrade how it is checked; the template is reviewed and deployed, the
  secret store is not;
- a source that is not listed is refused (404) before any secret is fetched, so a flood of made-up source
  names costs no Secrets Manager call and learns nothing;
- the secret store keeps holding nothing but secrets (one or more per source, for rotation), as it does for
  Standard Webhooks producers.

Pure: no AWS, no I/O.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ProviderKind = Literal["stripe", "github", "shopify", "slack", "standard_webhooks", "generic_hmac"]

# The namespace a kind's event types get by default: a provider's ``payment_intent.succeeded`` is
# ``stripe.payment_intent.succeeded`` here, so it can never be taken for a first-party type.
DEFAULT_NAMESPACES: dict[str, str] = {
    "stripe": "stripe",
    "github": "github",
    "shopify": "shopify",
    "slack": "slack",
    "standard_webhooks": "webhook",
    "generic_hmac": "webhook",
}

# A source in the URL path names its secret (``<prefix><source>``): no "/" and no spaces.
WebhookSourceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,128}$")]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-]{1,64}$")]
Namespace = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{0,23}$")]


class ProviderSource(BaseModel):
    """How one source signs its requests, and where its delivery id and event type are.

    ``header``, ``encoding``, ``prefix``, ``algorithm``, ``id_header`` and ``type_header`` are for
    ``generic_hmac`` only (an HMAC of the raw body in one header); the named providers fix them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ProviderKind
    namespace: Namespace | None = None
    header: HeaderName | None = None
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = Field(default="", max_length=32)
    algorithm: Literal["sha256", "sha512"] = "sha256"
    id_header: HeaderName | None = None
    type_header: HeaderName | None = None

    @model_validator(mode="after")
    def _generic_needs_a_header(self) -> ProviderSource:
        generic = {"header", "id_header", "type_header"} & self.model_fields_set
        if self.kind == "generic_hmac" and self.header is None:
            raise ValueError("a generic_hmac source names its signature header")
        if self.kind != "generic_hmac" and generic:
            raise ValueError(f"{', '.join(sorted(generic))}: for generic_hmac sources only")
        return self

    @property
    def type_namespace(self) -> str:
        """The prefix of this source's event types (``stripe`` -> ``stripe.<type>``)."""
        return self.namespace or DEFAULT_NAMESPACES[self.kind]


WebhookSources = dict[WebhookSourceName, ProviderSource]
