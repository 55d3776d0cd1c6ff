"""SPF records (RFC 7208): parse one record, and expand its `include:` / `redirect=` chain.

Expansion follows RFC 7208's limit of 10 terms causing DNS lookups (section 4.6.4) and cuts loops
(a domain including itself, directly or not); each such stop is reported as a note, never raised.
Only include and redirect targets are fetched: they are what names a mail provider.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

LOOKUP_LIMIT = 10
"""RFC 7208 section 4.6.4: at most 10 mechanisms and modifiers that need DNS lookups."""

LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
QUALIFIERS = "+-~?"


@dataclass(frozen=True, slots=True)
class Term:
    """One SPF term: a mechanism (`include`, `ip4`, `all`…) or a modifier (`redirect`, `exp`)."""

    qualifier: str
    name: str
    value: str
    modifier: bool = False


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A parsed SPF record: its terms and the words that were not valid terms."""

    terms: tuple[Term, ...]
    invalid: tuple[str, ...] = ()

    @property
    def lookups(self) -> int:
        """How many of its terms cost a DNS lookup."""
        return sum(term.name in LOOKUP_TERMS for term in self.terms)

    def targets(self) -> list[tuple[str, str]]:
        """(`include` or `redirect`, domain) in record order."""
        return [(t.name, t.value) for t in self.terms if t.name in ("include", "redirect")]


def is_spf(text: str) -> bool:
    """Tell whether a TXT string is an SPF record (`v=spf1` then a space or the end)."""
    lowered = text.strip().lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def parse_spf(text: str) -> SpfRecord | None:
    """Parse an SPF record, or None when `text` is not one; malformed words are kept aside."""
    if not is_spf(text):
        return None
    terms: list[Term] = []
    invalid: list[str] = []
    for word in text.split()[1:]:
        qualifier = "+"
        body = word
        if body[:1] in QUALIFIERS:
            qualifier, body = body[0], body[1:]
        name, separator, value = body.partition("=")
        if separator and name.isalnum() and qualifier == "+" and word[:1] not in QUALIFIERS:
            terms.append(Term("", name.lower(), value.lower().rstrip("."), modifier=True))
            continue
        name, _, value = body.partition(":")
        name = name.split("/", 1)[0].lower()
        if name not in {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}:
            invalid.append(word)
            continue
        if name in ("include", "exists") and not value:
            invalid.append(word)
            continue
        if name in ("a", "mx"):
            value = value.split("/", 1)[0]
        terms.append(Term(qualifier, name, value.lower().rstrip(".")))
    return SpfRecord(tuple(terms), tuple(invalid))


@dataclass(frozen=True, slots=True)
class SpfTarget:
    """A domain named by an include or a redirect, how deep, and in whose record."""

    domain: str
    mechanism: str
    depth: int
    parent: str


@dataclass(slots=True)
class SpfExpansion:
    """Every include/redirect target reached, the lookups counted and what stopped the walk."""

    targets: list[SpfTarget] = field(default_factory=list)
    lookups: int = 0
    notes: list[str] = field(default_factory=list)


TxtFetcher = Callable[[str], Awaitable[list[str]]]
"""Returns the TXT strings of a domain (empty when none or on failure)."""


async def expand_spf(domain: str, record: SpfRecord, fetch_txt: TxtFetcher) -> SpfExpansion:
    """Walk includes and redirects from `domain`'s record, depth first, within the lookup limit."""
    expansion = SpfExpansion()
    await _walk(domain, record, 1, (domain,), fetch_txt, expansion)
    return expansion


async def _walk(
    domain: str,
    record: SpfRecord,
    depth: int,
    path: tuple[str, ...],
    fetch_txt: TxtFetcher,
    expansion: SpfExpansion,
) -> None:
    has_all = any(term.name == "all" for term in record.terms)
    for term in record.terms:
        # RFC 7208 6.1: a redirect is ignored when the record has an "all" mechanism.
        if term.name not in LOOKUP_TERMS or (term.name == "redirect" and has_all):
            continue
        expansion.lookups += 1
        if expansion.lookups > LOOKUP_LIMIT:
            expansion.notes.append(
                f"SPF: plus de {LOOKUP_LIMIT} requêtes, arrêt / more than {LOOKUP_LIMIT} "
                f"lookups (RFC 7208 4.6.4), stopped at {term.name}:{term.value} in {domain}"
            )
            return
        if term.name not in ("include", "redirect"):
            continue
        target = term.value
        if "%" in target:
            expansion.notes.append(f"SPF: macro non suivie / macro not expanded: {target}")
            continue
        expansion.targets.append(SpfTarget(target, term.name, depth, domain))
        if target in path:
            expansion.notes.append("SPF: boucle / include loop: " + " → ".join([*path, target]))
            continue
        child = next(filter(None, map(parse_spf, await fetch_txt(target))), None)
        if child is None:
            continue
        await _walk(target, child, depth + 1, (*path, target), fetch_txt, expansion)
