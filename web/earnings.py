"""The rights holder's earnings: bars by month, track and territory, payouts and the Stripe account.

The numbers are contracts.service.earnings (the ledger's statement lines) and the account is
contracts.stripe_service.account_status, the same as the JSON API's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from arq import ArqRedis
from litestar import Request, get, post
from litestar.channels import ChannelsPlugin
from litestar.response import Redirect, Template

from contracts import service as contracts
from contracts import stripe_service
from contracts.payments import StripeGateway
from contracts.service import Earnings
from contracts.stripe_api import Announcer
from rights.identity import Principal
from rights.terms import Money

HOLDERS = {"roles": ["rights_holder"]}
GROUP_TITLES = {"month": "By month", "track": "By track", "territory": "By territory"}


def month_label(key: str) -> str:
    """ "2026-11" → "November 2026"."""
    return datetime.strptime(key, "%Y-%m").strftime("%B %Y")


@dataclass(frozen=True)
class Bar:
    label: str
    net: Money
    gross: Money
    deals: int
    width: int  # of 1,000: the largest net in its chart fills the row


def bars(rows: list[Earnings], *, monthly: bool = False) -> dict[str, list[Bar]]:
    """One chart per currency (amounts in different currencies are never added or compared)."""
    by_currency: dict[str, list[Earnings]] = defaultdict(list)
    for row in rows:
        by_currency[row.currency].append(row)
    charts = {}
    for currency, found in sorted(by_currency.items()):
        largest = max((row.net for row in found), default=0) or 1
        charts[currency] = [
            Bar(label=month_label(row.key) if monthly else row.label, net=Money(row.net, currency), gross=Money(row.gross, currency), deals=row.deals,
                width=max(row.net * 1000 // largest, 1 if row.net > 0 else 0))
            for row in found
        ]  # fmt: skip
    return charts


@get("/workspace/earnings", name="workspace-earnings", include_in_schema=False, opt=HOLDERS)
async def earnings_page(
    conn: asyncpg.Connection, pool: asyncpg.Pool, payments: StripeGateway, channels: ChannelsPlugin,
    jobs: ArqRedis, caller: Principal,
) -> Template:  # fmt: skip
    charts = {
        group: bars(await contracts.earnings(conn, caller, group), monthly=group == "month")
        for group in GROUP_TITLES
    }
    totals: defaultdict[str, int] = defaultdict(int)
    for bar in (b for chart in charts["month"].values() for b in chart):
        totals[bar.net.currency] += bar.net.amount
    account = await stripe_service.account_status(
        pool, payments, Announcer(channels, jobs), caller, now=datetime.now(UTC)
    )
    context: dict[str, Any] = {
        "charts": charts, "titles": GROUP_TITLES, "account": account, "here": "earnings", "track": None,
        "totals": [Money(amount, currency) for currency, amount in sorted(totals.items())],
    }  # fmt: skip
    return Template("workspace/earnings.html", context=context)


@post("/workspace/earnings/stripe", include_in_schema=False, opt=HOLDERS)
async def connect_stripe(
    request: Request[Any, Any, Any], pool: asyncpg.Pool, payments: StripeGateway, caller: Principal
) -> Redirect:
    """Connect (or finish connecting) the organisation's Stripe account, coming back to this page."""
    back = str(request.url_for("workspace-earnings"))
    onboarding = await stripe_service.connect_account(
        pool, payments, caller, return_url=back, refresh_url=back, now=datetime.now(UTC)
    )
    return Redirect(onboarding.url, status_code=303)


page_handlers = [earnings_page, connect_stripe]
