"""The figures of a validated inventory: dependency indexes, euros validated and estimated, per
product and per vendor, computed once when the inventory is validated.

Input is the inventory's validated snapshot (`review.snapshot`: each finding as decided, with
the person's criticality, replaceability, annual cost and count applied). Each finding is scored
again with the decided values (`fingerprints.scoring.score`), so a criticality or a cost entered
by a reviewer moves the index. Findings group into one line per product, the unit of the TIE
Break diagnostic.

Euros come in two kinds that are never added together silently:
- **validated**: annual costs a person entered (`annual_cost_eur` of a decision);
- **estimated**: for a product without a validated cost, the catalog's public reference price
  (`fingerprints.schema.Price`, sourced and dated) times a count: the number a person entered
  (`licences`), else the count the evidence gives (users from a directory, devices and servers
  from fleet imports, else the number of places the product was seen). A product without a
  sourced price is never estimated; a usage-priced product is marked not estimable.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from fingerprints.catalog import Catalog, default_catalog
from fingerprints.scoring import ScoringConfig, default_scoring, score
from inventory import Category, Criticality, Jurisdiction, Score

EstimateStatus = Literal["validated", "estimated", "not-estimable", "no-count", "no-price"]
CountSource = Literal["person", "directory", "fleet", "evidence", "organisation"]

CRITICALITY_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}
USAGE_ORDER = {"former": 0, "partial": 1, "current": 2}
JURISDICTIONS = tuple(j.value for j in Jurisdiction)
CATEGORIES = tuple(c.value for c in Category)
NON_EU = Jurisdiction.NON_EU.value

UNIT_WORDS = {
    "user": ("utilisateur", "user"),
    "device": ("poste", "device"),
    "server": ("serveur", "server"),
    "organisation": ("organisation", "organisation"),
}
COUNT_WORDS: dict[str, tuple[str, str]] = {
    "person": ("nombre saisi par une personne", "count entered by a person"),
    "directory": ("comptes actifs de l'annuaire", "enabled directory accounts"),
    "fleet": (
        "machines comptées par l'annuaire ou l'inventaire de parc",
        "machines counted by the directory or the fleet inventory",
    ),
    "evidence": ("emplacements où le produit a été vu", "places where the product was seen"),
    "organisation": ("une organisation", "one organisation"),
}


def euros_text(value: float, english: bool = False) -> str:
    """12 500,50 € in French (narrow no-break space between thousands), 12,500.50 € in English."""
    whole = round(value, 2)
    text = f"{whole:,.2f}" if whole != int(whole) else f"{int(whole):,}"
    if english:
        return f"{text} €"
    return text.replace(",", "\u202f").replace(".", ",") + "\u00a0€"


@dataclass(frozen=True, slots=True)
class Estimate:
    """How a product's annual euros are known: validated by a person, estimated from a sourced
    price and a count, or why not."""

    status: EstimateStatus
    eur: float | None = None
    unit: str | None = None
    unit_price: float | None = None
    count: int | None = None
    count_source: CountSource | None = None
    offer: str | None = None
    source: str | None = None
    url: str | None = None
    date: str | None = None
    reason: str | None = None

    def explain(self, english: bool = False) -> str:
        """One sentence a non-specialist can check: the price, the count, where both come from."""
        if self.status == "validated":
            return (
                "annual cost entered by a person"
                if english
                else "coût annuel saisi par une personne"
            )
        if self.status == "no-price":
            return (
                "no sourced reference price in the catalog: not estimated"
                if english
                else "pas de prix de référence sourcé au catalogue : non estimé"
            )
        if self.status == "not-estimable":
            return (
                f"not estimable: {self.reason} (source: {self.source}, {self.date})"
                if english
                else f"non estimable : {self.reason} (source : {self.source}, {self.date})"
            )
        unit_fr, unit_en = UNIT_WORDS.get(self.unit or "", ("unité", "unit"))
        price = euros_text(self.unit_price or 0, english)
        if self.status == "no-count":
            return (
                f"reference price {price} per {unit_en} per year, but no count of {unit_en}s: "
                "enter the number of users or licences"
                if english
                else f"prix de référence {price} par {unit_fr} et par an, mais aucun nombre "
                f"de {unit_fr}s : saisissez le nombre d'utilisateurs ou de licences"
            )
        where_fr, where_en = COUNT_WORDS[self.count_source or "evidence"]
        total = euros_text(self.eur or 0, english)
        if english:
            return (
                f"{price} per {unit_en} per year × {self.count} ({where_en}) = {total}; "
                f"price: {self.offer or ''} — {self.source}, {self.date}"
            )
        return (
            f"{price} par {unit_fr} et par an × {self.count} ({where_fr}) = {total} ; "
            f"prix : {self.offer or ''} — {self.source}, {self.date}"
        )

    def as_json(self) -> dict[str, Any]:
        """The estimate as stored with the inventory's figures."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class ProductLine:
    """One product of a validated inventory, with everything the diagnostic's line holds."""

    key: str
    product: str
    product_name: str
    vendor: str
    vendor_name: str
    vendor_country: str | None
    controller: str | None
    controller_name: str | None
    controller_country: str | None
    jurisdiction: str
    exposures: list[str]
    secnumcloud: bool
    category: str
    domain: str
    open_source: bool | None
    licence: str | None
    criticality: str
    replaceability: str
    usage: str
    in_catalog: bool
    loci: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    findings: int = 0
    evidence: int = 0
    score: float | None = None
    factors: list[dict[str, Any]] = field(default_factory=list)
    validated_eur: float | None = None
    estimate: Estimate = field(default_factory=lambda: Estimate("no-price"))
    alternatives: list[str] = field(default_factory=list)
    alternative_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def estimated_eur(self) -> float | None:
        """Euros estimated from the catalog price, when the cost was not validated."""
        return self.estimate.eur if self.estimate.status == "estimated" else None

    @property
    def euros(self) -> float:
        """Validated euros, else estimated euros, else 0."""
        if self.validated_eur is not None:
            return self.validated_eur
        return self.estimated_eur or 0.0

    def as_json(self) -> dict[str, Any]:
        """The line as stored and exported in JSON."""
        data = {name: getattr(self, name) for name in self.__slots__ if name != "estimate"}
        data["estimate"] = self.estimate.as_json()
        data["estimated_eur"] = self.estimated_eur
        return data


@dataclass(slots=True)
class VendorTotal:
    """A vendor's weight in an inventory: products, findings, euros, worst criticality."""

    vendor: str
    vendor_name: str
    jurisdiction: str
    products: int = 0
    findings: int = 0
    euros_validated: float = 0.0
    euros_estimated: float = 0.0
    criticality: str = "low"

    @property
    def euros(self) -> float:
        """Validated plus estimated euros (estimates only where nothing was validated)."""
        return self.euros_validated + self.euros_estimated


@dataclass(slots=True)
class Metrics:
    """The figures of one validated inventory."""

    index: dict[str, float]
    findings_by_jurisdiction: dict[str, int]
    euros_validated: dict[str, float]
    euros_estimated: dict[str, float]
    products: list[ProductLine]
    vendors: list[VendorTotal]
    signature: str

    @property
    def findings(self) -> int:
        """How many findings (product at a place) the inventory holds."""
        return sum(self.findings_by_jurisdiction.values())

    @property
    def total_validated(self) -> float:
        """All validated euros."""
        return round(sum(self.euros_validated.values()), 2)

    @property
    def total_estimated(self) -> float:
        """All estimated euros."""
        return round(sum(self.euros_estimated.values()), 2)

    def non_eu_products(self) -> list[ProductLine]:
        """Products under non-European control, most critical and costliest first."""
        lines = [line for line in self.products if line.jurisdiction == NON_EU]
        return sorted(
            lines,
            key=lambda line: (
                -CRITICALITY_ORDER.get(line.criticality, 1),
                -(line.score or 0),
                -line.euros,
                line.product_name.lower(),
            ),
        )

    def top_non_eu_vendors(
        self, by: Literal["criticality", "euros"], limit: int = 10
    ) -> list[VendorTotal]:
        """Non-European vendors, by their most critical product or by euros."""
        vendors = [vendor for vendor in self.vendors if vendor.jurisdiction == NON_EU]
        if by == "euros":
            vendors = [vendor for vendor in vendors if vendor.euros > 0]
            vendors.sort(key=lambda v: (-v.euros, v.vendor_name.lower()))
        else:
            vendors.sort(
                key=lambda v: (
                    -CRITICALITY_ORDER.get(v.criticality, 1),
                    -v.products,
                    v.vendor_name.lower(),
                )
            )
        return vendors[:limit]


def _count(entry: Mapping[str, Any], name: str) -> int | None:
    attributes = entry.get("attributes") or {}
    value = attributes.get(name) if isinstance(attributes, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _estimate(
    catalog: Catalog,
    line: ProductLine,
    entries: Sequence[Mapping[str, Any]],
    directory_users: int | None,
) -> Estimate:
    if line.validated_eur is not None:
        return Estimate("validated", eur=line.validated_eur)
    product = catalog.products.get(line.product) if line.in_catalog else None
    price = product.price if product is not None else None
    if price is None:
        return Estimate("no-price")
    offer, source, url, date = price.offer, price.source, price.url, price.date.isoformat()
    if price.not_estimable is not None:
        return Estimate(
            "not-estimable",
            reason=price.not_estimable,
            offer=offer,
            source=source,
            url=url,
            date=date,
        )
    assert price.unit is not None and price.eur_per_year is not None
    count: int | None = None
    origin: CountSource | None = None
    entered = [value for entry in entries if (value := entry.get("licences")) is not None]
    if entered:
        count, origin = max(int(value) for value in entered), "person"
    elif price.unit == "organisation":
        count, origin = 1, "organisation"
    elif price.unit == "user":
        users = [value for entry in entries if (value := _count(entry, "users")) is not None]
        if users:
            count, origin = max(users), "directory"
        elif directory_users is not None:
            count, origin = directory_users, "directory"
    else:
        name = "devices" if price.unit == "device" else "servers"
        fleet = [value for entry in entries if (value := _count(entry, name)) is not None]
        if fleet:
            count, origin = sum(fleet), "fleet"
        elif line.loci:
            count, origin = len(line.loci), "evidence"
    if count is None or origin is None:
        return Estimate(
            "no-count",
            unit=price.unit,
            unit_price=price.eur_per_year,
            offer=offer,
            source=source,
            url=url,
            date=date,
        )
    return Estimate(
        "estimated",
        eur=round(price.eur_per_year * count, 2),
        unit=price.unit,
        unit_price=price.eur_per_year,
        count=count,
        count_source=origin,
        offer=offer,
        source=source,
        url=url,
        date=date,
    )


def _rescore(entry: Mapping[str, Any], scoring: ScoringConfig, replaceability: str) -> Score:
    cost = entry.get("annual_cost_eur")
    return score(
        scoring,
        jurisdiction=Jurisdiction(entry.get("jurisdiction", "unknown")),
        open_source=entry.get("open_source"),
        criticality=Criticality(entry.get("criticality") or "medium"),
        replaceability=replaceability,  # type: ignore[arg-type]
        alternatives=len(entry.get("alternatives") or []),
        annual_cost_eur=float(cost) if cost is not None else None,
        controller=entry.get("controller_name") or entry.get("controller"),
        vendor=entry.get("vendor_name"),
        vendor_country=entry.get("vendor_country"),
        controller_country=entry.get("controller_country"),
    )


def directory_user_count(entries: Iterable[Mapping[str, Any]]) -> int | None:
    """Enabled user accounts a directory reported, when a finding carries the count
    (attribute `users` of a directory product)."""
    counts = [
        value
        for entry in entries
        if entry.get("domain") == "annuaire-identite" and (value := _count(entry, "users"))
    ]
    return max(counts) if counts else None


def compute(
    entries: Sequence[Mapping[str, Any]],
    catalog: Catalog | None = None,
    scoring: ScoringConfig | None = None,
) -> Metrics:
    """The figures of a validated snapshot (`review.snapshot` entries)."""
    catalog = catalog or default_catalog()
    scoring = scoring or default_scoring()
    index_sums: dict[str, float] = defaultdict(float)
    index_weights: dict[str, float] = defaultdict(float)
    by_jurisdiction: dict[str, int] = defaultdict(int)
    lines: dict[str, ProductLine] = {}
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for entry in entries:
        product_id = str(entry.get("product") or entry.get("key") or "?")
        product = catalog.products.get(product_id)
        replaceability = str(
            entry.get("replaceability")
            or (product.replaceability if product is not None else "moderate")
        )
        rescored = _rescore(entry, scoring, replaceability)
        criticality = str(entry.get("criticality") or "medium")
        usage = str(entry.get("usage") or "current")
        jurisdiction = str(entry.get("jurisdiction") or "unknown")
        by_jurisdiction[jurisdiction] += 1
        if usage != "former":
            weight = float(getattr(scoring.index, criticality, 2))
            for key in (str(entry.get("category")), "overall"):
                index_sums[key] += weight * rescored.value
                index_weights[key] += weight
        line = lines.get(product_id)
        if line is None:
            controller = entry.get("controller")
            line = lines[product_id] = ProductLine(
                key=str(entry.get("key") or entry.get("id") or product_id),
                product=product_id,
                product_name=str(entry.get("product_name") or product_id),
                vendor=str(entry.get("vendor") or ""),
                vendor_name=str(entry.get("vendor_name") or "?"),
                vendor_country=entry.get("vendor_country"),
                controller=controller,
                controller_name=(
                    catalog.vendors[controller].name
                    if isinstance(controller, str) and controller in catalog.vendors
                    else None
                ),
                controller_country=entry.get("controller_country"),
                jurisdiction=jurisdiction,
                exposures=list(entry.get("exposures") or []),
                secnumcloud=bool(entry.get("secnumcloud")),
                category=str(entry.get("category") or "logiciel"),
                domain=str(entry.get("domain") or "autre"),
                open_source=entry.get("open_source"),
                licence=product.licence if product is not None else None,
                criticality=criticality,
                replaceability=replaceability,
                usage=usage,
                in_catalog=product is not None,
                alternatives=list(entry.get("alternatives") or []),
            )
            line.alternative_names = [
                catalog.products[alt].name if alt in catalog.products else alt
                for alt in line.alternatives
            ]
        grouped[product_id].append(entry)
        if CRITICALITY_ORDER.get(criticality, 1) > CRITICALITY_ORDER.get(line.criticality, 1):
            line.criticality = criticality
        if USAGE_ORDER.get(usage, 2) > USAGE_ORDER.get(line.usage, 2):
            line.usage = usage
        locus = str(entry.get("locus") or "")
        if locus and locus not in line.loci:
            line.loci.append(locus)
        version = entry.get("version")
        if version and str(version) not in line.versions:
            line.versions.append(str(version))
        line.findings += 1
        line.evidence += len(entry.get("evidence") or [])
        if line.score is None or rescored.value > line.score:
            line.score = rescored.value
            line.factors = [factor.model_dump() for factor in rescored.factors]
        cost = entry.get("annual_cost_eur")
        if cost is not None:
            line.validated_eur = round((line.validated_eur or 0.0) + float(cost), 2)
        note = entry.get("note")
        if note and str(note) not in line.notes:
            line.notes.append(str(note))
    users = directory_user_count(entries)
    vendors: dict[str, VendorTotal] = {}
    euros_validated: dict[str, float] = defaultdict(float)
    euros_estimated: dict[str, float] = defaultdict(float)
    for product_id, line in lines.items():
        line.estimate = _estimate(catalog, line, grouped[product_id], users)
        vendor_key = line.vendor or f"manual:{line.vendor_name}"
        total = vendors.get(vendor_key)
        if total is None:
            total = vendors[vendor_key] = VendorTotal(
                vendor_key, line.vendor_name, line.jurisdiction, criticality=line.criticality
            )
        total.products += 1
        total.findings += line.findings
        if CRITICALITY_ORDER.get(line.criticality, 1) > CRITICALITY_ORDER.get(total.criticality, 1):
            total.criticality = line.criticality
        if line.usage == "former":
            continue
        if line.validated_eur is not None:
            total.euros_validated = round(total.euros_validated + line.validated_eur, 2)
            euros_validated[line.jurisdiction] += line.validated_eur
        elif line.estimated_eur is not None:
            total.euros_estimated = round(total.euros_estimated + line.estimated_eur, 2)
            euros_estimated[line.jurisdiction] += line.estimated_eur
    order = [*CATEGORIES, "overall"]
    index = {
        key: round(index_sums[key] / index_weights[key], 1)
        for key in order
        if index_weights.get(key)
    }
    products = sorted(
        lines.values(),
        key=lambda line: (
            CATEGORIES.index(line.category) if line.category in CATEGORIES else 9,
            line.domain,
            line.product_name.lower(),
        ),
    )
    metrics = Metrics(
        index=index,
        findings_by_jurisdiction={
            k: by_jurisdiction[k] for k in JURISDICTIONS if k in by_jurisdiction
        },
        euros_validated={k: round(v, 2) for k, v in sorted(euros_validated.items())},
        euros_estimated={k: round(v, 2) for k, v in sorted(euros_estimated.items())},
        products=products,
        vendors=sorted(vendors.values(), key=lambda v: v.vendor_name.lower()),
        signature="",
    )
    metrics.signature = signature(metrics)
    return metrics


def signature(metrics: Metrics) -> str:
    """What an inventory's figures say, as a hash: two validated inventories with the same
    signature are the same point on a trajectory (a cron scan that changed nothing)."""
    summary = [
        metrics.index,
        metrics.euros_validated,
        metrics.euros_estimated,
        sorted(
            (line.product, line.criticality, line.usage, line.validated_eur, line.estimated_eur)
            for line in metrics.products
        ),
    ]
    return hashlib.sha256(orjson.dumps(summary, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Change:
    """What moved between two validated inventories of an organisation."""

    appeared: list[ProductLine]
    disappeared: list[ProductLine]
    index_before: float | None
    index_after: float | None
    euros_before: float
    euros_after: float


def changes(before: Metrics | None, after: Metrics) -> Change | None:
    """Products that appeared or disappeared, and how the index and euros moved."""
    if before is None:
        return None
    then = {line.product: line for line in before.products}
    now = {line.product: line for line in after.products}
    return Change(
        appeared=[line for key, line in now.items() if key not in then],
        disappeared=[line for key, line in then.items() if key not in now],
        index_before=before.index.get("overall"),
        index_after=after.index.get("overall"),
        euros_before=before.total_validated + before.total_estimated,
        euros_after=after.total_validated + after.total_estimated,
    )


def to_json(metrics: Metrics) -> str:
    """The figures as stored in `inventory_metrics.data` and exported as JSON."""
    return orjson.dumps(
        {
            "index": metrics.index,
            "findings_by_jurisdiction": metrics.findings_by_jurisdiction,
            "euros_validated": metrics.euros_validated,
            "euros_estimated": metrics.euros_estimated,
            "products": [line.as_json() for line in metrics.products],
            "vendors": [
                {name: getattr(vendor, name) for name in vendor.__slots__}
                for vendor in metrics.vendors
            ],
            "signature": metrics.signature,
        }
    ).decode()


def from_json(text: str) -> Metrics:
    """The figures back from `to_json`."""
    data = orjson.loads(text)
    products = []
    for raw in data.get("products", []):
        fields = {name: raw[name] for name in ProductLine.__slots__ if name in raw}
        fields["estimate"] = Estimate(**raw.get("estimate") or {"status": "no-price"})
        products.append(ProductLine(**fields))
    return Metrics(
        index=data.get("index", {}),
        findings_by_jurisdiction=data.get("findings_by_jurisdiction", {}),
        euros_validated=data.get("euros_validated", {}),
        euros_estimated=data.get("euros_estimated", {}),
        products=products,
        vendors=[VendorTotal(**raw) for raw in data.get("vendors", [])],
        signature=data.get("signature", ""),
    )
