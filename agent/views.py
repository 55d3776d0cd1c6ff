"""How findings and probe runs are shown to a person, shared by the CLI and the TUI.

Labels (French first, English with TIEBREAK_LANG=en), the colour of each probe state and
jurisdiction class, findings grouped by TIE Break category, the dependency index and the text of a
finding's detail. Everything here is plain text and rich style names: no rich or Textual import,
so the CLI and the TUI render the same words their own way. Values that came from the scanned
systems are returned as they are; the caller displays them as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.i18n import t
from agent.orchestrator import CANCELLED
from fingerprints.jurisdiction import country_name
from inventory import Category, Finding, Inventory, Jurisdiction, Observation, ProbeRun

_PROBE_STATES: Mapping[str, tuple[str, str, str]] = {
    "waiting": ("en attente", "waiting", "dim"),
    "running": ("en cours", "running", "bold cyan"),
    "ok": ("terminée", "done", "green"),
    "failed": ("échec", "failed", "bold red"),
    "timeout": ("délai dépassé", "timed out", "yellow"),
    "skipped": ("ignorée", "skipped", "dim"),
    "cancelled": ("annulée", "cancelled", "yellow"),
}
"""Probe state: French label, English label, rich style."""


def probe_state(run: ProbeRun | None, started: bool = False) -> str:
    """The state of a probe: `waiting`, `running`, or how its run ended (`cancelled` included)."""
    if run is None:
        return "running" if started else "waiting"
    if run.error is not None and run.error.startswith(CANCELLED):
        return "cancelled"
    return run.status.value


def probe_state_label(state: str) -> str:
    """A probe state as a person reads it."""
    french, english, _style = _PROBE_STATES.get(state, (state, state, ""))
    return t(french, english)


def probe_state_style(state: str) -> str:
    """The rich style of a probe state."""
    return _PROBE_STATES.get(state, ("", "", ""))[2]


def duration(seconds: float) -> str:
    """`0.4 s`, `12.3 s`, `2 min 05 s`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


_JURISDICTIONS: Mapping[Jurisdiction, tuple[str, str, str]] = {
    Jurisdiction.NON_EU: ("hors Europe", "non-European", "bold red"),
    Jurisdiction.EUROPE_OTHER: ("Europe hors UE", "Europe outside the EU", "dark_orange"),
    Jurisdiction.UNKNOWN: ("inconnue", "unknown", "yellow"),
    Jurisdiction.EU: ("Union européenne", "European Union", "green"),
    Jurisdiction.COMMUNITY: ("communautaire", "community", "cyan"),
}
"""Jurisdiction class: French label, English label, rich style; most dependent first."""

JURISDICTION_ORDER: tuple[Jurisdiction, ...] = tuple(_JURISDICTIONS)
"""Jurisdiction classes, most dependent first (the order of lists and filters)."""


def jurisdiction_label(jurisdiction: Jurisdiction | str) -> str:
    """A jurisdiction class as a person reads it."""
    text = str(jurisdiction)
    french, english, _style = _JURISDICTIONS.get(_as_jurisdiction(text), (text, text, ""))
    return t(french, english)


def jurisdiction_style(jurisdiction: Jurisdiction | str) -> str:
    """The colour of a jurisdiction class."""
    return _JURISDICTIONS.get(_as_jurisdiction(str(jurisdiction)), ("", "", ""))[2]


def _as_jurisdiction(text: str) -> Jurisdiction:
    try:
        return Jurisdiction(text)
    except ValueError:
        return Jurisdiction.UNKNOWN


_CATEGORIES: Mapping[Category, tuple[str, str]] = {
    Category.INFRASTRUCTURE: ("Infrastructure", "Infrastructure"),
    Category.POSTE_DE_TRAVAIL: ("Poste de travail", "Workstation"),
    Category.LOGICIEL: ("Logiciels", "Software"),
}
"""TIE Break categories in the diagnostic's order, with its French label."""


def category_label(category: Category | str) -> str:
    """A TIE Break category as the diagnostic names it (`overall` is the whole index)."""
    if category == "overall":
        return t("Global", "Overall")
    text = str(category)
    try:
        french, english = _CATEGORIES[Category(text)]
    except ValueError:
        return text
    return t(french, english)


@dataclass(frozen=True, slots=True)
class FindingGroup:
    """The findings of one TIE Break category, most dependent first."""

    category: Category
    label: str
    findings: tuple[Finding, ...]


def _rank(finding: Finding) -> tuple[int, float, str, str]:
    score = finding.score.value if finding.score is not None else 0.0
    order = JURISDICTION_ORDER.index(finding.jurisdiction)
    return (order, -score, finding.product_name.casefold(), finding.locus)


def group_findings(findings: Iterable[Finding]) -> list[FindingGroup]:
    """Findings per TIE Break category (empty categories left out), in the diagnostic's order."""
    by_category: dict[Category, list[Finding]] = {category: [] for category in _CATEGORIES}
    for finding in findings:
        by_category.setdefault(finding.category, []).append(finding)
    return [
        FindingGroup(category, category_label(category), tuple(sorted(items, key=_rank)))
        for category, items in by_category.items()
        if items
    ]


def products_of(
    group: FindingGroup, limit: int | None = None
) -> tuple[list[tuple[str, Jurisdiction]], int]:
    """The distinct products of a group (name, jurisdiction), at most `limit`, and how many more."""
    products = list(dict.fromkeys((f.product_name, f.jurisdiction) for f in group.findings))
    if limit is None or len(products) <= limit:
        return products, 0
    return products[:limit], len(products) - limit


def matches(finding: Finding, query: str, jurisdiction: Jurisdiction | None = None) -> bool:
    """Whether a finding passes a search (product, vendor or locus) and a jurisdiction filter."""
    if jurisdiction is not None and finding.jurisdiction is not jurisdiction:
        return False
    needle = query.strip().casefold()
    if not needle:
        return True
    haystack = (
        finding.product,
        finding.product_name,
        finding.vendor,
        finding.vendor_name,
        finding.locus,
    )
    return any(needle in text.casefold() for text in haystack)


def dependency_index(index: Mapping[str, float]) -> list[tuple[str, str]]:
    """(label, value) of the dependency index: overall first, then each category present."""
    keys = ["overall", *(c.value for c in _CATEGORIES)]
    return [(category_label(key), f"{index[key]:.0f}/100") for key in keys if key in index]


def dependency_line(index: Mapping[str, float]) -> str:
    """The dependency index on one line."""
    parts = " · ".join(f"{label} {value}" for label, value in dependency_index(index))
    return t(f"Indice de dépendance : {parts}", f"Dependency index: {parts}") if parts else ""


def jurisdiction_counts(counts: Mapping[str, int]) -> list[tuple[Jurisdiction, str, int]]:
    """(class, label, count) of findings per jurisdiction, most dependent first."""
    return [
        (j, jurisdiction_label(j), counts[j.value]) for j in JURISDICTION_ORDER if j.value in counts
    ]


_COUNTS: Mapping[str, tuple[str, str]] = {
    "devices": ("postes", "devices"),
    "servers": ("serveurs", "servers"),
    "unsupported": ("hors support", "unsupported"),
    "users": ("utilisateurs", "users"),
    "user_accounts": ("comptes utilisateurs", "user accounts"),
    "computers": ("ordinateurs", "computers"),
    "computer_accounts": ("comptes ordinateurs", "computer accounts"),
    "groups": ("groupes", "groups"),
    "mailboxes": ("boîtes aux lettres", "mailboxes"),
    "provider_addresses": ("adresses chez le fournisseur", "addresses at the provider"),
    "provider_service": ("service du fournisseur", "provider's service"),
    "provider_region": ("région du fournisseur", "provider's region"),
    "partial": ("comptage partiel", "partial count"),
    "note": ("note", "note"),
}
"""Labels of the counts and facts an engine finding carries in `attributes`."""


@dataclass(frozen=True, slots=True)
class DetailLine:
    """One line of a finding's detail: a label and a value (the value may come from a scan)."""

    label: str
    value: str
    style: str = ""


@dataclass(frozen=True, slots=True)
class FindingDetail:
    """What a person needs to judge a finding, in sections."""

    title: str
    facts: tuple[DetailLine, ...]
    counts: tuple[DetailLine, ...]
    factors: tuple[DetailLine, ...]
    alternatives: tuple[str, ...]
    evidence: tuple[DetailLine, ...]


_WORDS: Mapping[str, tuple[str, str]] = {
    "strong": ("forte", "strong"),
    "weak": ("faible", "weak"),
    "low": ("faible", "low"),
    "medium": ("moyenne", "medium"),
    "high": ("haute", "high"),
    "critical": ("critique", "critical"),
    "control": ("contrôle", "control"),
    "openness": ("ouverture", "openness"),
    "criticality": ("criticité", "criticality"),
    "replaceability": ("remplaçabilité", "replaceability"),
    "money": ("coût", "money"),
}
"""Confidence, criticality and score factor names as a person reads them."""


def word(value: str) -> str:
    """A confidence, criticality or factor name in the user's language."""
    french, english = _WORDS.get(value, (value, value))
    return t(french, english)


def _yes_no(value: bool | None) -> str:
    if value is None:
        return t("inconnu", "unknown")
    return t("oui", "yes") if value else t("non", "no")


def _counts(attributes: Mapping[str, object]) -> list[DetailLine]:
    lines = []
    for key, value in attributes.items():
        if key == "systems" and isinstance(value, list):
            for system in value:
                if isinstance(system, dict):
                    release = str(system.get("release", "?"))
                    support = system.get("support")
                    ends = ""
                    if isinstance(support, dict) and support.get("ends"):
                        ended = support.get("ended") is True
                        ends = t(
                            f" (support {'terminé' if ended else 'jusqu’au'} {support['ends']})",
                            f" (support {'ended' if ended else 'until'} {support['ends']})",
                        )
                    lines.append(DetailLine(release, f"{system.get('count', '?')}{ends}"))
            continue
        if isinstance(value, dict | list):
            continue
        french, english = _COUNTS.get(key, (key.replace("_", " "), key.replace("_", " ")))
        shown = _yes_no(value) if isinstance(value, bool) else str(value)
        lines.append(DetailLine(t(french, english), shown))
    return lines


def _country(code: str | None) -> str:
    return t(country_name(code), country_name(code, english=True))


def control_lines(finding: Finding) -> list[DetailLine]:
    """The two axes of jurisdiction (where the vendor is registered, who controls it from where),
    then who develops an open-source product and what the collectivité depends on."""
    if finding.controller and finding.controller != finding.vendor:
        controller = finding.controller_name or finding.controller
        control = f"{controller} — {_country(finding.controller_country)}"
    else:
        control = t("lui-même, sans société au-dessus", "itself, no company above it")
    lines = [
        DetailLine(t("immatriculé en", "registered in"), _country(finding.vendor_country)),
        DetailLine(t("contrôlé par", "controlled by"), control),
    ]
    if finding.developer:
        lines.append(
            DetailLine(
                t("développé par", "developed by"),
                f"{finding.developer} — {_country(finding.developer_country)}",
            )
        )
    if finding.dependency_note:
        french, _, english = finding.dependency_note.partition(" / ")
        lines.append(DetailLine(t("dépendance", "dependency"), t(french, english or french)))
    return lines


def finding_detail(
    finding: Finding,
    observations: Mapping[str, Observation] | None = None,
    product_names: Mapping[str, str] | None = None,
) -> FindingDetail:
    """The detail of a finding: who controls it, its counts, score factors with their reasons,
    alternatives (by name when `product_names` knows them) and the observations behind it."""
    names = product_names or {}
    facts = [
        DetailLine(t("fournisseur", "vendor"), finding.vendor_name),
        *control_lines(finding),
        DetailLine(
            t("juridiction", "jurisdiction"),
            jurisdiction_label(finding.jurisdiction),
            jurisdiction_style(finding.jurisdiction),
        ),
    ]
    if finding.exposures:
        facts.append(DetailLine(t("exposition", "exposure"), ", ".join(finding.exposures)))
    if finding.secnumcloud:
        facts.append(DetailLine("SecNumCloud", t("qualifié", "qualified")))
    facts += [
        DetailLine(t("catégorie", "category"), category_label(finding.category)),
        DetailLine(t("où", "where"), finding.locus),
    ]
    if finding.version:
        facts.append(DetailLine("version", finding.version))
    facts += [
        DetailLine(t("logiciel libre", "open source"), _yes_no(finding.open_source)),
        DetailLine(t("confiance", "confidence"), word(finding.confidence.value)),
        DetailLine(t("criticité", "criticality"), word(finding.criticality.value)),
    ]
    if finding.score is not None:
        facts.append(DetailLine(t("score", "score"), f"{finding.score.value:.0f}/100"))
    if finding.annual_cost_eur is not None:
        facts.append(
            DetailLine(t("coût annuel", "annual cost"), f"{finding.annual_cost_eur:.0f} €")
        )
    if finding.implied_by:
        facts.append(DetailLine(t("déduit de", "implied by"), finding.implied_by))
    factors = (
        [
            DetailLine(f"{word(factor.name)} {factor.contribution:.0f}", factor.reason)
            for factor in finding.score.factors
        ]
        if finding.score is not None
        else []
    )
    evidence = []
    seen = observations or {}
    for observation_id in finding.evidence:
        observation = seen.get(observation_id)
        if observation is None:
            evidence.append(
                DetailLine(observation_id, t("(hors inventaire)", "(not in inventory)"))
            )
        else:
            evidence.append(
                DetailLine(
                    f"{observation.probe} · {observation.channel}",
                    f"{observation.value} @ {observation.locus}",
                )
            )
    return FindingDetail(
        title=f"{finding.product_name} — {finding.locus}",
        facts=tuple(facts),
        counts=tuple(_counts(finding.attributes)),
        factors=tuple(factors),
        alternatives=tuple(names.get(a, a) for a in finding.alternatives),
        evidence=tuple(evidence),
    )


def detail_text(detail: FindingDetail) -> list[tuple[str, str]]:
    """A finding's detail as (text, style) lines, for a plain terminal or a text widget."""
    colon = t(" : ", ": ")
    lines: list[tuple[str, str]] = [(detail.title, "bold")]
    lines += [(f"  {line.label}{colon}{line.value}", line.style) for line in detail.facts]
    if detail.counts:
        lines.append((t("Comptes", "Counts"), "bold"))
        lines += [(f"  {line.label}{colon}{line.value}", line.style) for line in detail.counts]
    lines.append((t("Alternatives", "Alternatives"), "bold"))
    if detail.alternatives:
        lines += [(f"  {name}", "green") for name in detail.alternatives]
    else:
        lines.append((t("  aucune connue du catalogue", "  none known to the catalog"), "dim"))
    if detail.factors:
        lines.append((t("Facteurs du score", "Score factors"), "bold"))
        lines += [(f"  {line.label}{colon}{line.value}", line.style) for line in detail.factors]
    lines.append((t("Preuves", "Evidence"), "bold"))
    lines += [(f"  {line.label}{colon}{line.value}", line.style) for line in detail.evidence]
    return lines


def observations_by_id(inventory: Inventory) -> dict[str, Observation]:
    """The inventory's observations by id (the evidence of its findings)."""
    return {observation.id: observation for observation in inventory.observations}
