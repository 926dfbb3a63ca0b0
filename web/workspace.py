"""The rights holder's workspace: catalogue, owners and splits, licensing policy, opening a round.

Every form here goes through the same services as the JSON API (rights.service, auction.service), so the
ownership rule, the split checks and the usage holds are enforced once. A refused form is shown again
with the service's sentence and a 4xx status; another organisation's track answers 403 from the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

import asyncpg
import msgspec
from arq import ArqRedis
from litestar import Request, get, post
from litestar.channels import ChannelsPlugin
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from auction import service as auction
from auction.api import relay
from auction.live import NewRound
from rights import service as rights
from rights.clearance import Ownership
from rights.identity import Principal
from rights.model import ClaimStatus, LicensingPolicy, Mechanism, Party, Period, Right, Track
from rights.pooling import Connect
from rights.terms import MAX_TERM_MONTHS, Media, RateCard, TermsError, Usage
from rights.territories import TerritoryError, TerritoryScope
from web import forms

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
HOLDERS = {"roles": ["rights_holder"]}
SPLIT_ROWS = 5
CURRENCIES = ("EUR", "USD", "GBP")
ROUND_MECHANISMS = {"vickrey": "Vickrey (sealed, 2nd price)", "first_price": "Sealed, first price",
                    "clock": "Descending clock", "negotiation": "Negotiation"}  # fmt: skip
# What a form can get wrong: the services' refusals are ValueErrors that carry their status (409 for a
# split over 100 % or a usage already held), the rest are 400.
FORM_ERRORS = (ValueError, msgspec.ValidationError)


def _today() -> date:
    return datetime.now(UTC).date()


def _label(value: str) -> str:
    return value.replace("_", " ")


def media_label(media: Media) -> str:
    """ "tv_ads" → "TV ads", for the page's headings and options."""
    words = _label(media.value)
    return "TV " + words[3:] if words.startswith("tv ") else words.capitalize()


def _checked(data: dict[str, str], name: str) -> bool:
    return data.get(name, "") in ("on", "true", "1")


# My catalogue


@dataclass(frozen=True)
class CatalogueRow:
    track: Track
    isrc: str | None
    iswc: str | None
    problems: tuple[str, ...]


@get("/workspace", include_in_schema=False, opt=HOLDERS)
async def catalogue_page(conn: asyncpg.Connection, caller: Principal, done: str | None = None) -> Template:
    today = _today()
    rows = []
    for track in await rights.list_tracks(conn, owner_organisation_id=caller.organisation_id, limit=200):
        held = await rights.track_rights(conn, track.id)
        picture = await rights.ownership_picture(conn, track.id, on=today)
        rows.append(CatalogueRow(
            track=track, isrc=held.recording.isrc if held.recording else None,
            iswc=held.work.iswc if held.work else None,
            problems=tuple(problem.message for problem in picture.problems)
            or (() if picture.slices else ("Nobody is recorded as owning this track yet.",)),
        ))  # fmt: skip
    claims = await rights.disputed_claims(conn, caller, status=ClaimStatus.PENDING, limit=100)
    return Template(
        "workspace/catalogue.html",
        context={"rows": rows, "claims": claims, "done": done, "complete": sum(not r.problems for r in rows)},
    )


@post("/workspace/claims/{claim_id:uuid}/{decision:str}", include_in_schema=False, opt=HOLDERS)
async def decide_claim(
    conn: asyncpg.Connection, caller: Principal, claim_id: UUID, decision: str
) -> Redirect:
    if decision not in ("accept", "reject"):
        raise LookupError(f"a claim is accepted or rejected, not {decision!r}")
    await rights.decide_claim(conn, caller, claim_id, accept=decision == "accept", now=datetime.now(UTC))
    return Redirect(f"/workspace?done=claim-{decision}ed", status_code=303)


# Owners and splits


def _sides(picture: Ownership) -> dict[Right, list[Any]]:
    return {right: [s for s in picture.slices if s.right is right] for right in Right}


async def _track_context(
    conn: asyncpg.Connection, caller: Principal, track_id: UUID
) -> tuple[Track, list[Party], dict[str, Any]]:
    """The track (403 unless the caller controls it) and what every workspace page of it shows."""
    await rights.require_control(conn, caller, track_id=track_id)
    track = await rights.get_track(conn, track_id)
    parties = await rights.parties_of(conn, caller)
    picture = await rights.ownership_picture(conn, track_id, on=_today())
    recorded = {
        right.value: max((s.total_bp for s in slices), default=0) for right, slices in _sides(picture).items()
    }
    held = await rights.track_rights(conn, track_id)
    mine = {party.id for party in parties}
    shares = sorted(
        ((edge, held.party_name(edge.party_id)) for edge in held.control if edge.party_id in mine),
        key=lambda shown: (shown[0].right.value, -shown[0].share_bp, shown[1]),
    )
    return track, parties, {
        "track": track, "parties": parties, "sides": _sides(picture), "problems": picture.problems,
        "recorded": recorded, "shares": shares, "rights_options": list(Right), "rows": range(1, SPLIT_ROWS + 1),
    }  # fmt: skip


@get("/workspace/tracks/{track_id:uuid}", include_in_schema=False, opt=HOLDERS)
async def splits_page(
    conn: asyncpg.Connection, caller: Principal, track_id: UUID, done: str | None = None
) -> Template:
    _, _, context = await _track_context(conn, caller, track_id)
    return Template("workspace/splits.html", context={**context, "done": done, "error": None, "form": {}})


@dataclass(frozen=True)
class SplitEntry:
    right: Right
    territories: TerritoryScope
    period: Period
    shares: tuple[tuple[UUID, int], ...]


def read_split(data: dict[str, str]) -> SplitEntry:
    """The split form: one side, one territory scope, and up to SPLIT_ROWS party and percentage rows."""
    try:
        right = Right(data.get("right", ""))
    except ValueError:
        raise forms.FormError("Side: choose master or publishing") from None
    include = forms.territories("Territories", data.get("territories", "WORLD") or "WORLD")
    exclude_text = data.get("exclude", "").strip()
    exclude = forms.territories("Except", exclude_text) if exclude_text else ()
    start_text = data.get("start", "").strip()
    try:
        start = date.fromisoformat(start_text) if start_text else date(1900, 1, 1)
    except ValueError:
        raise forms.FormError(f"From: “{start_text}” is not a date (YYYY-MM-DD)") from None
    shares = []
    for row in range(1, SPLIT_ROWS + 1):
        party, share = data.get(f"party_{row}", "").strip(), data.get(f"share_{row}", "").strip()
        if not party and not share:
            continue
        if not party or not share:
            raise forms.FormError(f"Row {row}: choose a party and enter its share")
        try:
            party_id = UUID(party)
        except ValueError:
            raise forms.FormError(f"Row {row}: choose a party from the list") from None
        shares.append((party_id, forms.share_bp(f"Row {row} share", share)))
    if not shares:
        raise forms.FormError("Enter at least one party and its share")
    total = sum(bp for _, bp in shares)
    if total > 10_000:
        raise forms.FormError(f"The shares you entered add up to {total / 100:g} %, more than 100 %")
    return SplitEntry(right=right, territories=TerritoryScope(include=include, exclude=exclude),
                      period=Period(start=start), shares=tuple(shares))  # fmt: skip


@post("/workspace/tracks/{track_id:uuid}/shares", include_in_schema=False, opt=HOLDERS)
async def add_split(
    conn: asyncpg.Connection, caller: Principal, track_id: UUID, data: Form
) -> Template | Redirect:
    """All the rows are written in one transaction through rights.service.add_share, or none of them."""
    await rights.require_control(conn, caller, track_id=track_id)
    try:
        entry = read_split(data)
        async with conn.transaction():
            for party_id, bp in entry.shares:
                await rights.add_share(conn, caller, track_id, party_id=party_id, right=entry.right, share_bp=bp,
                                       territories=entry.territories, period=entry.period)  # fmt: skip
    except (*FORM_ERRORS, TerritoryError) as exc:
        _, _, context = await _track_context(conn, caller, track_id)
        return Template("workspace/splits.html", status_code=forms.refusal_status(exc),
                        context={**context, "done": None, "error": forms.sentence(exc), "form": data})  # fmt: skip
    return Redirect(f"/workspace/tracks/{track_id}?done=shares", status_code=303)


@post("/workspace/tracks/{track_id:uuid}/parties", include_in_schema=False, opt=HOLDERS)
async def add_party(
    conn: asyncpg.Connection, caller: Principal, track_id: UUID, data: Form
) -> Template | Redirect:
    await rights.require_control(conn, caller, track_id=track_id)
    try:
        name = data.get("name", "").strip()
        if not name:
            raise forms.FormError("Name: enter the party's name")
        await rights.create_party(conn, caller, name=name, ipi=data.get("ipi", "").strip() or None,
                                  isni=data.get("isni", "").strip() or None)  # fmt: skip
    except FORM_ERRORS as exc:
        _, _, context = await _track_context(conn, caller, track_id)
        return Template("workspace/splits.html", status_code=forms.refusal_status(exc),
                        context={**context, "done": None, "error": forms.sentence(exc), "form": data})  # fmt: skip
    return Redirect(f"/workspace/tracks/{track_id}?done=party", status_code=303)


@post("/workspace/shares/{share_id:uuid}/remove", include_in_schema=False, opt=HOLDERS)
async def remove_share(conn: asyncpg.Connection, caller: Principal, share_id: UUID, data: Form) -> Redirect:
    try:
        back = (
            f"/workspace/tracks/{UUID(data['track_id'])}?done=removed"
            if data.get("track_id")
            else "/workspace"
        )
    except ValueError:
        raise forms.FormError("track_id: not a track id") from None
    await rights.remove_share(conn, caller, share_id)
    return Redirect(back, status_code=303)


# Licensing policy


def read_policy(data: dict[str, str], *, track_id: UUID) -> LicensingPolicy:
    """The policy form: mechanisms per medium (a checkbox each), a rate card, a price range, automation."""
    try:
        party_id = UUID(data.get("party_id", ""))
    except ValueError:
        raise forms.FormError("Party: choose which of your parties the policy speaks for") from None
    currency = data.get("currency", "EUR")
    mechanisms = {
        media: tuple(m for m in Mechanism if _checked(data, f"mechanism_{media.value}_{m.value}"))
        for media in Media
    }
    base = forms.optional_money("List price", data.get("base", ""), currency)
    rate_card = None
    if base is not None:
        media_bp = {
            media: forms.whole_number(f"List price multiplier for {_label(media.value)}", text, low=1, high=10_000) * 100
            for media in Media if (text := data.get(f"multiplier_{media.value}", "").strip())
        }  # fmt: skip
        if not media_bp:
            raise forms.FormError(
                "List price: give at least one medium a multiplier (100 % = the list price)"
            )
        exclusivity = forms.whole_number("Exclusivity multiplier", data.get("exclusivity", "300") or "300",
                                         low=100, high=10_000)  # fmt: skip
        rate_card = RateCard(base=base, media_bp=media_bp, exclusivity_bp=exclusivity * 100)
    floor = forms.optional_money("Floor", data.get("floor", ""), currency)
    ceiling = forms.optional_money("Ceiling", data.get("ceiling", ""), currency)
    if floor is not None and ceiling is not None and ceiling < floor:
        raise forms.FormError(f"Ceiling: {ceiling.display()} is under the floor of {floor.display()}")
    return LicensingPolicy(
        id=uuid4(), party_id=party_id, track_id=track_id,
        mechanisms={media: chosen for media, chosen in mechanisms.items() if chosen}, rate_card=rate_card,
        floor=floor, ceiling=ceiling, auto_accept=forms.optional_money("Accept at once from", data.get("auto_accept", ""), currency),
        negotiation_window_hours=forms.whole_number("Hours to answer an offer", data.get("window_hours", "72") or "72", low=1, high=24 * 30),
        automated_media=frozenset(media for media in Media if _checked(data, f"automated_{media.value}")),
        dynamic_pricing=_checked(data, "dynamic_pricing"),
    )  # fmt: skip


def _policy_form(policy: LicensingPolicy | None) -> dict[str, str]:
    """The stored policy as the form's fields, so the page shows what is in force."""
    if policy is None:
        return {"window_hours": "72", "exclusivity": "300", "currency": "EUR"}
    fields: dict[str, str] = {
        "party_id": str(policy.party_id),
        "window_hours": str(policy.negotiation_window_hours),
    }
    for media, chosen in policy.mechanisms.items():
        fields.update({f"mechanism_{media.value}_{m.value}": "on" for m in chosen})
    fields.update({f"automated_{media.value}": "on" for media in policy.automated_media})
    if policy.dynamic_pricing:
        fields["dynamic_pricing"] = "on"
    fields["currency"] = policy.currency() or "EUR"
    for name, amount in (
        ("floor", policy.floor),
        ("ceiling", policy.ceiling),
        ("auto_accept", policy.auto_accept),
    ):
        if amount is not None:
            fields[name] = forms.plain_amount(amount)
    if policy.rate_card is not None:
        fields["base"] = forms.plain_amount(policy.rate_card.base)
        fields["exclusivity"] = f"{policy.rate_card.exclusivity_bp // 100}"
        fields.update(
            {f"multiplier_{m.value}": f"{bp // 100}" for m, bp in policy.rate_card.media_bp.items()}
        )
    return fields


async def _policy_context(
    conn: asyncpg.Connection, caller: Principal, track_id: UUID, party_id: UUID | None = None
) -> dict[str, Any]:
    """The policy in force for one of the caller's parties on the track (the first with one by default)."""
    _, parties, context = await _track_context(conn, caller, track_id)
    held = await rights.track_rights(conn, track_id)
    for_track = {p.party_id: p for p in held.policies if p.track_id == track_id}
    for_catalogue = {p.party_id: p for p in held.policies if p.track_id is None}
    policies = {**for_catalogue, **for_track}
    shown = party_id if any(p.id == party_id for p in parties) else None
    if shown is None:
        shown = next((p.id for p in parties if p.id in policies), parties[0].id if parties else None)
    current = policies.get(shown) if shown is not None else None
    form = _policy_form(current)
    if shown is not None:
        form["party_id"] = str(shown)
    scope = None if current is None else "track" if current.track_id is not None else "catalogue"
    return {**context, "policy_form": form, "policy_scope": scope, "shown_party": shown,
            "with_policy": set(policies), "media_options": {m: media_label(m) for m in Media},
            "mechanism_options": list(Mechanism), "currencies": CURRENCIES}  # fmt: skip


@get("/workspace/tracks/{track_id:uuid}/policy", include_in_schema=False, opt=HOLDERS)
async def policy_page(
    conn: asyncpg.Connection,
    caller: Principal,
    track_id: UUID,
    done: str | None = None,
    party: UUID | None = None,
) -> Template:
    context = await _policy_context(conn, caller, track_id, party)
    return Template("workspace/policy.html", context={**context, "done": done, "error": None})


@post("/workspace/tracks/{track_id:uuid}/policy", include_in_schema=False, opt=HOLDERS)
async def save_policy(
    conn: asyncpg.Connection, caller: Principal, track_id: UUID, data: Form
) -> Template | Redirect:
    try:
        await rights.set_policy(conn, caller, read_policy(data, track_id=track_id))
    except (*FORM_ERRORS, TermsError) as exc:
        context = await _policy_context(conn, caller, track_id)
        return Template("workspace/policy.html", status_code=forms.refusal_status(exc),
                        context={**context, "policy_form": data, "done": None, "error": forms.sentence(exc)})  # fmt: skip
    return Redirect(
        f"/workspace/tracks/{track_id}/policy?done=policy&party={data['party_id']}", status_code=303
    )


# Opening a round


def read_round(data: dict[str, str], *, track_id: UUID, today: date) -> NewRound:
    """The round form as the JSON API's NewRound, so the same validation applies."""
    currency = data.get("currency", "EUR")
    mechanism = data.get("mechanism", "")
    if mechanism not in ROUND_MECHANISMS:
        raise forms.FormError("Mechanism: choose how the round sells the licence")
    try:
        media = Media(data.get("media", ""))
    except ValueError:
        raise forms.FormError("Medium: choose where the music will be used") from None
    start_text = data.get("start", "").strip()
    try:
        start = date.fromisoformat(start_text) if start_text else today
    except ValueError:
        raise forms.FormError(f"Licence starts: “{start_text}” is not a date (YYYY-MM-DD)") from None
    usage = Usage(
        media=media, territories=forms.territories("Territories", data.get("territories", "WORLD") or "WORLD"),
        term_months=forms.whole_number("Term", data.get("term_months", "12") or "12", low=1, high=MAX_TERM_MONTHS),
        exclusive=_checked(data, "exclusive"), start=start,
    )  # fmt: skip
    TerritoryScope(include=usage.territories)
    price = msgspec.to_builtins(forms.money("Reserve or start price", data.get("price", ""), currency))
    params: dict[str, Any] = {"mechanism": mechanism}
    if mechanism in ("vickrey", "first_price"):
        params["reserve"] = price
        if _checked(data, "soft_close"):
            params["soft_close"] = {
                "window_seconds": forms.whole_number("Soft close window", data.get("soft_window", "60"), low=1, high=3600),
                "extension_seconds": forms.whole_number("Extension", data.get("soft_extension", "60"), low=1, high=3600),
                "max_extensions": forms.whole_number("Extensions", data.get("soft_max", "5"), low=1, high=100),
            }  # fmt: skip
    elif mechanism == "clock":
        params.update(
            start=price, floor=msgspec.to_builtins(forms.money("Clock floor", data.get("clock_floor", ""), currency)),
            step=msgspec.to_builtins(forms.money("Clock step", data.get("clock_step", ""), currency)),
            step_seconds=forms.whole_number("Seconds per step", data.get("clock_seconds", "30") or "30", low=1, high=3600),
        )  # fmt: skip
    else:
        ceiling = forms.money("Ceiling", data.get("ceiling", ""), currency)
        accept = forms.optional_money("Accept at once from", data.get("auto_accept", ""), currency)
        counter = data.get("counter", "")
        params.update(
            floor=price, ceiling=msgspec.to_builtins(ceiling), auto_accept_at=msgspec.to_builtins(accept or ceiling),
            max_rounds=forms.whole_number("Moves", data.get("max_rounds", "6") or "6", low=1, high=50),
            response_seconds=forms.whole_number("Hours to answer", data.get("response_hours", "24") or "24", low=1, high=720) * 3600,
            counter={"strategy": "split_the_difference"} if counter == "split" else
            {"strategy": "concede", "percent_bp": 2_500} if counter == "concede" else None,
        )  # fmt: skip
    minutes = forms.whole_number(
        "Duration", data.get("duration_minutes", "60") or "60", low=1, high=30 * 24 * 60
    )
    return msgspec.convert(
        {"track_id": str(track_id), "usage": msgspec.to_builtins(usage), "params": params,
         "duration_seconds": minutes * 60},
        NewRound,
    )  # fmt: skip


async def _round_context(conn: asyncpg.Connection, caller: Principal, track_id: UUID) -> dict[str, Any]:
    _, _, context = await _track_context(conn, caller, track_id)
    return {**context, "media_options": {m: media_label(m) for m in Media}, "mechanisms": ROUND_MECHANISMS, "currencies": CURRENCIES,
            "today": _today()}  # fmt: skip


USAGE_FIELDS = ("media", "territories", "term_months", "start", "exclusive")


@get("/workspace/tracks/{track_id:uuid}/round", include_in_schema=False, opt=HOLDERS)
async def round_page(
    conn: asyncpg.Connection, caller: Principal, track_id: UUID, request: Request[Any, Any, Any]
) -> Template:
    """The round form, its usage filled in from the query when a licence request links here."""
    context = await _round_context(conn, caller, track_id)
    wanted = {name: request.query_params[name][:200] for name in USAGE_FIELDS if name in request.query_params}
    return Template("workspace/round.html", context={**context, "error": None, "form": wanted})


@post("/workspace/tracks/{track_id:uuid}/round", include_in_schema=False, opt=HOLDERS)
async def open_round(
    connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis, track_id: UUID,
    data: Form,
) -> Template | Redirect:  # fmt: skip
    try:
        request = read_round(data, track_id=track_id, today=_today())
        opened = await auction.open_round(connect, relay(channels, jobs), caller, request)
    except (*FORM_ERRORS, TermsError, TerritoryError) as exc:
        async with connect() as conn:
            context = await _round_context(conn, caller, track_id)
        return Template("workspace/round.html", status_code=forms.refusal_status(exc),
                        context={**context, "error": forms.sentence(exc), "form": data})  # fmt: skip
    return Redirect(f"/rounds/{opened.id}", status_code=303)


page_handlers = [
    catalogue_page,
    decide_claim,
    splits_page,
    add_split,
    add_party,
    remove_share,
    policy_page,
    save_policy,
    round_page,
    open_round,
]
