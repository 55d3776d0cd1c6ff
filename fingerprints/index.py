"""Compile the catalog's matchers once into per-channel indexes, so matching an observation costs
a few dictionary lookups whatever the size of the catalog.

Semantics (the same as `fingerprints.naive`, the reference that tests compare against): the value
is stripped of surrounding white space, then, by matcher kind,

- `exact`: equal, case-insensitive — one dict lookup;
- `suffix`: the DNS name (lower-case, trailing dots removed) equals the pattern or ends with
  "." + pattern — the labels are walked from the right in a trie of the patterns' labels, one dict
  lookup per label while the trie goes on, so `outlook.com` never matches `evil-outlook.com` nor
  `outlook.com.attacker.fr`;
- `prefix`: starts with the pattern, case-insensitive — one dict lookup per distinct pattern length;
- `cidr`: the IP address lies in the network — the networks of a channel are cut into sorted
  disjoint segments, each knowing the networks that cover it: one binary search (IPv4 and IPv6);
- `cpe`: the `vendor:product` of a CPE 2.2 (`cpe:/a:v:p`) or 2.3 (`cpe:2.3:a:v:p`) — one lookup;
- `regex`: full match, case-insensitive, on values of at most `MAX_REGEX_INPUT` characters; all the
  regexes of a channel are joined in one alternation of named groups and run in one pass (one
  alternation per first character a match can start with, so a value meets only the regexes that
  can match it); after a match the alternatives that follow are tried too, so overlapping ones all
  fire.

The indexes look at values only: a matcher's `require` (conditions on the observation's attributes,
the package source or the Windows Publisher) is checked by the engine on the hits, per observation.
"""

from __future__ import annotations

import re
import socket
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Final

from fingerprints.catalog import Catalog, CatalogError, display_path
from fingerprints.schema import Example, Matcher, MatchKind, example_parts, publisher_key

MAX_REGEX_INPUT: Final = 4096
"""Longer values are not given to regexes (no product name or banner is that long)."""

_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>")
_NAMED_REFERENCE = re.compile(r"\(\?P=(\w+)\)")
_CONDITIONAL = re.compile(r"\(\?\((\w+)\)")


@dataclass(frozen=True, slots=True, eq=False)
class MatcherRef:
    """One matcher of the catalog, with the product it identifies and a readable label."""

    product: str
    position: int
    matcher: Matcher
    label: str


Hit = tuple[MatcherRef, Mapping[str, str]]
"""A matcher that fired, and the named groups its regex captured (empty for other kinds)."""

NO_CAPTURE: Final[Mapping[str, str]] = MappingProxyType({})
"""What non-regex matchers capture: nothing (shared, read-only)."""


def label(matcher: Matcher) -> str:
    """`dns.mx suffix mail.protection.outlook.com`: what fired, as people read it."""
    return f"{matcher.channel.value} {matcher.kind.value} {matcher.pattern}"


def parse_ip(text: str) -> tuple[int, int] | None:
    """`(4 or 6, address as an integer)`, or None when `text` is not an IP address."""
    try:
        if ":" in text:
            # A zone ("fe80::1%eth0") does not change which network the address is in.
            text, percent, zone = text.partition("%")
            if percent and (not zone or "%" in zone):
                return None
            return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError, UnicodeError):
        return None


def cpe_key(value: str) -> str | None:
    """`vendor:product` of a lower-cased CPE 2.2 or 2.3 string, or None."""
    if value.startswith("cpe:2.3:"):
        parts = value.split(":", 6)
        return f"{parts[3]}:{parts[4]}" if len(parts) >= 5 else None
    if value.startswith("cpe:/"):
        parts = value.split(":", 5)
        return f"{parts[2]}:{parts[3]}" if len(parts) >= 4 else None
    return None


def _rename_groups(pattern: str, alternative: int) -> str:
    """Prefix the pattern's group names so that patterns can share one alternation."""
    pattern = _NAMED_GROUP.sub(lambda m: f"(?P<_{alternative}_{m[1]}>", pattern)
    pattern = _NAMED_REFERENCE.sub(lambda m: f"(?P=_{alternative}_{m[1]})", pattern)
    return _CONDITIONAL.sub(lambda m: f"(?(_{alternative}_{m[1]})", pattern)


class _CombinedRegex:
    """Regexes of one bucket compiled together, on first use; `hits` finds every one that matches.

    Two patterns: an alternation, which finds the first regex that full-matches (or none, the
    common case, in one pass), and, compiled only once some value matched, a chain of optional
    lookaheads `(?:(?=(?P<_i>regex_i)\\Z)|)`, which records in one pass every regex that
    full-matches. A value that several regexes match thus costs two passes, whatever their
    positions, and a bucket costs at most two compilations.
    """

    def __init__(self, refs: Sequence[MatcherRef], groups: Mapping[int, list[str]]) -> None:
        self.refs = list(refs)
        self.groups = [groups[id(ref)] for ref in self.refs]
        self._first: re.Pattern[str] | None = None
        self._every: re.Pattern[str] | None = None
        self._slots: list[int] = []

    @cached_property
    def _parts(self) -> list[str]:
        """Each regex with its groups renamed for its position; both patterns are built on it."""
        return [_rename_groups(ref.matcher.pattern, i) for i, ref in enumerate(self.refs)]

    def compile(self) -> None:
        """Compile both patterns now rather than at first use."""
        self._compile_first()
        self._compile_every()

    def _compile_first(self) -> re.Pattern[str]:
        alternatives = "|".join(f"(?P<_{i}>{part})" for i, part in enumerate(self._parts))
        self._first = re.compile(f"(?:{alternatives})", re.IGNORECASE)
        return self._first

    def _compile_every(self) -> re.Pattern[str]:
        chain = "".join(f"(?:(?=(?P<_{i}>{part})\\Z)|)" for i, part in enumerate(self._parts))
        every = re.compile(chain, re.IGNORECASE)
        self._slots = [every.groupindex[f"_{i}"] for i in range(len(self.refs))]
        self._every = every
        return every

    def _hit(self, match: re.Match[str], alternative: int) -> Hit:
        captured: dict[str, str] = {}
        for name in self.groups[alternative]:
            text = match.group(f"_{alternative}_{name}")
            if text is not None:
                captured[name] = text
        return self.refs[alternative], captured

    def hits(self, value: str) -> list[Hit]:
        """Every regex of the bucket that full-matches `value`, in the bucket's order."""
        first = self._first or self._compile_first()
        match = first.fullmatch(value)
        if match is None:
            return []
        alternative = int(str(match.lastgroup)[1:])
        found = [self._hit(match, alternative)]
        if alternative + 1 < len(self.refs):
            every = (self._every or self._compile_every()).match(value)
            assert every is not None  # every lookahead is optional: the chain always matches
            spans = every.regs
            slots = self._slots
            for later in range(alternative + 1, len(slots)):
                if spans[slots[later]][0] >= 0:
                    found.append(self._hit(every, later))
        return found


def _pattern_facts(ref: MatcherRef) -> tuple[list[str], frozenset[str] | None]:
    """Names of the pattern's groups, and the characters a match can start with (None: any).

    One parse gives both; compiling happens later, per bucket, only for the values a scan sees.
    """
    try:
        parsed = re._parser.parse(  # type: ignore[attr-defined]
            f"(?P<_0>{_rename_groups(ref.matcher.pattern, 0)})", re.IGNORECASE
        )
    except re.error as exc:
        # The schema compiles each pattern alone; this only fires if renaming breaks one.
        raise CatalogError([f"{ref.product}: {ref.label}: {exc}"]) from None
    groups = [name.removeprefix("_0_") for name in parsed.state.groupdict if name != "_0"]
    return groups, _first_of(parsed)


def first_characters(pattern: str) -> frozenset[str] | None:
    """Lower-case ASCII characters a match of `pattern` can start with; None if unbounded."""
    try:
        parsed = re._parser.parse(pattern, re.IGNORECASE)  # type: ignore[attr-defined]
    except re.error:
        return None
    return _first_of(parsed)


def _first_of(parsed: Any) -> frozenset[str] | None:
    try:
        characters, nullable = _first(list(parsed.data))
    except Exception:  # noqa: BLE001 - a private parser's surprise only costs the shortcut
        return None
    return None if characters is None or nullable else frozenset(characters)


def _first(items: list[tuple[Any, Any]]) -> tuple[set[str] | None, bool]:
    """First characters of a parsed sequence, and whether it can match the empty string."""
    found: set[str] = set()
    for op, argument in items:
        name = str(op)
        if name == "AT":
            continue  # anchors and \b take no character
        if name == "LITERAL":
            first: set[str] | None = _ascii({chr(argument)})
            nullable = False
        elif name == "IN":
            first, nullable = _ascii_set(argument), False
        elif name == "SUBPATTERN":
            first, nullable = _first(list(argument[-1].data))
        elif name == "BRANCH":
            first, nullable = set(), False
            for branch in argument[1]:
                branch_first, branch_nullable = _first(list(branch.data))
                if branch_first is None:
                    return None, True
                first |= branch_first
                nullable = nullable or branch_nullable
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            first, nullable = _first(list(argument[2].data))
            nullable = nullable or argument[0] == 0
        else:
            return None, True
        if first is None:
            return None, True
        found |= first
        if not nullable:
            return found, False
    return found, True


def _ascii(characters: set[str]) -> set[str] | None:
    if all(c.isascii() for c in characters):
        return {c.lower() for c in characters}
    return None


def _ascii_set(items: list[tuple[Any, Any]]) -> set[str] | None:
    characters: set[str] = set()
    for op, argument in items:
        if str(op) == "LITERAL":
            characters.add(chr(argument))
        elif str(op) == "RANGE" and argument[1] < 128:
            characters.update(chr(code) for code in range(argument[0], argument[1] + 1))
        else:
            return None
    return _ascii(characters)


class _RegexSet:
    """The regexes of one channel, bucketed by the first character a match can start with.

    A value starting with an ASCII character is tried against the regexes that can start with it
    plus those whose start is unbounded; any other value (empty, non-ASCII first character, which
    case-insensitive matching may fold onto ASCII) against all of them.
    """

    def __init__(self, refs: Sequence[MatcherRef]) -> None:
        facts = [_pattern_facts(ref) for ref in refs]
        groups = {id(ref): names for ref, (names, _) in zip(refs, facts, strict=True)}
        firsts = [first for _, first in facts]
        self.all = _CombinedRegex(refs, groups)
        keys = set().union(*(first for first in firsts if first is not None))
        self.buckets = {
            key: _CombinedRegex(
                [
                    ref
                    for ref, first in zip(refs, firsts, strict=True)
                    if first is None or key in first
                ],
                groups,
            )
            for key in keys
        }
        unbounded = [ref for ref, first in zip(refs, firsts, strict=True) if first is None]
        self.unbounded = _CombinedRegex(unbounded, groups) if unbounded else None

    def hits(self, value: str) -> list[Hit]:
        """Every regex that full-matches `value`."""
        if not value or not value[0].isascii():
            return self.all.hits(value)
        combined = self.buckets.get(value[0].lower(), self.unbounded)
        return combined.hits(value) if combined is not None else []


class _Intervals:
    """IP networks of one family as sorted disjoint segments, each with the matchers covering it."""

    def __init__(self, networks: Sequence[tuple[int, int, MatcherRef]]) -> None:
        opening: dict[int, list[int]] = {}
        closing: dict[int, list[int]] = {}
        for order, (start, end, _ref) in enumerate(networks):
            opening.setdefault(start, []).append(order)
            closing.setdefault(end + 1, []).append(order)
        self.starts = sorted(opening.keys() | closing.keys())
        self.hits: list[list[Hit]] = []
        active: set[int] = set()
        for bound in self.starts:
            active.difference_update(closing.get(bound, ()))
            active.update(opening.get(bound, ()))
            self.hits.append([(networks[order][2], NO_CAPTURE) for order in sorted(active)])

    def lookup(self, address: int) -> list[Hit]:
        """Matchers whose network contains `address` (one binary search)."""
        position = bisect_right(self.starts, address) - 1
        return self.hits[position] if position >= 0 else []


class _Label:
    """A node of the suffix trie: matchers whose pattern ends here, and the labels to the left."""

    __slots__ = ("children", "hits")

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.children: dict[str, _Label] = {}


@dataclass(slots=True)
class ChannelIndex:
    """The compiled matchers of one channel; each table holds ready-made hits."""

    exact: dict[str, list[Hit]] = field(default_factory=dict)
    suffix: dict[str, _Label] = field(default_factory=dict)
    prefix: dict[int, dict[str, list[Hit]]] = field(default_factory=dict)
    cidr: dict[int, _Intervals] = field(default_factory=dict)
    cpe: dict[str, list[Hit]] = field(default_factory=dict)
    regex_refs: list[MatcherRef] = field(default_factory=list)
    _regex: _RegexSet | None = None

    @property
    def regex(self) -> _RegexSet | None:
        """The channel's regexes, compiled on first use: a scan that never sees a channel (a
        host scan and the DNS channels, say) never pays for compiling its regexes."""
        if self._regex is None and self.regex_refs:
            self._regex = _RegexSet(self.regex_refs)
        return self._regex

    def add_suffix(self, pattern: str, hit: Hit) -> None:
        """Insert a domain suffix in the trie, labels from the right."""
        children = self.suffix
        node = None
        for part in reversed(pattern.split(".")):
            node = children.setdefault(part, _Label())
            children = node.children
        assert node is not None  # a pattern has at least one label
        node.hits.append(hit)

    def lookup(self, value: str) -> list[Hit]:
        """Every matcher of this channel that fires on `value`."""
        found: list[Hit] = []
        text = value.strip()
        lowered = text.lower()
        if self.exact:
            hits = self.exact.get(lowered)
            if hits:
                found += hits
        if self.suffix:
            # Walk the labels from the right while the trie goes on: a name under no known
            # domain costs one lookup, however many labels it has.
            name = lowered.rstrip(".")
            children = self.suffix
            end = len(name)
            while True:
                dot = name.rfind(".", 0, end)
                node = children.get(name[dot + 1 : end])
                if node is None:
                    break
                if node.hits:
                    found += node.hits
                if dot < 0:
                    break
                children, end = node.children, dot
        if self.prefix:
            for length, prefixes in self.prefix.items():
                hits = prefixes.get(lowered[:length])
                if hits:
                    found += hits
        if self.cidr:
            address = parse_ip(text)
            if address is not None:
                intervals = self.cidr.get(address[0])
                if intervals is not None:
                    found += intervals.lookup(address[1])
        if self.cpe:
            key = cpe_key(lowered)
            if key is not None:
                hits = self.cpe.get(key)
                if hits:
                    found += hits
        if self.regex_refs and len(text) <= MAX_REGEX_INPUT:
            regex = self._regex or self.regex
            assert regex is not None  # regex_refs is not empty
            found += regex.hits(text)
        return found


class MatchIndex:
    """Per-channel indexes of every matcher of a catalog."""

    def __init__(self, refs: Iterable[MatcherRef]) -> None:
        self.refs = list(refs)
        self.channels: dict[str, ChannelIndex] = {}
        regexes: dict[str, list[MatcherRef]] = {}
        networks: dict[tuple[str, int], list[tuple[int, int, MatcherRef]]] = {}
        for ref in self.refs:
            matcher = ref.matcher
            channel = self.channels.setdefault(matcher.channel.value, ChannelIndex())
            pattern = matcher.pattern.lower()
            hit: Hit = (ref, NO_CAPTURE)
            if matcher.kind is MatchKind.EXACT:
                channel.exact.setdefault(pattern, []).append(hit)
            elif matcher.kind is MatchKind.SUFFIX:
                channel.add_suffix(pattern, hit)
            elif matcher.kind is MatchKind.PREFIX:
                channel.prefix.setdefault(len(pattern), {}).setdefault(pattern, []).append(hit)
            elif matcher.kind is MatchKind.CIDR:
                version, start, end = _network(pattern)
                networks.setdefault((matcher.channel.value, version), []).append((start, end, ref))
            elif matcher.kind is MatchKind.CPE:
                channel.cpe.setdefault(pattern, []).append(hit)
            else:
                regexes.setdefault(matcher.channel.value, []).append(ref)
        for (name, version), ranges in networks.items():
            self.channels[name].cidr[version] = _Intervals(ranges)
        for name, refs in regexes.items():
            self.channels[name].regex_refs = refs

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> MatchIndex:
        """Compile every matcher of `catalog`."""
        return cls(
            MatcherRef(product.id, position, matcher, label(matcher))
            for product in catalog.products.values()
            for position, matcher in enumerate(product.matchers)
        )

    def compile_all(self) -> None:
        """Build every channel's regex set now rather than at first use (for long runs)."""
        for index in self.channels.values():
            regex = index.regex
            if regex is not None:
                for combined in (regex.all, regex.unbounded, *regex.buckets.values()):
                    if combined is not None:
                        combined.compile()

    def lookup(self, channel: str, value: str) -> list[Hit]:
        """Every matcher that fires on `value` seen on `channel`."""
        index = self.channels.get(channel)
        return index.lookup(value) if index is not None else []


def _network(pattern: str) -> tuple[int, int, int]:
    """`(IP version, first address, last address)` of a CIDR pattern."""
    address, _, length_text = pattern.partition("/")
    parsed = parse_ip(address)
    if parsed is None:
        raise ValueError(f"not a network: {pattern}")
    version, start = parsed
    bits = 32 if version == 4 else 128
    length = int(length_text) if length_text else bits
    return version, start, start | ((1 << (bits - length)) - 1)


def check_publishers(catalog: Catalog) -> list[str]:
    """List the Publisher names, the macOS Team IDs and the install folders that several vendors
    declare: a program must have one vendor."""
    problems = []
    for field_name in ("publishers", "team_ids", "folders"):
        owner: dict[str, str] = {}
        for vendor in catalog.vendors.values():
            names: list[str] = getattr(vendor, field_name)
            for position, name in enumerate(names):
                key = publisher_key(name)
                other = owner.setdefault(key, vendor.id)
                if other != vendor.id:
                    problems.append(
                        f"{display_path(catalog.files[vendor.id])}: "
                        f"vendor.{field_name}[{position}]: {name!r} "
                        f"déjà déclaré par {display_path(catalog.files[other])} / "
                        f"already declared by {display_path(catalog.files[other])}"
                    )
    return problems


def check_examples(catalog: Catalog, index: MatchIndex | None = None) -> list[str]:
    """Run every `match` and `no_match` example through the compiled index (with its attributes
    when it has some); list the failures, and the publishers several vendors declare."""
    index = index or MatchIndex.from_catalog(catalog)
    problems = check_publishers(catalog)
    # Products were loaded file by file, in file order: count them per vendor.
    position_in_file: dict[str, int] = {}
    per_vendor: dict[str, int] = {}
    for product_id, vendor_id in catalog.vendor_of.items():
        position_in_file[product_id] = per_vendor.get(vendor_id, 0)
        per_vendor[vendor_id] = position_in_file[product_id] + 1
    for ref in index.refs:
        matcher = ref.matcher
        where = (
            f"{display_path(catalog.files[catalog.vendor_of[ref.product]])}: "
            f"products[{position_in_file[ref.product]}] ({ref.product})"
            f".matchers[{ref.position}]"
        )
        for example in matcher.match:
            if not fires(index, ref, example):
                problems.append(
                    f"{where}.match: {example!r} ne correspond pas / does not match "
                    f"{label(matcher)}"
                )
        for example in matcher.no_match:
            if fires(index, ref, example):
                problems.append(
                    f"{where}.no_match: {example!r} correspond / matches {label(matcher)}"
                )
    return problems


def fires(index: MatchIndex, ref: MatcherRef, example: Example) -> bool:
    """Whether the matcher fires on an example: its value, then its attributes (`require`)."""
    value, attributes = example_parts(example)
    return ref.matcher.accepts(attributes) and any(
        hit[0] is ref for hit in index.lookup(ref.matcher.channel.value, value)
    )
