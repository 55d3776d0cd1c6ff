"""Reference matcher: tries every compiled pattern on every observation, the obvious way.

It states the matching semantics as plainly as possible, with the standard library's `ipaddress`
and one compiled regex per matcher. The property tests check that the indexes of
`fingerprints.index` give the same answers, and `benchmarks/bench_match.py` measures how much
faster the indexes are. Nothing at run time uses it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping

from fingerprints.index import MAX_REGEX_INPUT, Hit, MatcherRef
from fingerprints.schema import MatchKind

Test = Callable[[str], "Mapping[str, str] | None"]


def compile_test(ref: MatcherRef) -> Test:
    """A function telling whether the matcher fires on a value, with its captured groups."""
    kind, pattern = ref.matcher.kind, ref.matcher.pattern
    lowered_pattern = pattern.lower()
    if kind is MatchKind.EXACT:
        return lambda value: {} if value.strip().lower() == lowered_pattern else None
    if kind is MatchKind.SUFFIX:

        def suffix(value: str) -> dict[str, str] | None:
            name = value.strip().lower().rstrip(".")
            return {} if name == lowered_pattern or name.endswith("." + lowered_pattern) else None

        return suffix
    if kind is MatchKind.PREFIX:
        return lambda value: {} if value.strip().lower().startswith(lowered_pattern) else None
    if kind is MatchKind.CIDR:
        network = ipaddress.ip_network(pattern)

        def cidr(value: str) -> dict[str, str] | None:
            try:
                address = ipaddress.ip_address(value.strip())
            except ValueError:
                return None
            return {} if address.version == network.version and address in network else None

        return cidr
    if kind is MatchKind.CPE:

        def cpe(value: str) -> dict[str, str] | None:
            parts = value.strip().lower().split(":")
            if parts[:2] == ["cpe", "2.3"] and len(parts) >= 5:
                key = f"{parts[3]}:{parts[4]}"
            elif value.strip().lower().startswith("cpe:/") and len(parts) >= 4:
                key = f"{parts[2]}:{parts[3]}"
            else:
                return None
            return {} if key == lowered_pattern else None

        return cpe
    compiled = re.compile(pattern, re.IGNORECASE)

    def regex(value: str) -> dict[str, str] | None:
        text = value.strip()
        if len(text) > MAX_REGEX_INPUT:
            return None
        match = compiled.fullmatch(text)
        if match is None:
            return None
        return {k: v for k, v in match.groupdict().items() if v is not None}

    return regex


class NaiveMatcher:
    """Every matcher of the catalog, tried one after the other.

    By default a matcher's channel is compared first and its pattern tried only on its own
    channel; with `every_pattern`, every pattern is tried on every value and the channel checked
    afterwards: the literal "every pattern on every observation" baseline.
    """

    def __init__(self, refs: Iterable[MatcherRef], every_pattern: bool = False) -> None:
        self.tests = [(ref, ref.matcher.channel.value, compile_test(ref)) for ref in refs]
        self.every_pattern = every_pattern

    def lookup(self, channel: str, value: str) -> list[Hit]:
        """Every matcher that fires on `value` seen on `channel`."""
        found: list[Hit] = []
        for ref, ref_channel, test in self.tests:
            if self.every_pattern:
                captured = test(value)
                if captured is not None and ref_channel == channel:
                    found.append((ref, captured))
            elif ref_channel == channel:
                captured = test(value)
                if captured is not None:
                    found.append((ref, captured))
        return found
