"""The http probe's parts that need no server: headers, cookies, page reading, URLs, scope."""

from __future__ import annotations

import time

import pytest

from inventory.channels import Channel
from probes.base import Emitter, ProbeContext
from probes.http.fetch import Scope, Target, certificate_facts, next_target
from probes.http.headers import HEADERS, Kind, cookie_name, header_value
from probes.http.page import charset_of, defuse, read_page, refresh_url, strip_query
from probes.http.probe import CHANNELS, HttpProbe, scan_sites, site_hosts
from probes.registry import REGISTRY


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Server", "Microsoft-IIS/10.0", "server: Microsoft-IIS/10.0"),
        ("X-Powered-By", "ASP.NET", "x-powered-by: ASP.NET"),
        ("CF-RAY", "8c1f2e3d4a5b6c7d-CDG", "cf-ray: present"),
        ("X-Amz-Cf-Id", "x9Yq2-abc==", "x-amz-cf-id: present"),
        ("X-Amz-Cf-Pop", "CDG50-C1", "x-amz-cf-pop: CDG50-C1"),
        ("X-Served-By", "cache-cdg20734-CDG", "x-served-by: present"),  # a cache node per path
        ("X-Wix-Request-Id", "1700000000.123", "x-wix-request-id: present"),
        ("Date", "Mon, 01 Jan 2024 00:00:00 GMT", None),
        ("X-Request-Id", "abc", None),
        ("Set-Cookie", "a=b", None),
        ("Server", "\x1b[31mevil\x07 \u202e server", "server: [31mevil server"),
        ("Link", "<https://x.test/?p=2>; rel=shortlink", None),
        (
            "Link",
            '<https://x.test/wp-json/>; rel="https://api.w.org/", <https://x.test/?p=2>; '
            "rel=shortlink",
            'link: <https://x.test/wp-json/>; rel="https://api.w.org/"',
        ),
    ],
)
def test_header_values(name: str, value: str, expected: str | None) -> None:
    assert header_value(name, value) == expected


def test_header_values_are_bounded() -> None:
    value = header_value("Server", "x" * 10_000)
    assert value is not None and len(value) == len("server: ") + 200


def test_identifier_headers_are_the_ones_that_change_per_request() -> None:
    for name in ("cf-ray", "x-amz-cf-id", "x-azure-ref", "x-varnish", "x-timer", "x-iinfo"):
        assert HEADERS[name] is Kind.IDENTIFIER
    for name in ("server", "via", "x-generator", "x-cache", "cf-cache-status"):
        assert HEADERS[name] is Kind.PRODUCT


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("__cf_bm=AbC.123; path=/; HttpOnly", "__cf_bm"),
        ("ASP.NET_SessionId=x; path=/", "ASP.NET_SessionId"),
        (" PHPSESSID = v", "PHPSESSID"),
        ("no-equals-sign; path=/", None),
        ("=value", None),
        ("bad name=x", None),
        ("n\u00e9=x", None),
        ("x" * 200 + "=v", None),
    ],
)
def test_cookie_names_only(header: str, expected: str | None) -> None:
    assert cookie_name(header) == expected


def in_scope(host: str) -> bool:
    return host == "mairie.test" or host.endswith(".mairie.test")


def test_a_page_read_with_its_markers() -> None:
    page = """<html><head><title>  Mairie
      de Test </title><meta name="GENERATOR" content="TYPO3 CMS">
    <meta http-equiv="refresh" content="0; URL='https://ailleurs.test/x?y=1'">
    <link rel="stylesheet" href="/typo3conf/ext/site/style.css">
    <script src="https://static.parastorage.com/services/x.js"></script>
    <img srcset="https://cdn.mairie.test/typo3temp/a.jpg 1x, /b.jpg 2x">
    </head><body><svg><title>icône</title></svg>
    <a href="https://autre.test/wp-content/x">lien</a>
    <a href="javascript:void(0)">x</a></body></html>"""
    facts = read_page(page, "https://www.mairie.test/", in_scope)
    assert facts.title == "Mairie de Test"
    assert facts.generators == ["TYPO3 CMS"]
    assert facts.refresh == "https://ailleurs.test/x?y=1"
    assert facts.markers == {
        "/typo3conf/": "https://www.mairie.test/typo3conf/ext/site/style.css",
        "static.parastorage.com": "https://static.parastorage.com/services/x.js",
        "/typo3temp/": "https://cdn.mairie.test/typo3temp/a.jpg",
    }
    assert facts.complete


def test_a_title_inside_svg_is_not_the_page_title() -> None:
    facts = read_page(
        "<svg><title>logo</title></svg><title>Vraie</title>", "https://a.test/", in_scope
    )
    assert facts.title == "Vraie"


def test_a_malformed_declaration_keeps_what_was_read() -> None:
    facts = read_page(
        '<title>Avant</title><meta name="generator" content="X"><![x>', "https://a.test/", in_scope
    )
    assert facts.title == "Avant"
    assert facts.generators == ["X"]


@pytest.mark.parametrize(
    "page",
    [
        "<a" * 1_000_000,
        "</" * 1_000_000,
        "<!" * 1_000_000,
        "<![" * 700_000,
        "<" * 2_000_000,
        "<>" * 1_000_000,
        ("<a " + "b='x' " * 1300 + ">") * 256,
        "<!--" + "-" * 2_000_000,
    ],
    ids=["a", "slash", "bang", "marked", "lt", "ltgt", "attributes", "comment"],
)
def test_hostile_pages_of_2_mb_are_read_in_linear_time(page: str) -> None:
    started = time.monotonic()
    read_page(page, "https://a.test/", in_scope)
    assert time.monotonic() - started < 10


def test_defuse_keeps_tags_and_escapes_unclosed_brackets() -> None:
    assert defuse('<a href="x">a < b</a>') == '<a href="x">a &lt; b</a>'
    assert defuse("<a<b>") == "&lt;a<b>"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/html; charset=ISO-8859-1", b"", "iso8859-1"),
        (None, b'<meta charset="windows-1252">', "cp1252"),
        (
            None,
            b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15">',
            "iso8859-15",
        ),
        ("text/html; charset=rot13", b"", "utf-8"),  # not a text encoding
        ("text/html; charset=hex", b"", "utf-8"),
        ("text/html; charset=nonsense", b"", "utf-8"),
        (None, b"\xef\xbb\xbf<html>", "utf-8-sig"),
    ],
)
def test_charsets(content_type: str | None, body: bytes, expected: str) -> None:
    assert charset_of(content_type, body) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0; url=/accueil/", "/accueil/"),
        ("5;URL='https://a.test/'", "https://a.test/"),
        ("10", None),
        ("0; nothing", None),
        (" " * 5000 + "url", None),
    ],
)
def test_refresh_urls(content: str, expected: str | None) -> None:
    assert refresh_url(content) == expected


def test_recorded_urls_lose_their_query() -> None:
    assert strip_query("https://a.test/p?session=1#x") == "https://a.test/p"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/accueil/", Target("https", "www.mairie.test", 443, "/accueil/")),
        ("accueil", Target("https", "www.mairie.test", 443, "/accueil")),
        ("http://Mairie.Test./", Target("http", "mairie.test", 80, "/")),
        (
            "https://mairie.test:8443/a b?c=d e",
            Target("https", "mairie.test", 8443, "/a%20b?c=d%20e"),
        ),
        ("https://mairié.test/", Target("https", "xn--mairi-fsa.test", 443, "/")),
        ("//autre.test/x", Target("https", "autre.test", 443, "/x")),
        ("http://192.0.2.1/", Target("http", "192.0.2.1", 80, "/")),
    ],
)
def test_redirect_targets(location: str, expected: Target) -> None:
    assert next_target("https://www.mairie.test/", location) == expected


@pytest.mark.parametrize(
    "location",
    [
        "ftp://a.test/",
        "https://a.test:99999/",
        "http://[::1/",
        "javascript:alert(1)",
        "https://a_b.test/",
        "https://%00.test/",
    ],
)
def test_redirects_the_probe_cannot_follow(location: str) -> None:
    assert isinstance(next_target("https://www.mairie.test/", location), str)


def test_an_ipv6_target_is_written_with_brackets() -> None:
    target = next_target("https://www.mairie.test/", "http://[2001:db8::1]:8080/x?q=1")
    assert target == Target("http", "2001:db8::1", 8080, "/x?q=1")
    assert target.shown == "http://[2001:db8::1]:8080/x"


def test_the_scope_is_the_domains_and_names_below_them() -> None:
    scope = Scope(["mairie.test", "Agglo.Test."])
    assert scope.allows("mairie.test")
    assert scope.allows("www.mairie.test")
    assert scope.allows("WWW.AGGLO.TEST.")
    assert not scope.allows("evilmairie.test")
    assert not scope.allows("mairie.test.evil.test")
    assert not scope.allows("127.0.0.1")


def test_site_hosts_are_apex_www_and_extra_names_of_the_scope() -> None:
    hosts, refused = site_hosts(
        ["mairie.test", "www.agglo.test"],
        ["autodiscover.mairie.test", "WWW.MAIRIE.TEST", "evil.test", "bad_name.mairie.test", ""],
    )
    assert hosts == ["mairie.test", "www.mairie.test", "www.agglo.test", "autodiscover.mairie.test"]
    assert refused == ["evil.test", "bad_name.mairie.test", "?"]


def test_certificate_facts() -> None:
    certificate = {
        "subject": ((("commonName", "www.mairie.test"),),),
        "issuer": (
            (("countryName", "US"),),
            (("organizationName", "Let's Encrypt"),),
            (("commonName", "R3"),),
        ),
        "notBefore": "Jun  1 00:00:00 2024 GMT",
        "notAfter": "Aug 30 00:00:00 2024 GMT",
        "subjectAltName": (
            ("DNS", "www.mairie.test"),
            ("DNS", "mairie.test"),
            ("IP Address", "192.0.2.1"),
        ),
    }
    assert certificate_facts(certificate) == {
        "certificate_subject": ["www.mairie.test", "mairie.test"],
        "certificate_not_before": "2024-06-01T00:00:00+00:00",
        "certificate_not_after": "2024-08-30T00:00:00+00:00",
        "certificate_issuer": "Let's Encrypt",
    }


def test_the_probe_is_registered_and_needs_domains() -> None:
    (entry,) = [entry for entry in REGISTRY if entry.name == "http"]
    assert entry.tags == {"http", "network", "web"}
    probe = entry.load()
    assert isinstance(probe, HttpProbe)
    assert probe.channels == CHANNELS
    assert Channel.HTTP_URL in probe.channels
    assert probe.unavailable(ProbeContext()) is not None
    assert probe.unavailable(ProbeContext(domains=("mairie.test",))) is None


def test_extra_hosts_without_domains_visit_nothing() -> None:
    """No domain, no scope: every extra name is refused before any question is asked."""
    out = Emitter("http", CHANNELS)
    assert scan_sites([], out, extra_hosts=["www.mairie.test", "evil.test"]) == []
    assert [note.split(" : ")[0] for note in out.notes] == ["www.mairie.test", "evil.test"]
    assert out.observations == []


@pytest.mark.parametrize(
    "name",
    [
        "cf-ray",
        "x-amz-cf-id",
        "x-azure-ref",
        "x-served-by",
        "x-vercel-id",
        "x-nf-request-id",
        "x-arequestid",
        "x-confluence-request-time",
    ],
)
def test_the_catalog_recognises_id_headers_as_the_probe_records_them(name: str) -> None:
    """Per-request ids are recorded as 'name: present': the catalog's matchers must read that."""
    from fingerprints.engine import default_engine

    value = header_value(name, "8c1f2e3d4a5b6c7d-CDG")
    assert value == f"{name}: present"
    assert default_engine().index.lookup("http.header", value), value


@pytest.mark.parametrize("cookie", ["SVPNCOOKIE", "NSC_vs_portail", "webvpncontext", "__cf_bm"])
def test_the_catalog_recognises_vendor_cookies_by_name(cookie: str) -> None:
    from fingerprints.engine import default_engine

    assert default_engine().index.lookup("http.cookie", cookie), cookie
