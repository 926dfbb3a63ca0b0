"""The track rights page: ownership per side and territory as bars, and a clearance question."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from litestar import get
from litestar.params import Parameter
from litestar.response import Template

from rights import service
from rights.clearance import Clearance
from rights.identity import Principal
from rights.model import Right
from rights.terms import MAX_TERM_MONTHS, Media, TermsError, Usage
from rights.territories import TerritoryError, TerritoryScope


@get("/tracks/{track_id:uuid}/rights", include_in_schema=False)
async def track_rights_page(
    conn: asyncpg.Connection,
    caller: Principal,
    track_id: UUID,
    media: Media | None = None,
    territories: str = "WORLD",
    term_months: Annotated[int, Parameter(ge=1, le=MAX_TERM_MONTHS)] = 12,
    start: date | None = None,
    exclusive: bool = False,
) -> Template:
    today = datetime.now(UTC).date()
    track = await service.get_track(conn, track_id)
    picture = await service.ownership_picture(conn, track_id, on=today)
    answer: Clearance | None = None
    problem = None
    if media is not None:
        try:
            usage = Usage(media=media, territories=tuple(t for t in territories.replace(",", " ").split() if t),
                          term_months=term_months, exclusive=exclusive, start=start or today)  # fmt: skip
            TerritoryScope(include=usage.territories)
            answer = await service.clearance(conn, track_id, usage)
        except (TermsError, TerritoryError) as exc:
            problem = str(exc)
    sides = {right: [s for s in picture.slices if s.right is right] for right in Right}
    return Template(
        "rights/track.html",
        context={
            "track": track, "sides": sides, "problems": picture.problems, "today": today, "answer": answer,
            "problem": problem, "media_options": list(Media),
            "form": {"media": media, "territories": territories, "term_months": term_months,
                     "start": start or today, "exclusive": exclusive},
        },
    )  # fmt: skip


page_handlers = [track_rights_page]
