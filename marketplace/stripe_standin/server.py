"""The stand-in's HTTP surface: a plain ASGI app speaking Stripe's wire protocol, and its webhook sender."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import msgspec

from marketplace.stripe_standin import objects
from marketplace.stripe_standin.objects import TEST_CARDS, Object
from marketplace.stripe_standin.state import StandinState

log = logging.getLogger("marketplace.stripe_standin")

MAX_BODY_BYTES = 256 * 1024
MAX_DELIVERY_ATTEMPTS = 12
ONBOARDING_LINK_SECONDS = 300


class StripeError(Exception):
    """Answered as Stripe answers errors: `{"error": {"type", "message", "param", "code", …}}`."""

    def __init__(
        self, status: int, message: str, *, kind: str = "invalid_request_error", keeps_changes: bool = False,
        **fields: Any,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.keeps_changes = keeps_changes
        self.body: Object = {"error": {"type": kind, "message": message, **fields}}


def _missing(name: str) -> StripeError:
    return StripeError(400, f"Missing required param: {name}.", param=name, code="parameter_missing")


def _no_such(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


class Request(msgspec.Struct, frozen=True):
    method: str
    path_args: tuple[str, ...]
    params: dict[str, Any]
    base_url: str
    idempotency_key: str | None
    request_id: str


Handler = Callable[["StandinApp", Request], tuple[int, Object]]


def decode_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding: `metadata[deal]=x` nests, `items[0]=a` (or `items[]=a`) lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False):
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        if not parts:
            continue
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            name = str(len(node)) if part == "[]" else part
            if last:
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise StripeError(400, f"Invalid parameter: {key}", param=key)
                node = child
    return _lists(root)


def _lists(node: dict[str, Any]) -> dict[str, Any]:
    for name, value in node.items():
        if isinstance(value, dict):
            inner = _lists(value)
            numbered = bool(inner) and all(key.isdigit() for key in inner)
            node[name] = [inner[key] for key in sorted(inner, key=int)] if numbered else inner
    return node


def _only(params: dict[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed | {"expand"}:
            raise StripeError(400, f"Received unknown parameter: {name}", param=name)


def _integer(params: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise _missing(name)
        return None
    if not re.fullmatch(r"\d{1,12}", str(raw)) or int(raw) < 1:
        raise StripeError(
            400, f"Invalid positive integer: {name}", param=name, code="parameter_invalid_integer"
        )
    return int(raw)


def _text(params: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise _missing(name)
        return None
    if not isinstance(raw, str) or len(raw) > 5000:
        raise StripeError(400, f"Invalid string: {name}", param=name)
    return raw


def _currency(params: dict[str, Any]) -> str:
    currency = (_text(params, "currency", required=True) or "").lower()
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise StripeError(400, f"Invalid currency: {currency}.", param="currency")
    return currency


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    raw = params.get("metadata", {})
    if raw == "":
        return {}
    if not isinstance(raw, dict) or len(raw) > 50:
        raise StripeError(400, "Invalid metadata: at most 50 keys of text.", param="metadata")
    for key, value in raw.items():
        if len(key) > 40 or not isinstance(value, str) or len(value) > 500:
            raise StripeError(
                400,
                f"Invalid metadata[{key}]: keys up to 40 characters, values up to 500.",
                param=f"metadata[{key}]",
            )
    return dict(raw)


class StandinApp:
    """The ASGI application. Every handler runs without awaiting, so each request is atomic."""

    def __init__(
        self, state: StandinState, *, api_key: str, webhook_secret: str, funds_delay_seconds: int = 2 * 86400,
        retry_base_seconds: float = 1.0, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.state = state
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.funds_delay_seconds = funds_delay_seconds
        self.retry_base_seconds = retry_base_seconds
        self.clock = clock
        self._deliveries_wanted = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None

    def now(self) -> int:
        return int(self.clock())

    # ---- ASGI ----------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:  # fmt: skip
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await self._send(
                    send, 413, {"error": {"type": "invalid_request_error", "message": "Request too large."}}
                )
                return
            if not message.get("more_body"):
                break
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        status, payload, extra = self.handle(
            scope["method"], scope["path"], scope.get("query_string", b""), headers, body
        )
        await self._send(send, status, payload, extra)

    async def _send(self, send: Callable[[dict[str, Any]], Awaitable[None]], status: int, payload: Object | str,
                    extra: dict[str, str] | None = None) -> None:  # fmt: skip
        if isinstance(payload, str):
            body, content_type = payload.encode(), "text/html; charset=utf-8"
        else:
            body, content_type = json.dumps(payload).encode(), "application/json"
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        headers += [(name.encode(), value.encode()) for name, value in (extra or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Callable[[], Awaitable[dict[str, Any]]],
                        send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:  # fmt: skip
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start_sending()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop_sending()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ---- dispatch ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: bytes, headers: dict[str, str],
               body: bytes) -> tuple[int, Object | str, dict[str, str]]:  # fmt: skip
        request_id = objects.new_id("req")
        extra = {"request-id": request_id}
        try:
            onboarding = re.fullmatch(r"/connect/onboarding/([A-Za-z0-9_-]+)", path)
            if onboarding and method == "GET":
                location, page = self.complete_onboarding(onboarding.group(1))
                return 303, page, {**extra, "location": location}
            self._authenticate(headers)
            handler, path_args = self._route(method, path)
            params = decode_form(body if method == "POST" else query)
            request = Request(
                method=method, path_args=path_args, params=params, base_url=self._base_url(headers),
                idempotency_key=headers.get("idempotency-key") if method == "POST" else None, request_id=request_id,
            )  # fmt: skip
            if request.idempotency_key is None:
                status, payload = self._run(handler, request)
                return status, payload, extra
            return self._idempotent(handler, request, method, path, body, extra)
        except StripeError as error:
            return error.status, error.body, extra

    def _idempotent(self, handler: Handler, request: Request, method: str, path: str, body: bytes,
                    extra: dict[str, str]) -> tuple[int, Object | str, dict[str, str]]:  # fmt: skip
        """Same key and same parameters → the first answer again; same key, other parameters → refused."""
        assert request.idempotency_key is not None
        key = request.idempotency_key
        fingerprint = hashlib.sha256(
            json.dumps([method, path, sorted(parse_qsl(body.decode(), keep_blank_values=True))]).encode()
        ).hexdigest()
        remembered = self.state.remembered_response(key)
        if remembered is not None:
            if remembered[0] != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                    kind="idempotency_error",
                )
            return remembered[1], json.loads(remembered[2]), {**extra, "idempotent-replayed": "true"}
        status, payload = self._run(handler, request, remember_as=fingerprint)
        return status, payload, {**extra, "idempotency-key": key}

    def _run(
        self, handler: Handler, request: Request, *, remember_as: str | None = None
    ) -> tuple[int, Object]:
        """Run the handler in one change, remembering its answer under the request's key in the same change.

        As at Stripe, a request refused by validation before it acted is not remembered, so a corrected
        retry with the same key can still succeed; one that acted (a declined card) is.
        """
        try:
            with self.state.change():
                try:
                    status, payload = handler(self, request)
                    payload = self._expand(payload, request.params.get("expand", []))
                except StripeError as error:
                    if not error.keeps_changes:
                        raise
                    status, payload = error.status, error.body
                if remember_as is not None:
                    assert request.idempotency_key is not None
                    self.state.remember_response(
                        request.idempotency_key, remember_as, status, json.dumps(payload)
                    )
        except StripeError as error:
            return error.status, error.body
        return status, payload

    def _expand(self, payload: Object, fields: Any) -> Object:
        if not isinstance(fields, list):
            return payload
        expanded = dict(payload)
        for field in fields:
            value = expanded.get(field)
            if isinstance(value, str):
                expanded[field] = self.state.get(value) or value
        return expanded

    def _authenticate(self, headers: dict[str, str]) -> None:
        supplied = headers.get("authorization", "")
        scheme, _, key = supplied.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip(), self.api_key):
            hint = f"{key[:8]}****{key[-4:]}" if len(key) > 12 else "(none)"
            raise StripeError(401, f"Invalid API Key provided: {hint}")

    def _base_url(self, headers: dict[str, str]) -> str:
        return f"http://{headers.get('host', '127.0.0.1')}"

    def _route(self, method: str, path: str) -> tuple[Handler, tuple[str, ...]]:
        for route_method, pattern, handler in ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler, match.groups()
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    # ---- events and webhooks -------------------------------------------------------------------
    def emit(self, kind: str, data_object: Object, request: Request) -> Object:
        """Record the event and queue its delivery to every endpoint that wants it (inside the change)."""
        event = objects.event(
            kind=kind, data_object=data_object, request_id=request.request_id,
            idempotency_key=request.idempotency_key, created=self.now(),
        )  # fmt: skip
        self.state.put(event)
        for endpoint in self.state.all_of("webhook_endpoint"):
            wanted = endpoint["enabled_events"]
            if endpoint["status"] == "enabled" and ("*" in wanted or kind in wanted):
                self.state.schedule_delivery(event["id"], endpoint["id"], self.clock())
        self._deliveries_wanted.set()
        return event

    def signature_header(self, payload: str, timestamp: int) -> str:
        signed = hmac.new(self.webhook_secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
        return f"t={timestamp},v1={signed.hexdigest()}"

    def start_sending(self) -> None:
        self._sender = asyncio.create_task(self._send_webhooks())

    async def stop_sending(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)

    async def _send_webhooks(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                self._deliveries_wanted.clear()
                for event_id, endpoint_id, attempts in self.state.due_deliveries(self.clock()):
                    await self._deliver(http, event_id, endpoint_id, attempts)
                upcoming = self.state.next_delivery_at()
                wait = 5.0 if upcoming is None else min(5.0, max(0.0, upcoming - self.clock()))
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._deliveries_wanted.wait(), wait)

    async def _deliver(self, http: httpx.AsyncClient, event_id: str, endpoint_id: str, attempts: int) -> None:
        event, endpoint = self.state.get(event_id), self.state.get(endpoint_id)
        if event is None or endpoint is None:
            return
        event["pending_webhooks"] = self.state.pending_deliveries(event_id)
        payload = json.dumps(event, indent=2)
        headers = {"content-type": "application/json; charset=utf-8",
                   "stripe-signature": self.signature_header(payload, self.now())}  # fmt: skip
        try:
            response = await http.post(endpoint["url"], content=payload.encode(), headers=headers)
            delivered = 200 <= response.status_code < 300
        except httpx.HTTPError as error:
            log.info("webhook %s to %s failed: %s", event_id, endpoint["url"], error)
            delivered = False
        attempts += 1
        backoff = min(self.retry_base_seconds * 2 ** (attempts - 1), 3600.0)
        state = "delivered" if delivered else ("failed" if attempts >= MAX_DELIVERY_ATTEMPTS else "pending")
        with self.state.change():
            self.state.delivery_done(
                event_id, endpoint_id, state=state, attempts=attempts, retry_at=self.clock() + backoff
            )

    # ---- Connect onboarding (the page Stripe would host) ---------------------------------------
    def complete_onboarding(self, token: str) -> tuple[str, str]:
        link = self.state.onboarding_link(token)
        if link is None:
            raise StripeError(404, "This onboarding link is not known.")
        account_id, return_url, refresh_url, expires_at = link
        if expires_at < self.now():
            return refresh_url, "<p>This onboarding link has expired.</p>"
        found = self.state.get(account_id, "account")
        if found is None:
            raise _no_such("account", account_id)
        if not found["details_submitted"]:
            request = Request(method="GET", path_args=(), params={}, base_url="", idempotency_key=None,
                              request_id=objects.new_id("req"))  # fmt: skip
            with self.state.change():
                self.emit(
                    "account.updated", self.state.put(objects.onboarded(found, now=self.now())), request
                )
        return return_url, "<p>Onboarding complete.</p>"

    # ---- balance -------------------------------------------------------------------------------
    def available_balance(self, currency: str) -> int:
        now = self.now()
        return sum(
            txn["amount"]
            for txn in self.state.all_of("balance_transaction")
            if txn["currency"] == currency and txn["available_on"] <= now
        )

    def book(self, *, amount: int, currency: str, source: str, kind: str, available_on: int | None = None,
             description: str | None = None) -> str:  # fmt: skip
        now = self.now()
        txn = objects.balance_transaction(
            amount=amount, currency=currency, source=source, kind=kind, created=now,
            available_on=now if available_on is None else available_on, description=description,
        )  # fmt: skip
        self.state.put(txn)
        return str(txn["id"])


# ---- handlers ----------------------------------------------------------------------------------


def _intent(app: StandinApp, intent_id: str) -> Object:
    found = app.state.get(intent_id, "payment_intent")
    if found is None:
        raise _no_such("payment_intent", intent_id, "intent")
    return found


def create_payment_intent(app: StandinApp, request: Request) -> tuple[int, Object]:
    params = request.params
    _only(params, {"amount", "currency", "metadata", "transfer_group", "description", "payment_method_types",
                   "payment_method", "confirm", "automatic_payment_methods"})  # fmt: skip
    types = params.get("payment_method_types", ["card"])
    if types != ["card"]:
        raise StripeError(
            400, "The stand-in accepts only payment_method_types[]=card.", param="payment_method_types"
        )
    intent = objects.payment_intent(
        amount=_integer(params, "amount") or 0, currency=_currency(params), metadata=_metadata(params),
        transfer_group=_text(params, "transfer_group"), description=_text(params, "description"),
        payment_method_types=types, created=app.now(),
    )  # fmt: skip
    if isinstance(params.get("automatic_payment_methods"), dict):
        intent["automatic_payment_methods"] = {
            "enabled": params["automatic_payment_methods"].get("enabled") == "true"
        }
    app.state.put(intent)
    app.emit("payment_intent.created", intent, request)
    if params.get("confirm") == "true":
        return _confirm(app, request, intent, _text(params, "payment_method", required=True) or "")
    return 200, intent


def retrieve_payment_intent(app: StandinApp, request: Request) -> tuple[int, Object]:
    return 200, _intent(app, request.path_args[0])


def confirm_payment_intent(app: StandinApp, request: Request) -> tuple[int, Object]:
    _only(request.params, {"payment_method", "return_url"})
    intent = _intent(app, request.path_args[0])
    payment_method = _text(request.params, "payment_method") or intent["payment_method"]
    if payment_method is None:
        raise _missing("payment_method")
    return _confirm(app, request, intent, payment_method)


def _confirm(app: StandinApp, request: Request, intent: Object, payment_method: str) -> tuple[int, Object]:
    if intent["status"] not in {"requires_payment_method", "requires_confirmation"}:
        raise StripeError(
            400,
            f"You cannot confirm this PaymentIntent because it has a status of {intent['status']}.",
            code="payment_intent_unexpected_state", payment_intent=intent,
        )  # fmt: skip
    if payment_method not in TEST_CARDS:
        raise StripeError(400, f"No such PaymentMethod: '{payment_method}'", param="payment_method",
                          code="resource_missing")  # fmt: skip
    decline_code = TEST_CARDS[payment_method][2]
    now = app.now()
    txn = None
    charge = objects.charge(intent, payment_method=payment_method, decline_code=decline_code,
                            balance_transaction=None, created=now)  # fmt: skip
    if decline_code is None:
        txn = app.book(amount=intent["amount"], currency=intent["currency"], source=charge["id"], kind="charge",
                       available_on=now + app.funds_delay_seconds, description=intent["description"])  # fmt: skip
        charge["balance_transaction"] = txn
    app.state.put(charge)
    intent = {**intent, "payment_method": payment_method, "latest_charge": charge["id"]}
    if decline_code is None:
        intent.update(status="succeeded", amount_received=intent["amount"], last_payment_error=None)
        app.state.put(intent)
        app.emit("charge.succeeded", charge, request)
        app.emit("payment_intent.succeeded", intent, request)
        return 200, intent
    error = objects.card_error(intent, charge, decline_code)
    intent.update(
        status="requires_payment_method",
        last_payment_error={k: v for k, v in error.items() if k != "payment_intent"},
    )
    app.state.put(intent)
    app.emit("charge.failed", charge, request)
    app.emit("payment_intent.payment_failed", intent, request)
    raise StripeError(402, error["message"], kind="card_error", keeps_changes=True, code="card_declined", decline_code=decline_code,
                      charge=charge["id"], doc_url=error["doc_url"], payment_intent=intent)  # fmt: skip


def cancel_payment_intent(app: StandinApp, request: Request) -> tuple[int, Object]:
    _only(request.params, {"cancellation_reason"})
    intent = _intent(app, request.path_args[0])
    if intent["status"] in {"succeeded", "canceled"}:
        raise StripeError(400, f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}.",
                          code="payment_intent_unexpected_state")  # fmt: skip
    intent = {**intent, "status": "canceled", "canceled_at": app.now(),
              "cancellation_reason": _text(request.params, "cancellation_reason") or "requested_by_customer"}  # fmt: skip
    app.state.put(intent)
    app.emit("payment_intent.canceled", intent, request)
    return 200, intent


def retrieve_charge(app: StandinApp, request: Request) -> tuple[int, Object]:
    found = app.state.get(request.path_args[0], "charge")
    if found is None:
        raise _no_such("charge", request.path_args[0])
    return 200, found


def create_refund(app: StandinApp, request: Request) -> tuple[int, Object]:
    params = request.params
    _only(params, {"payment_intent", "charge", "amount", "reason", "metadata"})
    if params.get("payment_intent"):
        intent = _intent(app, str(params["payment_intent"]))
        charge_id = intent["latest_charge"]
        if intent["status"] != "succeeded" or charge_id is None:
            raise StripeError(400, "This PaymentIntent does not have a successful charge to refund.",
                              param="payment_intent", code="charge_not_refundable")  # fmt: skip
    else:
        charge_id = _text(params, "charge", required=True)
    charge = app.state.get(str(charge_id), "charge")
    if charge is None:
        raise _no_such("charge", str(charge_id), "charge")
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0:
        raise StripeError(
            400, f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = _integer(params, "amount", required=False) or remaining
    if amount > remaining:
        raise StripeError(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                          param="amount", code="amount_too_large")  # fmt: skip
    refund_id = objects.new_id("re")
    txn = app.book(amount=-amount, currency=charge["currency"], source=refund_id, kind="refund")
    refund = objects.refund(
        amount=amount, charge_id=charge["id"], intent_id=charge["payment_intent"], currency=charge["currency"],
        metadata=_metadata(params), reason=_text(params, "reason"), balance_transaction=txn, created=app.now(),
        refund_id=refund_id,
    )  # fmt: skip
    app.state.put(refund)
    refunded = charge["amount_refunded"] + amount
    charge = {**charge, "amount_refunded": refunded, "refunded": refunded == charge["amount_captured"],
              "refunds": {**charge["refunds"], "data": [refund, *charge["refunds"]["data"]]}}  # fmt: skip
    app.state.put(charge)
    app.emit("refund.created", refund, request)
    app.emit("charge.refunded", charge, request)
    return 200, refund


def retrieve_refund(app: StandinApp, request: Request) -> tuple[int, Object]:
    found = app.state.get(request.path_args[0], "refund")
    if found is None:
        raise _no_such("refund", request.path_args[0])
    return 200, found


def create_transfer(app: StandinApp, request: Request) -> tuple[int, Object]:
    params = request.params
    _only(params, {"amount", "currency", "destination", "transfer_group", "source_transaction", "metadata",
                   "description"})  # fmt: skip
    amount, currency = _integer(params, "amount") or 0, _currency(params)
    destination_id = _text(params, "destination", required=True) or ""
    destination = app.state.get(destination_id, "account")
    if destination is None:
        raise _no_such("destination", destination_id, "destination")
    if destination["capabilities"].get("transfers") != "active":
        raise StripeError(
            400, "Your destination account needs to have at least one of the following capabilities enabled: "
            "transfers, crypto_transfers, legacy_payments", param="destination", code="insufficient_capabilities_for_transfer",
        )  # fmt: skip
    source_id = _text(params, "source_transaction")
    available_on = None
    if source_id is not None:
        source = app.state.get(source_id, "charge")
        if source is None or source["status"] != "succeeded":
            raise StripeError(
                400, f"No such charge: '{source_id}'", param="source_transaction", code="resource_missing"
            )
        if source["currency"] != currency:
            raise StripeError(400, "The currency of source_transaction's balance transaction must match the transfer currency.",
                              param="currency")  # fmt: skip
        already = sum(
            t["amount"] for t in app.state.all_of("transfer") if t["source_transaction"] == source_id
        )
        if already + amount > source["amount"]:
            raise StripeError(400, f"Transfers using this transaction as a source must not exceed the source amount of {source['amount']}.",
                              param="amount")  # fmt: skip
        charge_txn = app.state.get(source["balance_transaction"])
        available_on = charge_txn["available_on"] if charge_txn else None
    elif app.available_balance(currency) < amount:
        raise StripeError(
            400, "You have insufficient available funds in your Stripe account. Try adding funds directly to your "
            "available balance by creating Charges using the 4000000000000077 test card. "
            "See: https://stripe.com/docs/testing#available-balance", code="balance_insufficient",
        )  # fmt: skip
    transfer_id = objects.new_id("tr")
    txn = app.book(
        amount=-amount, currency=currency, source=transfer_id, kind="transfer", available_on=available_on
    )
    transfer = objects.transfer(
        amount=amount, currency=currency, destination=destination_id, transfer_group=_text(params, "transfer_group"),
        source_transaction=source_id, metadata=_metadata(params), description=_text(params, "description"),
        balance_transaction=txn, created=app.now(), transfer_id=transfer_id,
    )  # fmt: skip
    app.state.put(transfer)
    app.emit("transfer.created", transfer, request)
    return 200, transfer


def _transfer(app: StandinApp, transfer_id: str) -> Object:
    found = app.state.get(transfer_id, "transfer")
    if found is None:
        raise _no_such("transfer", transfer_id)
    return found


def retrieve_transfer(app: StandinApp, request: Request) -> tuple[int, Object]:
    return 200, _transfer(app, request.path_args[0])


def create_transfer_reversal(app: StandinApp, request: Request) -> tuple[int, Object]:
    _only(request.params, {"amount", "metadata", "description", "refund_application_fee"})
    transfer = _transfer(app, request.path_args[0])
    remaining = transfer["amount"] - transfer["amount_reversed"]
    amount = _integer(request.params, "amount", required=False) or remaining
    if remaining <= 0 or amount > remaining:
        raise StripeError(
            400, f"Transfer {transfer['id']} has only {remaining} left to reverse.", param="amount"
        )
    txn = app.book(
        amount=amount, currency=transfer["currency"], source=transfer["id"], kind="transfer_reversal"
    )
    reversal = objects.transfer_reversal(amount=amount, currency=transfer["currency"], transfer_id=transfer["id"],
                                         metadata=_metadata(request.params), balance_transaction=txn, created=app.now())  # fmt: skip
    app.state.put(reversal)
    reversed_total = transfer["amount_reversed"] + amount
    transfer = {**transfer, "amount_reversed": reversed_total, "reversed": reversed_total == transfer["amount"],
                "reversals": {**transfer["reversals"], "data": [reversal, *transfer["reversals"]["data"]]}}  # fmt: skip
    app.state.put(transfer)
    app.emit("transfer.reversed", transfer, request)
    return 200, reversal


def list_transfer_reversals(app: StandinApp, request: Request) -> tuple[int, Object]:
    transfer = _transfer(app, request.path_args[0])
    return 200, transfer["reversals"]


def create_account(app: StandinApp, request: Request) -> tuple[int, Object]:
    params = request.params
    _only(
        params, {"type", "country", "email", "metadata", "business_profile", "capabilities", "business_type"}
    )
    kind = _text(params, "type") or "standard"
    if kind not in {"express", "standard", "custom"}:
        raise StripeError(
            400, f"Invalid type: must be one of express, standard or custom, got {kind}", param="type"
        )
    profile = params.get("business_profile", {})
    account = objects.account(
        kind=kind, country=(_text(params, "country") or "US").upper(), email=_text(params, "email"),
        metadata=_metadata(params), business_name=profile.get("name") if isinstance(profile, dict) else None,
        created=app.now(),
    )  # fmt: skip
    app.state.put(account)
    return 200, account


def retrieve_account(app: StandinApp, request: Request) -> tuple[int, Object]:
    found = app.state.get(request.path_args[0], "account")
    if found is None:
        raise _no_such("account", request.path_args[0], "account")
    return 200, found


def create_account_link(app: StandinApp, request: Request) -> tuple[int, Object]:
    params = request.params
    _only(params, {"account", "refresh_url", "return_url", "type", "collect"})
    account_id = _text(params, "account", required=True) or ""
    if app.state.get(account_id, "account") is None:
        raise _no_such("account", account_id, "account")
    if _text(params, "type", required=True) not in {"account_onboarding", "account_update"}:
        raise StripeError(400, "Invalid type: must be account_onboarding or account_update", param="type")
    return_url = _text(params, "return_url", required=True) or ""
    refresh_url = _text(params, "refresh_url", required=True) or ""
    token = secrets.token_urlsafe(24)
    now = app.now()
    app.state.add_onboarding_link(token, account_id, return_url, refresh_url, now + ONBOARDING_LINK_SECONDS)
    url = f"{request.base_url}/connect/onboarding/{token}"
    return 200, objects.account_link(url=url, created=now, expires_at=now + ONBOARDING_LINK_SECONDS)


def _limit(params: dict[str, Any]) -> int:
    limit = _integer(params, "limit", required=False) or 10
    if limit > 100:
        raise StripeError(400, "Invalid limit: must be at most 100", param="limit")
    return limit


def list_events(app: StandinApp, request: Request) -> tuple[int, Object]:
    params = request.params
    _only(params, {"limit", "starting_after", "type"})
    limit = _limit(params)
    after = _text(params, "starting_after")
    before_seq = app.state.seq_of(after) if after else None
    wanted = _text(params, "type")
    found: list[Object] = []
    for event in app.state.newest("event", limit=100_000, before_seq=before_seq):
        if wanted is None or event["type"] == wanted:
            found.append(event)
        if len(found) > limit:
            break
    events = [
        {**event, "pending_webhooks": app.state.pending_deliveries(event["id"])} for event in found[:limit]
    ]
    return 200, objects.list_of(events, "/v1/events", has_more=len(found) > limit)


def retrieve_event(app: StandinApp, request: Request) -> tuple[int, Object]:
    found = app.state.get(request.path_args[0], "event")
    if found is None:
        raise _no_such("event", request.path_args[0])
    return 200, {**found, "pending_webhooks": app.state.pending_deliveries(found["id"])}


def create_webhook_endpoint(app: StandinApp, request: Request) -> tuple[int, Object]:
    params = request.params
    _only(params, {"url", "enabled_events", "description", "api_version", "metadata"})
    url = _text(params, "url", required=True) or ""
    if not re.match(r"https?://", url):
        raise StripeError(400, "Invalid URL: must be http or https.", param="url", code="url_invalid")
    events = params.get("enabled_events")
    if not isinstance(events, list) or not events:
        raise _missing("enabled_events")
    endpoint = objects.webhook_endpoint(url=url, enabled_events=[str(e) for e in events],
                                        description=_text(params, "description"), created=app.now())  # fmt: skip
    app.state.put(endpoint)
    # Stripe shows the signing secret once, at creation; the stand-in signs every endpoint with its own.
    return 200, {**endpoint, "secret": app.webhook_secret}


def retrieve_webhook_endpoint(app: StandinApp, request: Request) -> tuple[int, Object]:
    found = app.state.get(request.path_args[0], "webhook_endpoint")
    if found is None:
        raise _no_such("webhook_endpoint", request.path_args[0])
    return 200, found


def list_webhook_endpoints(app: StandinApp, request: Request) -> tuple[int, Object]:
    endpoints = [e for e in app.state.all_of("webhook_endpoint") if e["status"] != "deleted"]
    return 200, objects.list_of(endpoints, "/v1/webhook_endpoints")


def delete_webhook_endpoint(app: StandinApp, request: Request) -> tuple[int, Object]:
    _, found = retrieve_webhook_endpoint(app, request)
    app.state.put({**found, "status": "deleted"})
    return 200, {"deleted": True, "id": found["id"], "object": "webhook_endpoint"}


def retrieve_balance_transaction(app: StandinApp, request: Request) -> tuple[int, Object]:
    found = app.state.get(request.path_args[0], "balance_transaction")
    if found is None:
        raise _no_such("balance_transaction", request.path_args[0])
    return 200, found


_ID = r"([A-Za-z0-9_]+)"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in [
        ("POST", r"/v1/payment_intents", create_payment_intent),
        ("GET", rf"/v1/payment_intents/{_ID}", retrieve_payment_intent),
        ("POST", rf"/v1/payment_intents/{_ID}/confirm", confirm_payment_intent),
        ("POST", rf"/v1/payment_intents/{_ID}/cancel", cancel_payment_intent),
        ("GET", rf"/v1/charges/{_ID}", retrieve_charge),
        ("POST", r"/v1/refunds", create_refund),
        ("GET", rf"/v1/refunds/{_ID}", retrieve_refund),
        ("POST", r"/v1/transfers", create_transfer),
        ("GET", rf"/v1/transfers/{_ID}", retrieve_transfer),
        ("POST", rf"/v1/transfers/{_ID}/reversals", create_transfer_reversal),
        ("GET", rf"/v1/transfers/{_ID}/reversals", list_transfer_reversals),
        ("POST", r"/v1/accounts", create_account),
        ("GET", rf"/v1/accounts/{_ID}", retrieve_account),
        ("POST", r"/v1/account_links", create_account_link),
        ("GET", r"/v1/events", list_events),
        ("GET", rf"/v1/events/{_ID}", retrieve_event),
        ("POST", r"/v1/webhook_endpoints", create_webhook_endpoint),
        ("GET", r"/v1/webhook_endpoints", list_webhook_endpoints),
        ("GET", rf"/v1/webhook_endpoints/{_ID}", retrieve_webhook_endpoint),
        ("DELETE", rf"/v1/webhook_endpoints/{_ID}", delete_webhook_endpoint),
        ("GET", rf"/v1/balance_transactions/{_ID}", retrieve_balance_transaction),
    ]
]
