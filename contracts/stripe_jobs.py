"""arq jobs for Stripe payouts: one timer per paid deal at the end of its hold, and a sweep behind it.

Both are idempotent: a transfer is keyed per deal and payee, and a deal whose payees are all paid is
marked settled, so a timer that fires twice or a sweep that overlaps it moves no money twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from arq import cron, func

from contracts import stripe_service as service

log = logging.getLogger("contracts.stripe_jobs")


async def pay_out_deal(ctx: dict[str, Any], deal_id: str) -> dict[str, int]:
    report = await service.pay_out_deal(ctx["pool"], ctx["payments"], UUID(deal_id), now=datetime.now(UTC))
    if report.waiting_for_account:
        log.info("payees without a connected account wait in the ledger", extra={"deal": deal_id})
    return {"transferred": report.transferred, "waiting": report.waiting_for_account, "failed": report.failed}


async def sweep_payouts(ctx: dict[str, Any]) -> int:
    return await service.pay_out_due(ctx["pool"], ctx["payments"], now=datetime.now(UTC))


functions = [func(pay_out_deal, name=service.PAY_OUT_JOB, keep_result=0, timeout=120, max_tries=5)]
cron_jobs = [cron(sweep_payouts, minute=set(range(0, 60, 5)), run_at_startup=True, timeout=300)]
