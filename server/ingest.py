"""Receiving an inventory: read the body within limits, validate it, store it in one transaction.

Rules, in the order they are checked:
- the body is at most `max_body_bytes` on the wire (413), and when sent with
  `Content-Encoding: gzip`, at most `max_decompressed_bytes` once inflated (413); decompression is
  streamed and stops as soon as the limit is passed, so a small "zip bomb" costs nothing;
- it is JSON (400) in the inventory format of a version this server knows (422), every field valid
  (422 naming the field);
- it describes the token's organisation (403): an inventory with a SIREN needs a token of an
  organisation with that same SIREN; an inventory without SIREN needs the names to be equal
  ignoring case, accents, punctuation and spacing (an agent configured without SIREN still sends
  the name it was given);
- the inventory id is the idempotency key: a resend of the same inventory answers exactly as the
  first time and stores nothing; the same id with other content, or from another organisation,
  is a conflict (409).
The inventory and its findings are written in a single transaction: a crash leaves all or nothing.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import anyio
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from inventory import SCHEMA_VERSION, Inventory
from inventory.models import safe_text
from server import db
from server.errors import Refusal
from server.store import inventories


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to an accepted inventory (the same for the first send and every resend)."""

    status: int
    body: dict[str, Any]


def _too_big(limit: int, what_fr: str, what_en: str) -> Refusal:
    megabytes = f"{limit / 1_048_576:.1f}"
    return Refusal(
        413,
        f"inventaire trop volumineux : {what_fr} dépasse {megabytes} Mo ; "
        "limitez le périmètre du scan ou augmentez la limite du serveur (--max-body-mb)",
        f"inventory too large: {what_en} exceeds {megabytes} MB; "
        "narrow the scan's scope or raise the server's limit (--max-body-mb)",
    )


async def receive(
    chunks: AsyncIterator[bytes], encoding: str, content_length: int | None, max_body: int
) -> bytearray:
    """The request body as sent (still compressed), refused as soon as it passes `max_body`."""
    if encoding not in ("", "identity", "gzip"):
        raise Refusal(
            415,
            f"encodage {encoding!r} non pris en charge : envoyez du JSON brut ou compressé en gzip",
            f"content encoding {encoding!r} not supported: send plain or gzip-compressed JSON",
        )
    if content_length is not None and content_length > max_body:
        raise _too_big(max_body, "le corps de la requête", "the request body")
    out = bytearray()
    async for chunk in chunks:
        if len(out) + len(chunk) > max_body:
            raise _too_big(max_body, "le corps de la requête", "the request body")
        out += chunk
    return out


def inflate(body: bytearray, encoding: str, max_inflated: int) -> bytearray:
    """The body inflated if gzip, within `max_inflated`; `body` itself is emptied then.

    Exactly one gzip member: bytes after it (a second member, garbage) are refused, since they
    would be silently dropped from the inventory.
    """
    if encoding != "gzip":
        if len(body) > max_inflated:
            raise _too_big(max_inflated, "l'inventaire", "the inventory")
        return body
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = bytearray()
    data: bytes | bytearray = body
    try:
        while data and not inflater.eof:
            # Never inflate more than one byte past the limit, whatever the compression ratio.
            out += inflater.decompress(data, max_inflated + 1 - len(out))
            if len(out) > max_inflated:
                raise _too_big(max_inflated, "l'inventaire décompressé", "the inflated inventory")
            data = inflater.unconsumed_tail
    except zlib.error:
        raise Refusal(400, "corps gzip corrompu", "corrupt gzip body") from None
    finally:
        body.clear()
    if not inflater.eof:
        raise Refusal(400, "corps gzip tronqué", "truncated gzip body")
    if inflater.unused_data:
        raise Refusal(
            400,
            f"{len(inflater.unused_data)} octet(s) après la fin du flux gzip : "
            "envoyez un seul membre gzip",
            f"{len(inflater.unused_data)} byte(s) after the end of the gzip stream: "
            "send a single gzip member",
        )
    return out


async def read_body(
    chunks: AsyncIterator[bytes],
    encoding: str,
    content_length: int | None,
    max_body: int,
    max_inflated: int,
) -> bytes:
    """The request body, inflated if gzip, refusing anything over the limits."""
    body = await receive(chunks, encoding, content_length, max_body)
    return bytes(inflate(body, encoding, max_inflated))


INGEST_SLOTS = 2
"""Inventories parsed and stored at once by one server process (others wait for a slot).

Parsing costs about 14 times the inflated size in memory (the JSON tree, then the models), so
two 32 MB inventories at once already take some 900 MB; more at once only shares the same cores.
"""
INGEST_WAIT_S = 60.0
"""How long a received inventory waits for a slot before a 503 asks its agent to retry later."""


@asynccontextmanager
async def ingest_slot(state: Any) -> AsyncIterator[None]:
    """Hold one of the process's INGEST_SLOTS (kept on `state`, the app's), or answer 503."""
    slots = getattr(state, "ingest_slots", None)
    if slots is None:
        slots = state.ingest_slots = anyio.Semaphore(INGEST_SLOTS)
    acquired = False
    with anyio.move_on_after(INGEST_WAIT_S):  # the wait only: an ingest is never cut short
        await slots.acquire()
        acquired = True
    if not acquired:
        raise Refusal(
            503,
            "le serveur reçoit déjà d'autres inventaires : réessayez dans une minute "
            "(rien n'a été enregistré)",
            "the server is busy receiving other inventories: retry in a minute "
            "(nothing was stored)",
            headers={"Retry-After": "60"},
        )
    try:
        yield
    finally:
        slots.release()


def _field(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "(document)"


@dataclass(frozen=True, slots=True)
class Document:
    """The inventory exactly as received, and its SHA-256 (what makes two sends the same)."""

    text: str
    sha256: str


def decode(raw: bytes | bytearray) -> Document:
    """The body as text (JSON is UTF-8) with its digest."""
    try:
        return Document(raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())
    except UnicodeDecodeError as exc:
        raise Refusal(
            400,
            f"le corps n'est pas en UTF-8 (octet {exc.start})",
            f"the body is not UTF-8 (byte {exc.start})",
        ) from None


def parse_inventory(document: str) -> Inventory:
    """Validate the document against the inventory model, with errors that name each field."""
    try:
        return Inventory.model_validate_json(document)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        reason = str(first.get("ctx", {}).get("error", first["msg"]))
        raise Refusal(
            400,
            f"le corps n'est pas du JSON valide ({reason})",
            f"the body is not valid JSON ({reason})",
        )
    if any(e["loc"] == ("schema",) for e in errors):
        raise Refusal(
            422,
            f"champ schema : version de format non prise en charge ; ce serveur accepte "
            f"{SCHEMA_VERSION!r} : mettez à jour l'agent ou le serveur",
            f"field schema: format version not supported; this server accepts "
            f"{SCHEMA_VERSION!r}: upgrade the agent or the server",
            [{"field": "schema", "message": "unsupported schema version"}],
        )
    listed = [{"field": _field(tuple(e["loc"])), "message": str(e["msg"])} for e in errors[:50]]
    names = ", ".join(item["field"] for item in listed[:5])
    more = f" (+{len(errors) - 5})" if len(errors) > 5 else ""
    raise Refusal(
        422,
        f"inventaire invalide, champ(s) {names}{more} : {listed[0]['message']}",
        f"invalid inventory, field(s) {names}{more}: {listed[0]['message']}",
        listed,
    )


def _comparable(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", " ", ascii_name.lower()).strip()


def _describe(name: str, siren: str | None) -> str:
    return f"« {name} »" + (f" (SIREN {siren})" if siren else "")


def check_organisation(organisation: Any, inventory: Inventory) -> None:
    """Refuse an inventory that describes another organisation than the token's."""
    sent = inventory.organisation
    if sent.siren:
        # A SIREN identifies one organisation: only a token of that very SIREN may send it (a
        # token without SIREN must not send another organisation's inventory under its name).
        same = organisation.siren == sent.siren
    else:
        same = _comparable(organisation.name) == _comparable(sent.name)
    if same:
        return
    theirs = _describe(organisation.name, organisation.siren)
    ours = _describe(sent.name, sent.siren)
    raise Refusal(
        403,
        f"ce jeton appartient à {theirs} mais l'inventaire décrit {ours} : "
        "vérifiez [organisation] dans la configuration de l'agent et son fichier de jeton",
        f"this token belongs to {theirs} but the inventory describes {ours}: "
        "check [organisation] in the agent's configuration and its token file",
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def receipt_body(row: Any) -> dict[str, Any]:
    """The answer describing a stored inventory, from what never changes after it is stored.

    The review status is left out on purpose: a resend after a reviewer's decision must still
    get the very answer of the first send.
    """
    return {
        "id": row.id,
        "organisation_id": row.organisation_id,
        "received_at": _utc(row.received_at).isoformat(),
        "findings": row.findings_count,
        "observations": row.observations_count,
        "url": f"/api/v1/inventories/{row.id}",
        "page": f"/inventaires/{row.id}",
    }


def _column(text: str) -> str:
    # Index columns only (the document keeps the exact text): PostgreSQL refuses NUL in text.
    if text.isascii() and "\x00" not in text:
        return text[:1000]  # the usual case, without the cost of a regular expression
    cleaned: str = safe_text(text).replace("\x00", "\ufffd")
    return cleaned[:1000]


def _replay(row: Any, organisation_id: int, digest: str) -> Receipt:
    if row.organisation_id != organisation_id or row.body_sha256 != digest:
        raise Refusal(
            409,
            f"un autre inventaire porte déjà l'identifiant {row.id} : "
            "chaque scan doit avoir un identifiant neuf",
            f"another inventory already has the id {row.id}: every scan needs a fresh id",
        )
    return Receipt(201, receipt_body(row))


def _finding_rows(inventory_id: str, inventory: Inventory) -> list[tuple[Any, ...]]:
    return [
        (
            inventory_id,
            position,
            _column(finding.id),
            _column(finding.product),
            _column(finding.vendor),
            finding.jurisdiction.value,
            finding.category.value,
            finding.model_dump_json(),
        )
        for position, finding in enumerate(inventory.findings)
    ]


@dataclass(slots=True)
class _Rows:
    """What `store` writes: the inventory's row (`received_at` set when written), its findings."""

    inventory: dict[str, Any]
    findings: list[tuple[Any, ...]]


def _rows(organisation_id: int, inventory: Inventory, document: Document, source: str) -> _Rows:
    inventory_id = str(inventory.id)
    row = {
        "id": inventory_id,
        "organisation_id": organisation_id,
        "status": "draft",
        "started_at": inventory.started_at,
        "finished_at": inventory.finished_at,
        "agent_hostname": _column(inventory.agent.hostname),
        "findings_count": len(inventory.findings),
        "observations_count": len(inventory.observations),
        "body_sha256": document.sha256,
        "document": document.text,
        "source": source,
    }
    return _Rows(row, _finding_rows(inventory_id, inventory))


def _write(engine: Engine, rows: _Rows) -> Receipt:
    row = rows.inventory
    inventory_id, organisation_id, digest = row["id"], row["organisation_id"], row["body_sha256"]
    try:
        with db.write_transaction(engine) as connection:
            row["received_at"] = datetime.now(UTC)
            # Insert unless the id exists, in one round trip: a resend finds the first send's row.
            if not inventories.insert_if_new(connection, row):
                return _replay(
                    inventories.existing(connection, inventory_id), organisation_id, digest
                )
            inventories.insert_findings(connection, rows.findings)
    except IntegrityError:
        # Two sends of the same inventory raced (PostgreSQL); the loser replays the winner's answer.
        with engine.connect() as connection:
            existing = inventories.existing(connection, inventory_id)
        if existing is None:
            raise
        return _replay(existing, organisation_id, digest)
    return Receipt(201, receipt_body(SimpleNamespace(**row)))


def store(
    engine: Engine,
    organisation_id: int,
    inventory: Inventory,
    document: Document,
    source: str = "agent",
) -> Receipt:
    """Store the inventory, as sent, and its findings in one transaction; or replay the answer."""
    return _write(engine, _rows(organisation_id, inventory, document, source))


def accept_document(
    engine: Engine, organisation: Any, document: Document, source: str = "agent"
) -> Receipt:
    """Validate, check the organisation and store one decoded inventory."""
    inventory = parse_inventory(document.text)
    check_organisation(organisation, inventory)
    rows = _rows(organisation.id, inventory, document, source)
    # The models weigh some ten times the document: let them go before the database copies it.
    del inventory
    return _write(engine, rows)


def accept(
    engine: Engine, organisation: Any, raw: bytes | bytearray, source: str = "agent"
) -> Receipt:
    """Decode, validate, check the organisation and store one inventory body."""
    return accept_document(engine, organisation, decode(raw), source)


def accept_body(
    engine: Engine,
    organisation: Any,
    body: bytearray,
    encoding: str,
    max_inflated: int,
    source: str = "agent",
) -> Receipt:
    """Inflate, decode, validate and store a body as received; it is emptied on the way.

    Each copy goes as soon as the next exists (compressed, inflated bytes, text, models), so an
    ingest holds at most two of them at a time.
    """
    raw = inflate(body, encoding, max_inflated)
    document = decode(raw)
    raw.clear()
    return accept_document(engine, organisation, document, source)
