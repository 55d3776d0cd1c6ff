"""Pure parsers of the DNS probe: SPF (RFC 7208) with its expansion limits, DMARC, TXT decoding."""

from __future__ import annotations

import asyncio

from probes.dns.dmarc import parse_dmarc
from probes.dns.queries import MAX_TXT_CHARS, decode_txt, is_internal
from probes.dns.spf import LOOKUP_LIMIT, TxtFetcher, expand_spf, parse_spf


def test_spf_terms_qualifiers_and_modifiers() -> None:
    record = parse_spf(
        "v=spf1 ip4:192.0.2.0/24 a mx:mail.example.test/24 ~include:_spf.google.com "
        "redirect=_spf.example.test exp=explain.example.test bogus:thing -all"
    )
    assert record is not None
    assert record.targets() == [("include", "_spf.google.com"), ("redirect", "_spf.example.test")]
    assert [t.name for t in record.terms if not t.modifier] == ["ip4", "a", "mx", "include", "all"]
    mx = next(t for t in record.terms if t.name == "mx")
    assert mx.value == "mail.example.test"  # the /24 prefix length is not part of the host
    assert next(t for t in record.terms if t.name == "include").qualifier == "~"
    assert record.invalid == ("bogus:thing",)
    assert record.lookups == 4  # a, mx, include, redirect


def test_not_spf() -> None:
    assert parse_spf("v=spf10 include:x.test") is None
    assert parse_spf("MS=ms12345678") is None
    assert parse_spf("v=spf1") is not None


def _fetcher(zone: dict[str, list[str]], asked: list[str]) -> TxtFetcher:
    async def fetch(name: str) -> list[str]:
        asked.append(name)
        return zone.get(name, [])

    return fetch


def test_spf_expansion_follows_includes_with_depth() -> None:
    zone = {
        "_spf.google.com": ["v=spf1 include:_netblocks.google.com ~all"],
        "_netblocks.google.com": ["v=spf1 ip4:64.233.160.0/19 ~all"],
    }
    asked: list[str] = []
    record = parse_spf("v=spf1 include:_spf.google.com ~all")
    assert record is not None
    expansion = asyncio.run(expand_spf("commune.test", record, _fetcher(zone, asked)))
    assert [(t.domain, t.depth, t.parent) for t in expansion.targets] == [
        ("_spf.google.com", 1, "commune.test"),
        ("_netblocks.google.com", 2, "_spf.google.com"),
    ]
    assert asked == ["_spf.google.com", "_netblocks.google.com"]
    assert expansion.notes == []


def test_spf_include_loop_is_cut_with_a_note() -> None:
    zone = {
        "a.test": ["v=spf1 include:b.test -all"],
        "b.test": ["v=spf1 include:a.test -all"],
    }
    asked: list[str] = []
    record = parse_spf(zone["a.test"][0])
    assert record is not None
    expansion = asyncio.run(expand_spf("a.test", record, _fetcher(zone, asked)))
    assert asked == ["b.test"]  # a.test is not fetched again
    assert any("a.test → b.test → a.test" in note for note in expansion.notes)


def test_spf_lookup_limit_of_rfc_7208() -> None:
    zone = {f"i{n}.test": [f"v=spf1 include:i{n + 1}.test -all"] for n in range(30)}
    asked: list[str] = []
    record = parse_spf("v=spf1 include:i0.test -all")
    assert record is not None
    expansion = asyncio.run(expand_spf("root.test", record, _fetcher(zone, asked)))
    assert len(asked) == LOOKUP_LIMIT
    assert expansion.lookups == LOOKUP_LIMIT + 1
    assert any("more than 10 lookups" in note for note in expansion.notes)


def test_spf_redirect_is_followed_unless_all_is_present() -> None:
    zone = {"_spf.example.test": ["v=spf1 ip4:192.0.2.0/24 -all"]}
    with_all = parse_spf("v=spf1 redirect=_spf.example.test -all")
    alone = parse_spf("v=spf1 redirect=_spf.example.test")
    assert with_all is not None and alone is not None
    asked: list[str] = []
    assert asyncio.run(expand_spf("example.test", with_all, _fetcher(zone, asked))).targets == []
    expansion = asyncio.run(expand_spf("example.test", alone, _fetcher(zone, asked)))
    assert [(t.domain, t.mechanism) for t in expansion.targets] == [
        ("_spf.example.test", "redirect")
    ]
    assert asked == ["_spf.example.test"]


def test_spf_macro_is_not_expanded() -> None:
    record = parse_spf("v=spf1 include:%{ir}.%{v}._spf.example.test -all")
    assert record is not None
    asked: list[str] = []
    expansion = asyncio.run(expand_spf("example.test", record, _fetcher({}, asked)))
    assert asked == []
    assert expansion.targets == []
    assert "macro" in expansion.notes[0]


def test_dmarc_policy_and_report_domains() -> None:
    record = parse_dmarc(
        "v=DMARC1; p=Reject; sp=none; rua=mailto:agg@rua.dmarcian.com!10m, "
        "mailto:dmarc@commune.test; ruf=mailto:forensic@ruf.agari.com; fo=1"
    )
    assert record is not None
    assert record.policy == "reject"
    assert record.subdomain_policy == "none"
    assert [(r.kind, r.address, r.domain) for r in record.reports] == [
        ("rua", "agg@rua.dmarcian.com", "rua.dmarcian.com"),
        ("rua", "dmarc@commune.test", "commune.test"),
        ("ruf", "forensic@ruf.agari.com", "ruf.agari.com"),
    ]
    assert parse_dmarc("v=spf1 -all") is None
    broken = parse_dmarc("v=DMARC1; rua=https://not-mail.test; ruf=mailto:no-at-sign")
    assert broken is not None and broken.reports == () and broken.policy == ""


def test_decode_txt_is_safe() -> None:
    text, notes = decode_txt([b"\xff\xfeMS=", b"ms123"])
    assert text == "\ufffd\ufffdMS=ms123"
    assert "UTF-8" in notes[0]
    text, notes = decode_txt([b"x" * 255] * 255)
    assert len(text) == MAX_TXT_CHARS
    assert "65025" in notes[0]


def test_internal_host() -> None:
    assert is_internal("mail.commune.test", "commune.test")
    assert is_internal("commune.test", "commune.test")
    assert not is_internal("evilcommune.test", "commune.test")
    assert not is_internal("mx1.mail.ovh.net", "commune.test")
