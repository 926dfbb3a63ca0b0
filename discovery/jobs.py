"""arq jobs for discovery: analyse an uploaded track, render and analyse a demo track, retrying; librosa is
warmed up once per worker. They run on the analysis queue (`service.ANALYSIS_QUEUE`). The hourly
measurement of the search graph's recall waits on the database, not a core: the general worker runs it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from arq import Retry, cron, func

from discovery import analysis, demo, service

log = logging.getLogger("discovery.jobs")

ANALYSIS_TIMEOUT_SECONDS = 300  # a ten-minute track analyses in well under a minute


async def startup(ctx: dict[str, Any]) -> None:
    """Pay numba's compilation of librosa's kernels once per worker, in the background.

    A worker also closes rounds on their deadlines: those must not wait seconds for the compiler.
    Analysis workers run one per core, so each keeps its numeric libraries to one thread.
    """
    analysis.use_one_core()
    ctx["librosa_warm_up"] = asyncio.create_task(asyncio.to_thread(analysis.warm_up))


async def analyse_track(ctx: dict[str, Any], track_id: str) -> str:
    """Analyse one track; a failure is kept on the track, retried, and the last one marks it failed."""
    await ctx["librosa_warm_up"]  # the first track waits for the compilation rather than paying it again
    final = ctx["job_try"] >= service.MAX_ATTEMPTS
    try:
        state = await service.analyse(
            ctx["pool"].acquire,
            ctx["data_dir"],
            UUID(track_id),
            publish=ctx["redis"].publish,
            final_attempt=final,
        )
    except analysis.AudioDecodeError:
        log.warning("track audio cannot be decoded", extra={"track_id": track_id})
        return "failed"
    except Exception as error:
        if final:
            raise
        log.warning("analysis failed; retrying", exc_info=True, extra={"track_id": track_id})
        raise Retry(defer=2 * ctx["job_try"]) from error
    return state.status.value if state else "no audio"


async def add_demo_audio(
    ctx: dict[str, Any], track_id: str, index: int, owned_by: list[str], size: int
) -> str:
    """Render and analyse one demo track; the last one to finish refreshes the demo's tag suggestions.

    The first track renders while librosa warms up: rendering needs no numba.
    """
    if await demo.attach_audio(ctx["pool"], ctx["data_dir"], UUID(track_id), index):
        await analyse_track(ctx, track_id)
    owners = [UUID(o) for o in owned_by]
    async with ctx["pool"].acquire() as conn:
        progress = await demo.progress(conn, owners, size=size)
        if progress.finished:
            await demo.refresh_suggestions(conn, owners, size=size)
    return progress.describe()


async def calibrate_search_graph(ctx: dict[str, Any]) -> str:
    """Measure the search graph's recall on the catalogue when it is due (service.calibrate_graph)."""
    async with ctx["pool"].acquire() as conn:
        calibration = await service.calibrate_graph(conn, datetime.now(UTC))
    if calibration is None:
        return "not due"
    log.info(
        "search graph calibrated",
        extra={
            "rows": calibration.rows,
            "recall": {m.ef_search: round(m.recall, 4) for m in calibration.recalls},
        },
    )
    return f"{calibration.queries} queries over {calibration.rows} tracks"


cron_jobs = [cron(calibrate_search_graph, minute={41}, run_at_startup=True, timeout=900, keep_result=0)]

functions = [
    func(
        analyse_track,
        name=service.ANALYSE_JOB,
        timeout=ANALYSIS_TIMEOUT_SECONDS,
        max_tries=service.MAX_ATTEMPTS,
    ),
    # No result kept: a later `make run` may queue a track again if its audio went missing.
    func(
        add_demo_audio,
        name=demo.ADD_AUDIO_JOB,
        timeout=ANALYSIS_TIMEOUT_SECONDS,
        max_tries=service.MAX_ATTEMPTS,
        keep_result=0,
    ),
]
