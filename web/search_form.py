"""The Discover form read as people fill it in: empty fields mean "any", bad ones become sentences naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TypeVar
from urllib.parse import urlencode
from uuid import UUID

import msgspec

from discovery.model import Key, Mode, Mood, SearchFilters
from rights.terms import MAX_TERM_MONTHS, Media, TermsError, Usage
from rights.territories import TerritoryError, describe, resolve

MAX_FIELD_CHARS = 200
MAX_BPM = 400
MAX_PAGE = 50
USAGE_COOKIE = "cue_usage"
_Choice = TypeVar("_Choice", Mode, Mood, Media)


class UsageChoice(msgspec.Struct, frozen=True, kw_only=True):
    """The use a buyer is shopping for, chosen once and kept for the browser session."""

    media: Media = Media.ONLINE_ADS
    territories: str = "WORLD"
    term_months: int = 12
    exclusive: bool = False

    def usage(self, today: date) -> Usage:
        """The usage starting today (the server's day)."""
        codes = tuple(self.territories.replace(",", " ").split())
        return Usage(media=self.media, territories=codes, term_months=self.term_months, exclusive=self.exclusive,
                     start=today)  # fmt: skip

    def describe(self) -> str:
        """'online ads worldwide for 12 months, non-exclusive'."""
        where = describe(resolve(tuple(self.territories.replace(",", " ").split())))
        where = where if where.startswith("worldwide") else f"in {where}"
        kind = "exclusive" if self.exclusive else "non-exclusive"
        return f"{self.media.value.replace('_', ' ')} {where} for {self.term_months} months, {kind}"

    def cookie(self) -> str:
        return msgspec.json.encode(self).decode()

    @classmethod
    def from_cookie(cls, text: str | None) -> UsageChoice:
        """The choice kept in the cookie, or the default when there is none or it no longer reads."""
        if not text:
            return cls()
        try:
            return _checked(msgspec.json.decode(text, type=cls))
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
            return cls()


def _checked(choice: UsageChoice) -> UsageChoice:
    if not 1 <= choice.term_months <= MAX_TERM_MONTHS:
        raise ValueError(f"The term must be between 1 and {MAX_TERM_MONTHS} months.")
    try:
        resolve(tuple(choice.territories.replace(",", " ").split()) or ("",))
    except TerritoryError as error:
        raise ValueError(f"Territories: {error}.") from None
    return choice


class SearchForm(msgspec.Struct, frozen=True, kw_only=True):
    """What the buyer asked for; None means the field was left empty."""

    q: str = ""
    similar_to: UUID | None = None
    bpm_min: float | None = None
    bpm_max: float | None = None
    key: str = ""
    mode: Mode | None = None
    mood: Mood | None = None
    instrumental: bool | None = None
    clearable_only: bool = False
    page: int = 1

    def filters(self) -> SearchFilters:
        """The filters for discovery; the key was checked when the form was read."""
        return SearchFilters(
            bpm_min=self.bpm_min, bpm_max=self.bpm_max, key=Key.parse(self.key) if self.key else None,
            mode=self.mode, mood=self.mood, instrumental=self.instrumental,
        )  # fmt: skip

    def query(self, **changes: object) -> str:
        """This search as a query string, with some fields changed (say page=2 or mood=None)."""
        form = msgspec.structs.replace(self, **changes)
        pairs = [(name, value) for name, value in _as_params(form).items() if value != ""]
        return urlencode(pairs)


def _as_params(form: SearchForm) -> dict[str, str]:
    def text(value: object) -> str:
        if value is None or value is False:
            return ""
        if value is True:
            return "true"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)

    params = {name: text(getattr(form, name)) for name in form.__struct_fields__}
    if form.instrumental is False:
        params["instrumental"] = "false"
    if form.page == 1:
        params["page"] = ""
    return params


class ActiveFilter(msgspec.Struct, frozen=True, kw_only=True):
    """One thing the buyer narrowed the search by, and the search without it."""

    label: str
    without: SearchForm


def active_filters(form: SearchForm, usage: UsageChoice) -> list[ActiveFilter]:
    """Each filter in use, in the form's order, with the same search without it (for "0 results")."""
    found: list[ActiveFilter] = []

    def add(label: str, **cleared: object) -> None:
        found.append(ActiveFilter(label=label, without=msgspec.structs.replace(form, page=1, **cleared)))

    if form.q.strip():
        add(f"the words “{form.q.strip()}”", q="")
    if form.bpm_min is not None or form.bpm_max is not None:
        low = f"{form.bpm_min:g}" if form.bpm_min is not None else "any"
        high = f"{form.bpm_max:g}" if form.bpm_max is not None else "any"
        add(f"BPM {low} to {high}", bpm_min=None, bpm_max=None)
    if form.key:
        add(f"the key {form.key}", key="")
    if form.mode is not None:
        add(f"the {form.mode.value} mode", mode=None)
    if form.mood is not None:
        add(f"the mood “{form.mood.value}”", mood=None)
    if form.instrumental is not None:
        add("instrumental only" if form.instrumental else "with vocals only", instrumental=None)
    if form.clearable_only:
        add(f"clearable now for {usage.describe()}", clearable_only=False)
    return found


def _one(params: Mapping[str, str], name: str) -> str:
    return params.get(name, "").strip()


def _number(params: Mapping[str, str], name: str, label: str, problems: list[str]) -> float | None:
    text = _one(params, name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{label} must be a number, like 90 (you typed “{text}”).")
        return None
    if not 0 <= value <= MAX_BPM:
        problems.append(f"{label} must be between 0 and {MAX_BPM} (you typed “{text}”).")
        return None
    return value


def _choice(
    params: Mapping[str, str], name: str, label: str, kind: type[_Choice], problems: list[str]
) -> _Choice | None:
    text = _one(params, name)
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        problems.append(f"{label} “{text}” is not one of the choices offered.")
        return None


def _flag(params: Mapping[str, str], name: str) -> bool | None:
    text = _one(params, name).lower()
    if text in ("true", "on", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    return None


def read_search_form(params: Mapping[str, str]) -> tuple[SearchForm, list[str]]:
    """The search as the form sent it. Empty fields mean "any"; each bad field is left out and named in a sentence."""
    problems: list[str] = []
    too_long = sorted(name for name, value in params.items() if len(value) > MAX_FIELD_CHARS)
    for name in too_long:
        problems.append(f"The field “{name}” is longer than {MAX_FIELD_CHARS} characters.")
    params = {name: value for name, value in params.items() if name not in too_long}
    similar_to = None
    if text := _one(params, "similar_to"):
        try:
            similar_to = UUID(text)
        except ValueError:
            problems.append("The track to sound like is not a track id; pick “more like this” on a result.")
    key = _one(params, "key")
    if key:
        try:
            Key.parse(key)
        except ValueError as error:
            problems.append(f"Key: {error}.")
            key = ""
    bpm_min = _number(params, "bpm_min", "BPM from", problems)
    bpm_max = _number(params, "bpm_max", "BPM to", problems)
    if bpm_min is not None and bpm_max is not None and bpm_min > bpm_max:
        problems.append(f"BPM from ({bpm_min:g}) is above BPM to ({bpm_max:g}); the range was swapped.")
        bpm_min, bpm_max = bpm_max, bpm_min
    page = 1
    if text := _one(params, "page"):
        if text.isdigit() and 1 <= int(text) <= MAX_PAGE:
            page = int(text)
        else:
            problems.append(f"The page must be a number from 1 to {MAX_PAGE}.")
    form = SearchForm(
        q=_one(params, "q"), similar_to=similar_to, bpm_min=bpm_min, bpm_max=bpm_max, key=key,
        mode=_choice(params, "mode", "Mode", Mode, problems), mood=_choice(params, "mood", "Mood", Mood, problems),
        instrumental=_flag(params, "instrumental"), clearable_only=_flag(params, "clearable_only") is True,
        page=page,
    )  # fmt: skip
    return form, problems


def read_usage_choice(params: Mapping[str, str], kept: UsageChoice) -> tuple[UsageChoice, list[str]]:
    """The use the form chose, or the one kept for the session when the form does not say (no `media` field)."""
    if "media" not in params:
        return kept, []
    problems: list[str] = []
    media = _choice(params, "media", "Use", Media, problems) or kept.media
    territories = " ".join(_one(params, "territories").replace(",", " ").upper().split()) or "WORLD"
    term_text = _one(params, "term_months")
    term = kept.term_months
    if term_text:
        if term_text.isdigit() and 1 <= int(term_text) <= MAX_TERM_MONTHS:
            term = int(term_text)
        else:
            problems.append(f"The term must be a whole number of months from 1 to {MAX_TERM_MONTHS}.")
    choice = UsageChoice(media=media, territories=territories, term_months=term,
                         exclusive=_flag(params, "exclusive") is True)  # fmt: skip
    try:
        return _checked(choice), problems
    except (ValueError, TermsError) as error:
        problems.append(str(error))
        return msgspec.structs.replace(choice, territories=kept.territories), problems
