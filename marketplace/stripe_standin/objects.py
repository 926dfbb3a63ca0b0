"""Stripe's objects as the stand-in returns them: the keys and types of Stripe's published examples."""

from __future__ import annotations

import secrets
import string
from typing import Any

Object = dict[str, Any]

_ID_ALPHABET = string.ascii_letters + string.digits

# Stripe's test cards: a payment method id → what the card network answers.
TEST_CARDS: dict[str, tuple[str, str, str | None]] = {
    # id: (brand, last4, decline code or None when the card is accepted)
    "pm_card_visa": ("visa", "4242", None),
    "pm_card_mastercard": ("mastercard", "4444", None),
    "pm_card_chargeDeclined": ("visa", "0002", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds"),
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ID_ALPHABET) for _ in range(24))}"


def _address() -> Object:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def list_of(data: list[Object], url: str, *, has_more: bool = False) -> Object:
    return {"data": data, "has_more": has_more, "object": "list", "url": url}


def payment_intent(
    *, amount: int, currency: str, metadata: dict[str, str], transfer_group: str | None,
    description: str | None, payment_method_types: list[str], created: int,
) -> Object:  # fmt: skip
    intent_id = new_id("pi")
    return {
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": None,
        "description": description,
        "id": intent_id,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "object": "payment_intent",
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": payment_method_types,
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": transfer_group,
        "source": None,
        "excluded_payment_method_types": None,
        "customer_account": None,
        "managed_payments": None,
    }


def _card_details(brand: str, last4: str, *, amount: int) -> Object:
    return {
        "amount_authorized": amount,
        "brand": brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
        "country": "US",
        "exp_month": 12,
        "exp_year": 2034,
        "extended_authorization": {"status": "disabled"},
        "fingerprint": secrets.token_hex(8),
        "funding": "credit",
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": last4,
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": brand,
        "network_token": {"used": False},
        "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
        "three_d_secure": None,
        "wallet": None,
        "authorization_code": None,
        "regulated_status": "unregulated",
        "network_transaction_id": secrets.token_hex(8),
        "transaction_link_id": None,
    }


def charge(
    intent: Object, *, payment_method: str, decline_code: str | None, balance_transaction: str | None,
    created: int,
) -> Object:  # fmt: skip
    brand, last4, _ = TEST_CARDS[payment_method]
    charge_id = new_id("ch")
    succeeded = decline_code is None
    return {
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if succeeded else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": balance_transaction,
        "billing_details": {
            "address": _address(),
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "CUE MARKETPLACE",
        "captured": succeeded,
        "created": created,
        "currency": intent["currency"],
        "customer": None,
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if succeeded else "card_declined",
        "failure_message": None if succeeded else "Your card was declined.",
        "fraud_details": {},
        "id": charge_id,
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "object": "charge",
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None if succeeded else "try_again_later",
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": decline_code,
            "seller_message": "Payment complete."
            if succeeded
            else "The bank did not return any further details.",
            "type": "authorized" if succeeded else "issuer_declined",
        },
        "paid": succeeded,
        "payment_intent": intent["id"],
        "payment_method": payment_method,
        "payment_method_details": {
            "card": _card_details(brand, last4, amount=intent["amount"]),
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": list_of([], f"/v1/charges/{charge_id}/refunds"),
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "failed",
        "transfer_data": None,
        "transfer_group": intent["transfer_group"],
        "source": None,
    }


def card_error(intent: Object, failed_charge: Object, decline_code: str) -> Object:
    """The body Stripe answers (HTTP 402) when a card is declined, and the intent's last_payment_error."""
    return {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": decline_code,
        "message": "Your card was declined.",
        "charge": failed_charge["id"],
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
        "payment_intent": intent,
    }


def balance_transaction(
    *, amount: int, currency: str, source: str, kind: str, created: int, available_on: int, description: str | None,
) -> Object:  # fmt: skip
    return {
        "amount": amount,
        "available_on": available_on,
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": 0,
        "fee_details": [],
        "id": new_id("txn"),
        "net": amount,
        "object": "balance_transaction",
        "reporting_category": kind,
        "source": source,
        "status": "available" if available_on <= created else "pending",
        "type": kind,
        "balance_type": "payments",
    }


def refund(
    *, amount: int, charge_id: str, intent_id: str | None, currency: str, metadata: dict[str, str],
    reason: str | None, balance_transaction: str | None, created: int, refund_id: str,
) -> Object:  # fmt: skip
    return {
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge_id,
        "created": created,
        "currency": currency,
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "id": refund_id,
        "metadata": metadata,
        "object": "refund",
        "payment_intent": intent_id,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
        "customer": None,
        "customer_account": None,
        "payment_method": None,
    }


def transfer(
    *, amount: int, currency: str, destination: str, transfer_group: str | None, source_transaction: str | None,
    metadata: dict[str, str], description: str | None, balance_transaction: str, created: int, transfer_id: str,
) -> Object:  # fmt: skip
    return {
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": balance_transaction,
        "created": created,
        "currency": currency,
        "description": description,
        "destination": destination,
        "destination_payment": new_id("py"),
        "id": transfer_id,
        "livemode": False,
        "metadata": metadata,
        "object": "transfer",
        "reversals": list_of([], f"/v1/transfers/{transfer_id}/reversals"),
        "reversed": False,
        "source_transaction": source_transaction,
        "source_type": "card",
        "transfer_group": transfer_group,
    }


def transfer_reversal(
    *, amount: int, currency: str, transfer_id: str, metadata: dict[str, str], balance_transaction: str,
    created: int,
) -> Object:  # fmt: skip
    return {
        "amount": amount,
        "balance_transaction": balance_transaction,
        "created": created,
        "currency": currency,
        "destination_payment_refund": new_id("pyr"),
        "id": new_id("trr"),
        "metadata": metadata,
        "object": "transfer_reversal",
        "source_refund": None,
        "transfer": transfer_id,
    }


_ONBOARDING_DUE = ["business_profile.url", "external_account", "tos_acceptance.date", "tos_acceptance.ip"]


def _requirements(due: list[str]) -> Object:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": "requirements.past_due" if due else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def account(
    *, kind: str, country: str, email: str | None, metadata: dict[str, str], business_name: str | None, created: int,
) -> Object:  # fmt: skip
    account_id = new_id("acct")
    return {
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": None,
            "name": business_name,
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
            "minority_owned_business_designation": None,
        },
        "business_type": None,
        "capabilities": {"card_payments": "inactive", "transfers": "inactive"},
        "charges_enabled": False,
        "controller": {"type": "application" if kind == "express" else "account"},
        "country": country,
        "created": created,
        "default_currency": "eur" if country in {"DE", "FR", "NL", "IE", "ES", "IT"} else "usd",
        "details_submitted": False,
        "email": email,
        "external_accounts": list_of([], f"/v1/accounts/{account_id}/external_accounts"),
        "future_requirements": _requirements([]),
        "id": account_id,
        "metadata": metadata,
        "object": "account",
        "payouts_enabled": False,
        "requirements": _requirements(_ONBOARDING_DUE),
        "settings": {
            "bacs_debit_payments": {"display_name": None, "service_user_number": None},
            "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
            "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": False},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": business_name, "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
            "payments": {
                "statement_descriptor": None,
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
            "sepa_debit_payments": {},
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": kind,
    }


def onboarded(found: Object, *, now: int) -> Object:
    """The account after its holder completes onboarding: charges and payouts enabled."""
    return {
        **found,
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "details_submitted": True,
        "payouts_enabled": True,
        "requirements": _requirements([]),
        "tos_acceptance": {"date": now, "ip": "127.0.0.1", "user_agent": "stripe-standin"},
    }


def account_link(*, url: str, created: int, expires_at: int) -> Object:
    return {"created": created, "expires_at": expires_at, "object": "account_link", "url": url}


def webhook_endpoint(*, url: str, enabled_events: list[str], description: str | None, created: int) -> Object:
    return {
        "api_version": None,
        "application": None,
        "created": created,
        "description": description,
        "enabled_events": enabled_events,
        "id": new_id("we"),
        "livemode": False,
        "metadata": {},
        "object": "webhook_endpoint",
        "status": "enabled",
        "url": url,
    }


def event(
    *, kind: str, data_object: Object, request_id: str | None, idempotency_key: str | None, created: int
) -> Object:
    return {
        "api_version": None,
        "created": created,
        "data": {"object": data_object},
        "id": new_id("evt"),
        "livemode": False,
        "object": "event",
        "pending_webhooks": 0,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": kind,
    }
