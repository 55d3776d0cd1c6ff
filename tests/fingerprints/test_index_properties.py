"""Property tests: the compiled indexes answer exactly like the naive reference matcher."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from fingerprints.index import MatcherRef, MatchIndex, first_characters, label
from fingerprints.naive import NaiveMatcher
from fingerprints.schema import Matcher

LABEL = st.text(alphabet="abcxyz0-", min_size=1, max_size=4).filter(lambda s: not s.startswith("-"))
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join)


def refs(channel: str, kind: str, patterns: list[str]) -> list[MatcherRef]:
    made = []
    for number, pattern in enumerate(patterns):
        matcher = Matcher(channel=channel, kind=kind, pattern=pattern, match=["x"], no_match=["y"])  # type: ignore[arg-type]
        made.append(MatcherRef(f"p{number}", 0, matcher, label(matcher)))
    return made


def same_answers(made: list[MatcherRef], channel: str, values: list[str]) -> None:
    index, naive = MatchIndex(made), NaiveMatcher(made)
    for value in values:
        fast = sorted((ref.product, sorted(c.items())) for ref, c in index.lookup(channel, value))
        slow = sorted((ref.product, sorted(c.items())) for ref, c in naive.lookup(channel, value))
        assert fast == slow, value


@given(
    patterns=st.lists(DOMAIN, min_size=1, max_size=8, unique=True),
    prefixes=st.lists(st.sampled_from(["", "a.", "evil-", "x", "mail.", "A.B."]), max_size=3),
    suffixes=st.lists(
        st.sampled_from(["", ".", ".attacker.fr", "x", "-evil.com", ". "]), max_size=2
    ),
    noise=st.lists(st.text(max_size=30), max_size=5),
)
def test_suffix_index_equals_reference(
    patterns: list[str], prefixes: list[str], suffixes: list[str], noise: list[str]
) -> None:
    made = refs("dns.mx", "suffix", patterns)
    values = [p + pattern.upper() + s for pattern in patterns for p in prefixes for s in suffixes]
    values += [pattern for pattern in patterns] + noise
    same_answers(made, "dns.mx", values)


def test_suffix_never_matches_look_alikes() -> None:
    made = refs("dns.mx", "suffix", ["outlook.com"])
    index = MatchIndex(made)
    for value in ["evil-outlook.com", "outlook.com.attacker.fr", "xoutlook.com", "outlook.co"]:
        assert index.lookup("dns.mx", value) == []
    for value in ["outlook.com", "OUTLOOK.COM.", "a.b.outlook.com", " mx.outlook.com "]:
        assert len(index.lookup("dns.mx", value)) == 1


@given(
    patterns=st.lists(st.text(min_size=1, max_size=6).filter(str.strip), min_size=1, max_size=8),
    values=st.lists(st.text(max_size=12), max_size=10),
)
def test_prefix_index_equals_reference(patterns: list[str], values: list[str]) -> None:
    made = refs("dns.txt", "prefix", patterns)
    values = values + [p + v for p in patterns for v in values[:2]] + patterns
    same_answers(made, "dns.txt", values)


def networks(version: int) -> st.SearchStrategy[str]:
    bits = 32 if version == 4 else 128
    return st.tuples(st.integers(0, 2**bits - 1), st.integers(0, bits)).map(
        lambda t: str(ipaddress.ip_network((t[0] >> (bits - t[1]) << (bits - t[1]), t[1])))
    )


@settings(max_examples=200)
@given(
    v4=st.lists(networks(4), max_size=6),
    v6=st.lists(networks(6), max_size=6),
    addresses=st.lists(st.integers(0, 2**32 - 1), max_size=10),
    addresses6=st.lists(st.integers(0, 2**128 - 1), max_size=10),
    offsets=st.lists(st.integers(0, 2**20), max_size=4),
)
def test_cidr_index_equals_reference(
    v4: list[str], v6: list[str], addresses: list[int], addresses6: list[int], offsets: list[int]
) -> None:
    made = refs("net.remote", "cidr", v4 + v6)
    values = [str(ipaddress.IPv4Address(a)) for a in addresses]
    values += [str(ipaddress.IPv6Address(a)) for a in addresses6]
    for network in map(ipaddress.ip_network, v4 + v6):
        # Addresses inside each network, at its edges and just outside.
        top = int(network.broadcast_address)
        for offset in offsets:
            inside = int(network.network_address) + offset % network.num_addresses
            values.append(str(ipaddress.ip_address(inside)))
        values.append(str(network.network_address))
        values.append(str(network.broadcast_address))
        if top + 1 < 2**network.max_prefixlen:
            values.append(str(ipaddress.ip_address(top + 1)))
    values += ["not an ip", "1.2.3", "::1%eth0", "fe80::1%", "01.2.3.4", "::ffff:1.2.3.4"]
    same_answers(made, "net.remote", values)


REGEXES = [
    r"zoom(?: workplace)?(?: \((?P<arch>64|32)-bit\))?",
    r"zoom.*",
    r"(?P<name>[a-z]+) (?P<version>[0-9.]+)",
    r"libreoffice (?P<version>[0-9][0-9.]*)",
    r"(?P<w>a+)b(?P=w)",
    r"[0-9]+",
    # Starts that the first-character buckets must get right: optional prefixes, branches,
    # anchors, letters that case-insensitive matching folds from non-ASCII (K: Kelvin sign, ſ).
    r"(?:agysoft )?marco(?: web)?",
    r"[a-c]x|\bfoo",
    r"k.*",
    r"s[0-9]+",
    r"x*",
    r"(?:ab|)c",
]


@given(
    chosen=st.lists(st.sampled_from(REGEXES), min_size=1, max_size=6, unique=True),
    values=st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "Zoom",
                    "zoom workplace (64-bit)",
                    "LibreOffice 7.6",
                    "aabaa",
                    "12",
                    "Agysoft MARCO",
                ]
            ),
            st.text(alphabet="zomabkKſcfrx \u212a0123456789.()-", max_size=20),
        ),
        max_size=10,
    ),
)
def test_combined_regex_equals_reference(chosen: list[str], values: list[str]) -> None:
    made = refs("package.windows", "regex", chosen)
    same_answers(made, "package.windows", values)


def test_first_characters() -> None:
    assert first_characters(r"(?:Agysoft )?MARCO") == frozenset("am")
    assert first_characters(r"[a-c]x|\bfoo") == frozenset("abcf")
    assert first_characters(r"Si[eè]cle") == frozenset("s")
    assert first_characters(r"Éole") is None  # non-ASCII start: always tried
    assert first_characters(r".*zoom") is None
    assert first_characters(r"x*") is None  # may match the empty string


def test_overlapping_regexes_all_fire_with_their_groups() -> None:
    made = refs("package.windows", "regex", REGEXES)
    hits = MatchIndex(made).lookup("package.windows", "Zoom Workplace (64-bit)")
    assert [(ref.product, captured) for ref, captured in hits] == [
        ("p0", {"arch": "64"}),
        ("p1", {}),
    ]


def test_cpe_index_equals_reference() -> None:
    made = refs("nmap.cpe", "cpe", ["openbsd:openssh", "apache:http_server"])
    values = [
        "cpe:/a:openbsd:openssh:9.2p1",
        "cpe:/a:OpenBSD:OpenSSH",
        "cpe:2.3:a:apache:http_server:2.4.62:*:*:*:*:*:*:*",
        "cpe:/a:apache",
        "cpe:2.3:a:openbsd",
        "openbsd:openssh",
        "cpe:/a:openbsd:openssh_extra:1",
    ]
    same_answers(made, "nmap.cpe", values)
    index = MatchIndex(made)
    assert [len(index.lookup("nmap.cpe", v)) for v in values] == [1, 1, 1, 0, 0, 0, 0]
