"""Reviewing a draft: decisions applied to its findings, what changed, and recording decisions.

A decision belongs to an organisation and a finding's stable identity (product + locus), not to
one inventory: the next draft of the same organisation arrives with it applied, and a rejected
false positive stays rejected. Keys are a finding's id, `obs:<observation id>` for an observation
a person classified as a product, and `add:<product>` for a product no scan saw. Every change is
written with its audit entry in the same transaction; a change identical to the stored decision
(a form submitted twice) writes nothing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import orjson
from sqlalchemy import Connection, Engine, Row

from fingerprints.catalog import default_catalog
from fingerprints.engine import default_engine
from fingerprints.jurisdiction import country_class
from inventory import Category
from server import dashboards, db
from server.admin import Role
from server.auth import User
from server.errors import Refusal
from server.store import audit, decisions, inventories

CRITICALITIES = ("low", "medium", "high", "critical")
REPLACEABILITIES = ("easy", "moderate", "hard")
STATUSES = ("confirmed", "rejected", "corrected")
DETAIL_FIELDS = ("criticality", "annual_cost_eur", "licences", "replaceability", "note")
MAX_COST_EUR = 1_000_000_000
MAX_LICENCES = 10_000_000
MAX_TEXT = 2000
MANUAL_LOCUS = "saisie manuelle"

State = Literal["pending", "confirmed", "rejected", "corrected"]
Origin = Literal["scan", "classified", "manual"]

_NOT_FOUND = ("inventaire introuvable", "inventory not found")
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_-]")


def block_id(key: str) -> str:
    """The HTML id of a finding's block on the inventory page, the anchor a decision returns
    to: its key with anything but ASCII letters, digits, `-` and `_` replaced by `-`."""
    return "c-" + _NOT_IN_ID.sub("-", key)


@dataclass(slots=True)
class ReviewedFinding:
    """A finding as the reviewer sees it: the scan's, corrected, classified or added by hand."""

    key: str
    data: dict[str, Any]
    origin: Origin
    decision: Row[Any] | None = None
    original: dict[str, Any] | None = None
    carried: bool = False
    new: bool = False

    @property
    def html_id(self) -> str:
        """The id of this finding's block on the inventory page (`block_id`)."""
        return block_id(self.key)

    @property
    def url_key(self) -> str:
        """The key as a URL path segment."""
        return quote(self.key, safe="")

    @property
    def state(self) -> State:
        """Where the review of this finding stands."""
        status = self.decision.status if self.decision is not None else None
        if status in STATUSES:
            return status  # type: ignore[no-any-return]
        return "confirmed" if self.origin != "scan" else "pending"


@dataclass(slots=True)
class Review:
    """Everything the inventory page shows."""

    meta: Row[Any]
    findings: list[ReviewedFinding]
    observations: dict[str, dict[str, Any]]
    unidentified: list[dict[str, Any]]
    probes: list[dict[str, Any]]
    baseline: Row[Any] | None
    gone: list[dict[str, Any]] = field(default_factory=list)
    spool_dropped: int = 0
    """Inventories the agent's full spool dropped unsent before this one (`agent.spool_dropped`)."""

    @property
    def pending(self) -> int:
        """Findings of the scan that no decision settles yet."""
        return sum(1 for item in self.findings if item.state == "pending")

    def find(self, key: str) -> ReviewedFinding | None:
        """The finding of this key, if the inventory has it."""
        return next((item for item in self.findings if item.key == key), None)


def visible_inventory(connection: Connection, user: User, inventory_id: str) -> Row[Any]:
    """The inventory's metadata, or 404 when it does not exist or the user may not see it."""
    row = inventories.meta(connection, inventory_id)
    if row is None or not user.sees(row.organisation_id):
        raise Refusal(404, *_NOT_FOUND)
    return row


def require_reviewer(user: User) -> None:
    """Refuse viewers: deciding needs the reviewer or administrator role."""
    if user.role is Role.VIEWER:
        raise Refusal(
            403,
            "un lecteur ne peut pas décider : il faut le rôle relecteur ou administrateur",
            "a viewer cannot decide: the reviewer or admin role is needed",
        )


def _catalog_finding(product: str, locus: str) -> dict[str, Any]:
    return default_engine().describe(product, locus).model_dump(mode="json")


def _manual_finding(row: Row[Any]) -> dict[str, Any]:
    if row.product:
        return _catalog_finding(row.product, MANUAL_LOCUS)
    entry = json.loads(row.manual or "{}")
    country = entry.get("country") or None
    return {
        "id": row.finding_key,
        "product": row.finding_key,
        "product_name": entry.get("name", "?"),
        "vendor": "",
        "vendor_name": entry.get("vendor", "?"),
        "vendor_country": country,
        "controller": None,
        "controller_country": country,
        "jurisdiction": country_class(country).value,
        "exposures": [],
        "category": entry.get("category", Category.LOGICIEL.value),
        "domain": entry.get("domain") or "autre",
        "open_source": None,
        "locus": MANUAL_LOCUS,
        "confidence": "strong",
        "usage": "current",
        "criticality": "medium",
        "evidence": [],
        "alternatives": [],
        "score": None,
    }


def _apply_details(data: dict[str, Any], decision: Row[Any] | None) -> dict[str, Any]:
    if decision is None:
        return data
    shown = dict(data)
    for name in DETAIL_FIELDS:
        value = getattr(decision, name)
        if value is not None:
            shown[name] = value
    return shown


def build(connection: Connection, meta: Row[Any]) -> Review:
    """The review of one inventory: its findings with the organisation's decisions applied."""
    document = orjson.loads(inventories.document(connection, meta.id) or "{}")
    observations = {item["id"]: item for item in document.get("observations", [])}
    decided = decisions.of_organisation(connection, meta.organisation_id)
    reviewed: list[ReviewedFinding] = []
    for text in inventories.findings_data(connection, meta.id):
        finding = orjson.loads(text)
        key = finding["id"]
        decision = decided.get(key)
        item = ReviewedFinding(key, finding, "scan", decision)
        if decision is not None and decision.status == "corrected" and decision.product:
            corrected = _catalog_finding(decision.product, finding["locus"])
            corrected["evidence"] = finding.get("evidence", [])
            item.original, item.data = finding, corrected
        reviewed.append(item)
    unidentified = []
    for observation_id in document.get("unidentified", []):
        observation = observations.get(observation_id)
        if observation is None:
            continue
        decision = decided.get(f"obs:{observation_id}")
        if decision is not None and decision.product and decision.status != "rejected":
            data = _catalog_finding(decision.product, observation["locus"])
            data["evidence"] = [observation_id]
            reviewed.append(ReviewedFinding(f"obs:{observation_id}", data, "classified", decision))
        else:
            unidentified.append(observation)
    for row in decisions.manual(connection, meta.organisation_id):
        if row.status != "rejected":
            reviewed.append(ReviewedFinding(row.finding_key, _manual_finding(row), "manual", row))
    for item in reviewed:
        item.data = _apply_details(item.data, item.decision)
        item.carried = item.decision is not None and item.decision.inventory_id != meta.id
    baseline = inventories.latest_validated(connection, meta.organisation_id, other_than=meta.id)
    agent = document.get("agent")
    dropped = agent.get("spool_dropped", 0) if isinstance(agent, dict) else 0
    review = Review(
        meta,
        reviewed,
        observations,
        unidentified,
        document.get("probes", []),
        baseline,
        spool_dropped=dropped if isinstance(dropped, int) else 0,
    )
    if baseline is not None:
        before = _snapshot_keys(connection, baseline)
        now = {item.key for item in reviewed if item.state != "rejected"}
        for item in reviewed:
            # A rejected false positive is not part of the map: never "new".
            item.new = item.key not in before and item.state != "rejected"
        review.gone = [entry for key, entry in before.items() if key not in now]
    return review


def _snapshot_keys(connection: Connection, baseline: Row[Any]) -> dict[str, dict[str, Any]]:
    if baseline.validated_findings:
        return {entry["key"]: entry for entry in orjson.loads(baseline.validated_findings)}
    # Validated before the review workspace existed: its findings as the agent sent them.
    return {
        entry["id"]: {"key": entry["id"], **entry}
        for entry in map(orjson.loads, inventories.findings_data(connection, baseline.id))
    }


def snapshot(review: Review, confirmed: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """What validating keeps: every finding not rejected, as decided now (`confirmed`: the keys
    confirmed in the same transaction, whose review was built before)."""
    return [
        {
            "key": item.key,
            "origin": item.origin,
            "state": "confirmed" if item.key in confirmed else item.state,
            **item.data,
        }
        for item in review.findings
        if item.state != "rejected"
    ]


# --- Reading forms --------------------------------------------------------------------------


class FormProblems(Refusal):
    """Invalid form fields, each with a message in French and English (422)."""

    def __init__(self, fields: dict[str, tuple[str, str]]) -> None:
        first = next(iter(fields.values()))
        super().__init__(422, first[0], first[1])
        self.fields = fields


def _text(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").strip()


def parse_cost(text: str) -> float | None:
    """Euros from what a person types: "1200", "1 200,50", "1200.5 €"; None when empty."""
    cleaned = unicodedata.normalize("NFKC", text).replace("€", "").replace(" ", "").strip()
    if not cleaned:
        return None
    if re.fullmatch(r"\d{1,3}(\.\d{3})+(,\d{1,2})?", cleaned):  # 1.200,50
        cleaned = cleaned.replace(".", "")
    cleaned = cleaned.replace(",", ".")
    if not re.fullmatch(r"\d+(\.\d{1,2})?", cleaned):
        raise ValueError(text)
    value = float(cleaned)
    if value > MAX_COST_EUR:
        raise OverflowError(text)
    return value


def parse_details(form: Mapping[str, str]) -> dict[str, Any]:
    """Criticality, annual cost, licences, replaceability and note from a form."""
    problems: dict[str, tuple[str, str]] = {}
    values: dict[str, Any] = {name: None for name in DETAIL_FIELDS}
    criticality = _text(form, "criticality")
    if criticality:
        if criticality in CRITICALITIES:
            values["criticality"] = criticality
        else:
            problems["criticality"] = ("criticité inconnue", "unknown criticality")
    cost = _text(form, "annual_cost_eur")
    try:
        values["annual_cost_eur"] = parse_cost(cost)
    except OverflowError:
        problems["annual_cost_eur"] = (
            f"coût annuel trop élevé : {MAX_COST_EUR:,} € au plus".replace(",", " "),
            f"annual cost too high: at most {MAX_COST_EUR:,} €",
        )
    except ValueError:
        problems["annual_cost_eur"] = (
            f"« {cost[:40]} » n'est pas un montant : saisissez un nombre d'euros, "
            "par exemple 1200 ou 1 200,50",
            f"'{cost[:40]}' is not an amount: type a number of euros, e.g. 1200 or 1200.50",
        )
    licences = _text(form, "licences").replace(" ", "")
    if licences:
        if licences.isdigit() and int(licences) <= MAX_LICENCES:
            values["licences"] = int(licences)
        else:
            problems["licences"] = (
                "nombre d'utilisateurs ou de licences : un nombre entier positif",
                "number of users or licences: a whole positive number",
            )
    replaceability = _text(form, "replaceability")
    if replaceability:
        if replaceability in REPLACEABILITIES:
            values["replaceability"] = replaceability
        else:
            problems["replaceability"] = ("remplaçabilité inconnue", "unknown replaceability")
    note = _text(form, "note")
    if len(note) > MAX_TEXT:
        problems["note"] = (
            f"note trop longue : {MAX_TEXT} caractères au plus",
            f"note too long: {MAX_TEXT} characters at most",
        )
    values["note"] = note or None
    if problems:
        raise FormProblems(problems)
    return values


def check_product(product: str, field_name: str = "product") -> str:
    """A catalog product id, or a form problem naming the field."""
    product = product.strip()
    if not product:
        raise FormProblems({field_name: ("choisissez un produit du catalogue", "pick a product")})
    if product not in default_catalog().products:
        raise FormProblems(
            {
                field_name: (
                    f"produit inconnu du catalogue : « {product[:80]} » ; choisissez-en un dans "
                    "la liste",
                    f"no such product in the catalog: '{product[:80]}'; pick one from the list",
                )
            }
        )
    return product


def parse_decision(form: Mapping[str, str]) -> dict[str, Any]:
    """A decision on a finding from its form: status, reason, product, details."""
    status = _text(form, "status")
    problems: dict[str, tuple[str, str]] = {}
    values: dict[str, Any] = {"status": None, "reason": None, "product": None}
    if status and status not in STATUSES:
        problems["status"] = ("décision inconnue", "unknown decision")
    elif status:
        values["status"] = status
    reason = _text(form, "reason")
    if status == "rejected" and not reason:
        problems["reason"] = (
            "indiquez pourquoi c'est un faux positif",
            "say why this is a false positive",
        )
    if len(reason) > MAX_TEXT:
        problems["reason"] = ("raison trop longue", "reason too long")
    values["reason"] = (reason or None) if status == "rejected" else None
    if status == "corrected":
        try:
            values["product"] = check_product(_text(form, "product"))
        except FormProblems as exc:
            problems.update(exc.fields)
    try:
        values |= parse_details(form)
    except FormProblems as exc:
        problems.update(exc.fields)
    if problems:
        raise FormProblems(problems)
    return values


# --- Recording decisions --------------------------------------------------------------------

_COMPARED = ("status", "product", "manual", "reason", *DETAIL_FIELDS)


def _as_dict(row: Row[Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {name: getattr(row, name) for name in _COMPARED}


def _write(
    connection: Connection,
    user: User,
    meta: Row[Any],
    key: str,
    kind: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    now: datetime,
) -> None:
    """Store a decision on an inventory's organisation and its audit entry."""
    decisions.put(
        connection,
        meta.organisation_id,
        key,
        after
        | {"kind": kind, "inventory_id": meta.id, "decided_at": now, "decided_by": user.username},
    )
    audit.append(
        connection,
        at=now,
        username=user.username,
        action=action,
        subject=key,
        organisation_id=meta.organisation_id,
        inventory_id=meta.id,
        before=json.dumps(before, ensure_ascii=False) if before else None,
        after=json.dumps(after, ensure_ascii=False),
    )


def record(
    engine: Engine,
    user: User,
    inventory_id: str,
    key: str,
    kind: str,
    values: dict[str, Any],
) -> bool:
    """Store a decision and its audit entry; False when it changes nothing (a resubmission)."""
    require_reviewer(user)
    now = datetime.now(UTC)
    with db.write_transaction(engine) as connection:
        meta = visible_inventory(connection, user, inventory_id)
        before = _as_dict(decisions.get(connection, meta.organisation_id, key))
        after = {name: values.get(name) for name in _COMPARED}
        if before == after:
            return False
        _write(connection, user, meta, key, kind, f"decision.{kind}", before, after, now)
    return True


def add_key(product: str | None, name: str, vendor: str) -> str:
    """The key of a product added by hand: the same product added twice is one product."""
    if product:
        return f"add:{product}"
    slug = unicodedata.normalize("NFKD", f"{vendor} {name}").encode("ascii", "ignore").decode()
    return "add:" + re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")[:120]


def parse_addition(form: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """A product added by hand: from the catalog, or a free entry with vendor, country and
    category. Returns its key and decision values."""
    product = _text(form, "product")
    problems: dict[str, tuple[str, str]] = {}
    values: dict[str, Any] = {"status": "confirmed", "product": None, "manual": None}
    if product:
        try:
            values["product"] = check_product(product)
        except FormProblems as exc:
            problems.update(exc.fields)
    else:
        entry = {name: _text(form, name) for name in ("name", "vendor", "country", "category")}
        if not entry["name"]:
            problems["name"] = (
                "choisissez un produit du catalogue, ou donnez au moins le nom du produit",
                "pick a catalog product, or give at least the product's name",
            )
        if not entry["vendor"]:
            problems["vendor"] = ("nom de l'éditeur requis", "vendor name required")
        country = entry["country"].upper()
        if country and not re.fullmatch(r"[A-Z]{2}", country):
            problems["country"] = (
                "pays : code ISO à deux lettres, par exemple FR, DE ou US",
                "country: two-letter ISO code, e.g. FR, DE or US",
            )
        entry["country"] = country
        if entry["category"] not in {c.value for c in Category}:
            problems["category"] = ("choisissez une catégorie", "pick a category")
        if any(len(value) > 300 for value in entry.values()):
            problems["name"] = ("300 caractères au plus par champ", "300 characters per field")
        values["manual"] = json.dumps(entry, ensure_ascii=False, sort_keys=True)
    try:
        details = parse_details(form)
    except FormProblems as exc:
        problems.update(exc.fields)
        details = {}
    if problems:
        raise FormProblems(problems)
    key = add_key(values["product"], _text(form, "name"), _text(form, "vendor"))
    return key, values | details


def validate(engine: Engine, user: User, inventory_id: str) -> bool:
    """Make the inventory its organisation's current validated one, keeping its findings as
    decided now; False when it already was validated (a resubmission)."""
    require_reviewer(user)
    now = datetime.now(UTC)
    with db.write_transaction(engine) as connection:
        meta = visible_inventory(connection, user, inventory_id)
        if meta.status == "validated":
            return False
        built = build(connection, meta)
        # Validating accepts the findings nobody decided on: they are confirmed, so the next
        # scan of the organisation asks again only about what changed.
        pending = frozenset(item.key for item in built.findings if item.state == "pending")
        for item in built.findings:
            if item.key not in pending:
                continue
            before = _as_dict(item.decision)
            after = (before or dict.fromkeys(_COMPARED)) | {"status": "confirmed"}
            _write(
                connection,
                user,
                meta,
                item.key,
                "finding",
                "decision.validation",
                before,
                after,
                now,
            )
        kept = snapshot(built, confirmed=pending)
        inventories.validate(
            connection, inventory_id, user.username, now, orjson.dumps(kept).decode()
        )
        dashboards.record(
            connection,
            inventory_id=inventory_id,
            organisation_id=meta.organisation_id,
            scanned_at=meta.finished_at,
            validated_at=now,
            kept=kept,
        )
        audit.append(
            connection,
            at=now,
            username=user.username,
            action="inventory.validate",
            subject=f"inventory:{inventory_id}",
            organisation_id=meta.organisation_id,
            inventory_id=inventory_id,
            before=json.dumps({"status": meta.status}),
            after=json.dumps({"status": "validated", "findings": len(kept)}),
        )
    return True


def set_status(engine: Engine, user: User, inventory_id: str, status: str) -> Row[Any]:
    """Validate, reject or reopen an inventory as a whole (the API's review call)."""
    if status == "validated":
        validate(engine, user, inventory_id)
    else:
        require_reviewer(user)
        with db.write_transaction(engine) as connection:
            meta = visible_inventory(connection, user, inventory_id)
            if meta.status != status:
                inventories.set_status(connection, inventory_id, status)
                if meta.status == "validated":
                    dashboards.forget(connection, inventory_id, meta.organisation_id)
                audit.append(
                    connection,
                    at=datetime.now(UTC),
                    username=user.username,
                    action=f"inventory.{status}",
                    subject=f"inventory:{inventory_id}",
                    organisation_id=meta.organisation_id,
                    inventory_id=inventory_id,
                    before=json.dumps({"status": meta.status}),
                    after=json.dumps({"status": status}),
                )
    with engine.connect() as connection:
        return visible_inventory(connection, user, inventory_id)
