"""Licences: issue the signed certificate on a paid deal, revoke it on refund, verify it for anyone,
and hand the licensee expiring links to the original audio and the agreement.

The composition root registers the platform key (`configure_signing_key`) and where a track's
original audio lives (`configure_audio_source`) once at start, so contracts/ imports nothing above it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import asyncpg
import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from contracts import agreement as agreement_document
from contracts import certificate as certificates
from contracts import store
from contracts.certificate import Certificate, CertificateInvalid
from contracts.model import (
    AllowList,
    Deal,
    DealState,
    DownloadFile,
    DownloadLink,
    Licence,
    LicenceStatus,
    NamedParty,
    TrackIdentity,
    Verification,
)
from contracts.terms_document import canonical_json, licence_terms, sha256_hex
from contracts.terms_document import terms_hash as terms_hash
from rights import service as rights
from rights.audit import append_audit
from rights.identity import Principal

JWKS_PATH = "/.well-known/jwks.json"
LINK_LIFETIME = timedelta(minutes=10)
MAX_ALLOW_LIST = 20
MAX_URL_LENGTH = 2_000
AGREEMENT_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian fonts-dejavu-core


class OriginalAudio(msgspec.Struct, frozen=True, kw_only=True):
    """A track's original (full-quality) audio file: what the licensee receives."""

    sha256: str
    path: Path
    media_type: str
    extension: str


AudioSource = Callable[[asyncpg.Connection, UUID], Awaitable[OriginalAudio | None]]


class LicenceNotFound(LookupError):
    """No such licence, or none the caller is a party to (404)."""


class LicenceConflict(ValueError):
    """The deal or licence is not in a state that allows this (409); the message says why."""

    status_code = 409


class LinkInvalid(PermissionError):
    """A download link that was not made by us, or not for the caller's organisation (403)."""


class LinkGone(ValueError):
    """A download link that has expired or whose licence was revoked (410)."""

    status_code = 410


class _Registry:
    signing_key: Ed25519PrivateKey | None = None
    audio_source: AudioSource | None = None


def configure_signing_key(key: Ed25519PrivateKey) -> None:
    """Register the platform key that signs certificates and download links (app and worker start)."""
    _Registry.signing_key = key


def configure_audio_source(source: AudioSource) -> None:
    """Register how to find a track's original audio (the composition root asks discovery)."""
    _Registry.audio_source = source


def _key() -> Ed25519PrivateKey:
    if _Registry.signing_key is None:
        raise RuntimeError("no platform signing key: call contracts.licences.configure_signing_key at start")
    return _Registry.signing_key


async def _original_audio(conn: asyncpg.Connection, track_id: UUID) -> OriginalAudio | None:
    source = _Registry.audio_source
    return None if source is None else await source(conn, track_id)


def key_set() -> dict[str, Any]:
    """The JWKS document: the public key certificates are checked against."""
    return certificates.key_set(_key())


# Issue, re-issue, revoke


async def issue_licence(conn: asyncpg.Connection, deal: Deal, *, now: datetime) -> Licence:
    """Sign and store the licence of a paid deal, inside the caller's transaction; once per deal.

    A second call (a retried payment, a duplicate webhook) returns the licence already issued.
    """
    if deal.state not in (DealState.PAID, DealState.LICENSED):
        raise LicenceConflict(f"a licence is issued on a paid deal; this one is {deal.state.value}")
    async with conn.transaction():
        existing = await store.licence_of_deal(conn, deal.id)
        if existing is not None:
            return existing
        names = await store.organisation_names(conn, [deal.seller, deal.buyer])
        track = await rights.get_track(conn, deal.track_id)
        graph = await rights.track_rights(conn, deal.track_id)
        licence_id = uuid4()
        terms = licence_terms(
            deal, licence_id=licence_id,
            licensor=NamedParty(organisation_id=deal.seller, name=names.get(deal.seller, "unknown")),
            licensee=NamedParty(organisation_id=deal.buyer, name=names.get(deal.buyer, "unknown")),
            track=TrackIdentity(
                id=track.id, title=track.title, artist=track.artist,
                isrc=graph.recording.isrc if graph.recording else None,
                iswc=graph.work.iswc if graph.work else None,
            ),
        )  # fmt: skip
        audio = await _original_audio(conn, deal.track_id)
        certificate = Certificate(
            issuer=certificates.ISSUER, licence_id=licence_id, version=1, issued_at=now, terms=terms,
            terms_sha256=sha256_hex(canonical_json(terms)), audio_sha256=audio.sha256 if audio else None,
            allow_list=await store.allow_list(conn, deal.id),
        )  # fmt: skip
        issued = await store.insert_licence(conn, _licence_from(certificate, deal.id))
        if issued is None:  # issued concurrently by another payment path: that one stands
            found = await store.licence_of_deal(conn, deal.id)
            assert found is not None
            return found
        await append_audit(conn, "deal", deal.id, "licence_issued", {
            "licence_id": issued.id, "terms_sha256": issued.terms_sha256,
            "agreed_terms_sha256": terms.agreed_terms_sha256, "audio_sha256": issued.audio_sha256,
            "key_id": issued.key_id,
        }, None)  # fmt: skip
    return issued


def _licence_from(certificate: Certificate, deal_id: UUID) -> Licence:
    key = _key()
    return Licence(
        id=certificate.licence_id, deal_id=deal_id, status=LicenceStatus.VALID, version=certificate.version,
        terms=certificate.terms, terms_sha256=certificate.terms_sha256, audio_sha256=certificate.audio_sha256,
        allow_list=certificate.allow_list, certificate=certificates.sign(certificate, key),
        key_id=certificates.key_id(key), issued_at=certificate.issued_at,
    )  # fmt: skip


async def revoke_licence(conn: asyncpg.Connection, deal_id: UUID, *, now: datetime) -> None:
    """Revoke the deal's licence (a refund), inside the caller's transaction; its links die with it."""
    async with conn.transaction():
        before = await store.licence_of_deal(conn, deal_id, for_update=True)
        if before is None or before.revoked_at is not None:
            return
        await store.revoke_licence(conn, deal_id, now)
        await append_audit(conn, "deal", deal_id, "licence_revoked", {"licence_id": before.id}, None)


def _checked_urls(urls: list[str]) -> tuple[str, ...]:
    if len(urls) > MAX_ALLOW_LIST:
        raise ValueError(f"urls: at most {MAX_ALLOW_LIST} channel or page addresses, got {len(urls)}")
    checked: list[str] = []
    for url in urls:
        url = url.strip()
        parts = urlsplit(url)
        if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"urls: {url[:80]!r} is not an http(s) address of a channel or page")
        if url not in checked:
            checked.append(url)
    return tuple(checked)


async def _party_deal(conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> Deal:
    """The deal, if the caller acts for its buyer, seller or a payee (the rule deals are read by); else 404."""
    found = await store.deal(conn, deal_id)
    if found is None or not found.is_read_by(caller):
        raise LicenceNotFound(f"no deal {deal_id}")
    return found


async def _licensee_deal(conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> Deal:
    """The deal, if the caller acts for its buyer: only the licensee names channels or downloads."""
    deal = await _party_deal(conn, caller, deal_id)
    if not caller.acts_for(deal.buyer):
        raise PermissionError("only the licensee's organisation may do this")
    return deal


async def set_allow_list(
    conn: asyncpg.Connection, caller: Principal, deal_id: UUID, urls: list[str], *, now: datetime
) -> AllowList:
    """The licensee names channels or pages to allow-list; an issued certificate is re-issued with them."""
    checked = _checked_urls(urls)
    await _licensee_deal(conn, caller, deal_id)
    async with conn.transaction():
        await store.put_allow_list(conn, deal_id, checked, now)
        current = await store.licence_of_deal(conn, deal_id, for_update=True)
        if current is not None:
            if current.revoked_at is not None:
                raise LicenceConflict(
                    "the licence was revoked (refunded): its certificate cannot be re-issued"
                )
            certificate = Certificate(
                issuer=certificates.ISSUER, licence_id=current.id, version=current.version + 1,
                issued_at=now, terms=current.terms, terms_sha256=current.terms_sha256,
                audio_sha256=current.audio_sha256, allow_list=checked,
            )  # fmt: skip
            signed = _licence_from(certificate, deal_id)
            await store.reissue_licence(
                conn, current.id, expected_version=current.version, allow_list=checked,
                certificate=signed.certificate, key_id=signed.key_id, issued_at=now,
            )  # fmt: skip
        await append_audit(conn, "deal", deal_id, "allow_list_set", {
            "urls": list(checked), "reissued": current is not None,
        }, caller.user_id)  # fmt: skip
    return AllowList(urls=checked)


# Reading and verifying


async def get_licence(conn: asyncpg.Connection, caller: Principal, licence_id: UUID) -> Licence:
    """The licence with its certificate, for an organisation party to the deal."""
    found = await store.licence(conn, licence_id)
    if found is None:
        raise LicenceNotFound(f"no licence {licence_id}")
    try:
        await _party_deal(conn, caller, found.deal_id)
    except LicenceNotFound:
        raise LicenceNotFound(f"no licence {licence_id}") from None
    return found


async def verify_licence(conn: asyncpg.Connection, licence_id: UUID) -> Verification:
    """Valid or revoked, the terms, and whether the certificate verifies against the published key set."""
    found = await store.licence(conn, licence_id)
    if found is None:
        raise LicenceNotFound(f"no licence {licence_id}")
    problem: str | None = None
    try:
        checked = certificates.verify(found.certificate, key_set())
        if checked.licence_id != found.id or checked.terms_sha256 != found.terms_sha256:
            problem = "the certificate names another licence or other terms than the register holds"
    except CertificateInvalid as error:
        problem = str(error)
    return Verification(
        licence_id=found.id, status=found.status, signature_valid=problem is None, signature_problem=problem,
        key_id=found.key_id, jwks_url=JWKS_PATH, issued_at=found.issued_at, revoked_at=found.revoked_at,
        terms=found.terms, terms_sha256=found.terms_sha256, audio_sha256=found.audio_sha256,
        allow_list=found.allow_list, certificate=found.certificate,
    )  # fmt: skip


def verify_url(licence_id: UUID) -> str:
    return f"/licences/{licence_id}/verify"


def agreement_for(found: Licence | Verification) -> agreement_document.Agreement:
    """The agreement of a licence, as the page, the verification page and the PDF show it."""
    return agreement_document.agreement(
        found.terms, status=found.status, issued_at=found.issued_at, terms_sha256=found.terms_sha256,
        verify_url=verify_url(found.terms.licence_id),
    )  # fmt: skip


async def licence_of_deal(conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> Licence | None:
    """The licence issued on a deal the caller is party to, or None while it has none."""
    await _party_deal(conn, caller, deal_id)
    return await store.licence_of_deal(conn, deal_id)


async def agreement_of_deal(
    conn: asyncpg.Connection, caller: Principal, deal_id: UUID
) -> tuple[Licence, agreement_document.Agreement]:
    """The agreement of a licensed deal, for an organisation party to it."""
    deal = await _party_deal(conn, caller, deal_id)
    found = await store.licence_of_deal(conn, deal_id)
    if found is None:
        raise LicenceNotFound(f"deal {deal_id} has no licence yet: it is {deal.state.value}")
    return found, agreement_for(found)


# Delivery: expiring signed links to the original audio and the agreement


def _link_key() -> bytes:
    """An HMAC key of its own for links, derived from the platform key (one secret to keep, two uses)."""
    secret = _key().private_bytes_raw()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"cue download links v1").derive(secret)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def link_token(licence_id: UUID, file: DownloadFile, expires_at: datetime) -> str:
    claim = f"{licence_id}:{file.value}:{int(expires_at.timestamp())}".encode()
    return f"{_b64(claim)}.{_b64(hmac.new(_link_key(), claim, hashlib.sha256).digest())}"


def read_link_token(token: str, *, now: datetime) -> tuple[UUID, DownloadFile]:
    """The licence and file a link names; refused when forged (403) or expired (410)."""
    try:
        claim_text, mac_text = token.split(".")
        claim, mac = _unb64(claim_text), _unb64(mac_text)
    except ValueError:
        raise LinkInvalid("this download link is not valid: ask for a new one on the deal") from None
    if not hmac.compare_digest(mac, hmac.new(_link_key(), claim, hashlib.sha256).digest()):
        raise LinkInvalid("this download link is not valid: ask for a new one on the deal")
    licence_text, file_text, expires_text = claim.decode().split(":")
    if now.timestamp() >= int(expires_text):
        raise LinkGone("this download link has expired: ask for a new one on the deal")
    return UUID(licence_text), DownloadFile(file_text)


async def download_links(
    conn: asyncpg.Connection, caller: Principal, deal_id: UUID, *, now: datetime
) -> list[DownloadLink]:
    """Links to the original audio and the agreement PDF, for the licensee of a licensed deal."""
    deal = await _licensee_deal(conn, caller, deal_id)
    found = await store.licence_of_deal(conn, deal_id)
    if deal.state is not DealState.LICENSED or found is None or found.revoked_at is not None:
        raise LicenceConflict(f"downloads open once the deal is licensed; this one is {deal.state.value}")
    expires_at = now + LINK_LIFETIME
    files = [DownloadFile.AUDIO] if found.audio_sha256 else []
    return [
        DownloadLink(
            file=file, url=f"/api/downloads/{link_token(found.id, file, expires_at)}", expires_at=expires_at
        )
        for file in [*files, DownloadFile.AGREEMENT]
    ]


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """What a download link serves: a file on disk (streamed) or a document made for it."""

    filename: str
    media_type: str
    path: Path | None = None
    content: bytes | None = None


async def open_download(
    conn: asyncpg.Connection, caller: Principal, token: str, *, now: datetime
) -> Delivery:
    """The file a valid link names, for the licensee; each download is an audited event."""
    licence_id, file = read_link_token(token, now=now)
    found = await store.licence(conn, licence_id)
    if found is None:
        raise LinkInvalid("this download link is not valid: ask for a new one on the deal")
    if not caller.acts_for(found.terms.agreed.licensee_organisation_id):
        raise LinkInvalid("this download is for the licensee's organisation only")
    if found.revoked_at is not None:
        raise LinkGone("the licence was revoked (refunded): its files can no longer be downloaded")
    stem = f"licence-{found.id}"
    if file is DownloadFile.AUDIO:
        audio = await _original_audio(conn, found.terms.track.id)
        if audio is None or audio.sha256 != found.audio_sha256:
            raise LinkGone("the licensed audio file is no longer held; contact the licensor")
        delivery = Delivery(
            filename=f"{stem}.{audio.extension}", media_type=audio.media_type, path=audio.path
        )
    else:
        pdf = await asyncio.to_thread(agreement_document.render_pdf, agreement_for(found), AGREEMENT_FONT)
        delivery = Delivery(filename=f"{stem}-agreement.pdf", media_type="application/pdf", content=pdf)
    async with conn.transaction():
        await append_audit(conn, "deal", found.deal_id, "downloaded", {
            "licence_id": found.id, "file": file.value, "audio_sha256": found.audio_sha256 if file is DownloadFile.AUDIO else None,
        }, caller.user_id)  # fmt: skip
    return delivery
