"""Fintech event payloads (schema 1.0). Sensitive: never logged; cards are a token and the last 4 digits."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from plutus.core.registry import EventModel
from plutus.domains.kit import Currency, EventTime, Ident

Money = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]

IDENTITY_DOCUMENTS = frozenset({"passport", "national_id", "drivers_license"})
DocumentType = Literal["passport", "national_id", "drivers_license", "proof_of_address", "selfie"]


def document_category(document_type: str) -> str:
    """The KYC requirement a document satisfies: identity, address or liveness."""
    if document_type in IDENTITY_DOCUMENTS:
        return "identity"
    return "address" if document_type == "proof_of_address" else "liveness"


class TransactionInitiatedV1(EventModel):
    """Money in or out of an account (payroll, bill payment, cash deposit...)."""

    event_type = "transaction_initiated"
    schema_version = "1.0"
    ordering_key = "account_id"
    restricted = "money"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "transaction_id": "txn_8f2c1a",
                    "account_id": "acc_10045",
                    "direction": "credit",
                    "amount": 2500.00,
                    "currency": "KES",
                    "channel": "mobile_money",
                    "counterparty": "Acme Payroll Ltd",
                    "occurred_at": "2026-11-26T08:30:00Z",
                }
            ]
        }
    )

    transaction_id: Ident
    account_id: Ident
    direction: Literal["credit", "debit"]
    amount: Money
    currency: Currency
    channel: str | None = Field(default=None, max_length=32)
    counterparty: str | None = Field(default=None, max_length=128)
    occurred_at: EventTime | None = None


class CardSwipeV1(EventModel):
    """A card payment at a merchant (always a debit of the card's account)."""

    event_type = "card_swipe"
    schema_version = "1.0"
    ordering_key = "account_id"
    restricted = "money"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "swipe_id": "auth_55d0e3",
                    "account_id": "acc_10045",
                    "card_token": "tok_4f9a0c2e",
                    "card_last4": "4242",
                    "amount": 36.40,
                    "currency": "KES",
                    "merchant_name": "Java House Westlands",
                    "merchant_category_code": "5814",
                    "country": "KE",
                    "entry_mode": "contactless",
                    "occurred_at": "2026-11-26T12:14:09Z",
                }
            ]
        }
    )

    swipe_id: Ident
    account_id: Ident
    card_token: Ident
    card_last4: str = Field(pattern=r"^\d{4}$")
    amount: Money
    currency: Currency
    merchant_name: str = Field(min_length=1, max_length=128)
    merchant_category_code: str | None = Field(default=None, pattern=r"^\d{4}$")
    country: Country | None = None
    entry_mode: Literal["chip", "contactless", "magstripe", "online"] | None = None
    occurred_at: EventTime | None = None


class TransferRequestedV1(EventModel):
    """A transfer between two accounts: both legs post together or not at all."""

    event_type = "transfer_requested"
    schema_version = "1.0"
    ordering_key = "from_account_id"
    restricted = "money"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "transfer_id": "trf_20931",
                    "from_account_id": "acc_10045",
                    "to_account_id": "acc_20077",
                    "amount": 750.00,
                    "currency": "KES",
                    "reference": "Rent November",
                    "occurred_at": "2026-11-26T18:45:00Z",
                }
            ]
        }
    )

    transfer_id: Ident
    from_account_id: Ident
    to_account_id: Ident
    amount: Money
    currency: Currency
    reference: str | None = Field(default=None, max_length=140)
    occurred_at: EventTime | None = None

    @model_validator(mode="after")
    def _distinct_accounts(self) -> TransferRequestedV1:
        if self.from_account_id == self.to_account_id:
            raise ValueError("from_account_id and to_account_id must differ")
        return self


class KycDocumentUploadedV1(EventModel):
    """A KYC document was uploaded for an account (metadata only: never the document or its contents)."""

    event_type = "kyc_document_uploaded"
    schema_version = "1.0"
    ordering_key = "account_id"
    restricted = "identity"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": "acc_10045",
                    "document_id": "doc_7b1e44",
                    "document_type": "national_id",
                    "issuing_country": "KE",
                    "occurred_at": "2026-11-20T09:12:00Z",
                }
            ]
        }
    )

    account_id: Ident
    document_id: Ident
    document_type: DocumentType
    issuing_country: Country
    occurred_at: EventTime | None = None
