"""The http probe against the web lab: real nginx, real Knot DNS, emulated IIS, Cloudflare and
hostile servers, all in a network namespace (tests/http/web_lab.py).

The probe runs through the orchestrator (`run_probes`, so its declared channels are enforced) in a
thread that joined the lab's namespace, with the context's DNS pointing at the lab's Knot server:
nothing leaves the namespace, and this machine's resolver is never asked.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from agent import __version__
from agent.orchestrator import PlannedProbe, ScanResult, run_probes
from fingerprints.engine import analyse
from inventory import Observation, ProbeStatus
from inventory.channels import Channel
from probes.base import DnsSettings, Emitter, ProbeContext
from probes.http.probe import HttpProbe, scan_sites
from probes.http.settings import MIB, HttpSettings

pytestmark = [pytest.mark.root, pytest.mark.service, pytest.mark.slow]

web = sys.modules["tiebreak_test_web_lab"]

SITES = ("wp.test", "drupal.test", "iis.test", "cf.test", "spip.test", "redirige.test")
HOSTILE_EXTRAS = (
    *(f"{name}.hostile.test" for name in web.HOSTILE),
    "dead.hostile.test",  # two addresses, nothing listening
    "www.prestataire.test",  # outside the scope: refused
    "bad_name.hostile.test",  # not a host name: refused
)
USER_AGENT = f"tiebreak/{__version__} (inventaire TIE Break)"


def context(*domains: str) -> ProbeContext:
    return ProbeContext(
        domains=domains,
        dns=DnsSettings(nameservers=(web.DNS_ADDRESS,), port=53, timeout=1.0, retries=1),
    )


def scan(lab: Any, probe: HttpProbe, *domains: str, timeout: float = 60.0) -> ScanResult:
    """Run `probe` through the orchestrator inside the lab's namespace."""
    return lab.call(run_probes, [PlannedProbe(probe, timeout)], context(*domains))


class ExtraHostsProbe(HttpProbe):
    """The http probe given extra host names, as the external mode calls `scan_sites`."""

    def __init__(self, settings: HttpSettings, extra_hosts: tuple[str, ...]) -> None:
        super().__init__(settings)
        self.extra_hosts = extra_hosts

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        scan_sites(
            ctx.domains, out, extra_hosts=self.extra_hosts, dns=ctx.dns, settings=self.settings
        )


def found(result: ScanResult, channel: Channel, locus: str) -> dict[str, dict[str, Any]]:
    """value -> attributes of the observations on `channel` at `locus`."""
    return {
        o.value: o.attributes
        for o in result.observations
        if o.channel == channel and o.locus == locus
    }


def url_of(result: ScanResult, site: str) -> Observation:
    (observation,) = [
        o for o in result.observations if o.channel == Channel.HTTP_URL and o.locus == site
    ]
    return observation


def notes(result: ScanResult) -> list[str]:
    (run,) = result.runs
    return run.notes


def notes_about(result: ScanResult, host: str) -> list[str]:
    return [note for note in notes(result) if note.startswith(f"{host} : ")]


@pytest.fixture(scope="module")
def sites(web_lab: Any) -> ScanResult:
    """The realistic sites, trusting the lab's certificate authority."""
    result = scan(web_lab, HttpProbe(HttpSettings(ca_file=web_lab.ca_file)), *SITES)
    (run,) = result.runs
    assert run.status is ProbeStatus.OK, run.error
    return result


@pytest.fixture(scope="module")
def hostile(web_lab: Any) -> tuple[ScanResult, float]:
    """The hostile servers, as extra host names of hostile.test, with short timeouts."""
    settings = HttpSettings(
        ca_file=web_lab.ca_file,
        connect_timeout=1.0,
        read_timeout=1.5,
        site_timeout=4.0,
        concurrency=16,
    )
    started = time.monotonic()
    result = scan(web_lab, ExtraHostsProbe(settings, HOSTILE_EXTRAS), "hostile.test")
    return result, time.monotonic() - started


# --- Realistic sites ---------------------------------------------------------------------------


def test_the_probe_runs_to_its_end_and_emits_only_its_channels(sites: ScanResult) -> None:
    (run,) = sites.runs
    assert run.status is ProbeStatus.OK
    assert {o.channel for o in sites.observations} == set(HttpProbe.channels)


def test_wordpress_behind_nginx(sites: ScanResult) -> None:
    host = "www.wp.test"
    assert found(sites, Channel.HTTP_GENERATOR, host) == {
        "WordPress 6.4.2": {"url": "https://www.wp.test/"}
    }
    assert set(found(sites, Channel.HTTP_PATH, host)) == {"/wp-content/", "/wp-includes/"}
    headers = found(sites, Channel.HTTP_HEADER, host)
    assert set(headers) == {
        "server: nginx",
        'link: <https://www.wp.test/wp-json/>; rel="https://api.w.org/"',
    }
    assert set(found(sites, Channel.HTTP_TITLE, host)) == {
        "Mairie de Wordville – Site officiel de la commune"
    }
    assert set(found(sites, Channel.HTTP_ADDRESS, host)) == {web.NGINX_ADDRESS}
    issuer = found(sites, Channel.TLS_ISSUER, host)
    assert set(issuer) == {"Autorité de test tiebreak"}
    assert "www.wp.test" in issuer["Autorité de test tiebreak"]["certificate_subject"]
    # The apex redirects to www: followed, within the scope.
    apex = url_of(sites, "wp.test")
    assert apex.value == "https://www.wp.test/"
    assert apex.attributes["redirects"] == ["https://wp.test/"]
    assert apex.attributes["status"] == 200
    assert apex.attributes["tls_verified"] is True
    assert apex.attributes["certificate"] == "valid"
    assert apex.attributes["certificate_issuer"] == "Autorité de test tiebreak"
    assert apex.attributes["addresses"] == [web.NGINX_ADDRESS]
    assert set(found(sites, Channel.HTTP_HEADER, "wp.test")) == {
        "server: nginx",
        "x-redirect-by: WordPress",
    }


def test_the_catalog_names_what_the_sites_run_on(sites: ScanResult) -> None:
    products = {finding.product for finding in analyse(sites.observations).findings}
    assert products >= {
        "wordpress",
        "drupal",
        "spip",
        "microsoft-iis",
        "cloudflare-cdn",
        "shopify",
        "nginx",
        "php",
        "varnish-cache",
    }


def test_a_cms_path_in_a_link_to_another_site_does_not_count(sites: ScanResult) -> None:
    # The WordPress page links to https://blog.ailleurs.test/sites/default/files/doc.pdf.
    assert "/sites/default/files/" not in found(sites, Channel.HTTP_PATH, "www.wp.test")


def test_drupal_through_http_then_https_then_accueil(sites: ScanResult) -> None:
    apex = url_of(sites, "drupal.test")
    assert apex.value == "https://www.drupal.test/accueil/"
    # drupal.test answers on port 80 only: HTTPS is refused, HTTP redirects to HTTPS on www,
    # which redirects (relative Location) to /accueil/.
    assert apex.attributes["redirects"] == ["http://drupal.test/", "https://www.drupal.test/"]
    assert f"{web.APEX_ONLY_HTTP}:443" in str(apex.attributes["https_error"])
    assert apex.attributes["status"] == 200
    host = "www.drupal.test"
    assert set(found(sites, Channel.HTTP_HEADER, host)) == {
        "server: nginx/1.22.1",
        "x-generator: Drupal 10 (https://www.drupal.org)",
        "x-drupal-cache: HIT",
        "x-drupal-dynamic-cache: MISS",
        "via: 1.1 varnish (Varnish/7.1)",
        "x-varnish: present",
        "x-powered-by: PHP/8.2.7",
    }
    assert set(found(sites, Channel.HTTP_COOKIE, host)) == {web.DRUPAL_COOKIE}
    assert set(found(sites, Channel.HTTP_GENERATOR, host)) == {"Drupal 10 (https://www.drupal.org)"}
    assert set(found(sites, Channel.HTTP_PATH, host)) == {"/core/misc/", "/sites/default/files/"}
    assert set(found(sites, Channel.HTTP_TITLE, host)) == {"Accueil | Commune de Drupalville"}
    assert set(found(sites, Channel.HTTP_HEADER, "drupal.test")) == {"server: nginx/1.22.1"}


def test_iis_and_asp_net(sites: ScanResult) -> None:
    host = "www.iis.test"
    assert set(found(sites, Channel.HTTP_HEADER, host)) == {
        "server: Microsoft-IIS/10.0",
        "x-powered-by: ASP.NET",
        "x-aspnet-version: 4.0.30319",
    }
    assert set(found(sites, Channel.HTTP_COOKIE, host)) == {"ASP.NET_SessionId"}
    assert set(found(sites, Channel.HTTP_TITLE, host)) == {"Mairie d'Iisville - Accueil"}
    # iis.test has no address: a note, and the probe goes on.
    (note,) = notes_about(sites, "iis.test")
    assert "no address" in note


def test_a_shop_behind_cloudflare_without_request_ids(sites: ScanResult) -> None:
    host = "www.cf.test"
    assert set(found(sites, Channel.HTTP_HEADER, host)) == {
        "server: cloudflare",
        "cf-ray: present",
        "cf-cache-status: DYNAMIC",
        "powered-by: Shopify",
        "x-shopid: present",
        "x-shopify-stage: production",
    }
    assert set(found(sites, Channel.HTTP_COOKIE, host)) == {"__cf_bm", "_shopify_y", "localization"}
    assert set(found(sites, Channel.HTTP_PATH, host)) == {"cdn.shopify.com"}
    # www is a CNAME to the provider's name, resolved through it.
    assert found(sites, Channel.HTTP_ADDRESS, host) == {
        web.CF_ADDRESS: {"cname": "shop.myshopify.test"}
    }
    assert url_of(sites, "cf.test").value == "https://www.cf.test/"


def test_cookie_values_and_request_ids_are_never_stored(sites: ScanResult) -> None:
    text = json.dumps(
        [o.model_dump(mode="json") for o in sites.observations] + notes(sites), ensure_ascii=False
    )
    assert web.DRUPAL_COOKIE_VALUE not in text
    for fragment in (
        "__cf_bm=",
        "_shopify_y=",
        "ASP.NET_SessionId=",
        "localization=FR",
        f"-{web.CF_RAY_POP}",
    ):
        assert fragment not in text
    assert "x-request-id" not in text  # not a recorded header


def test_the_same_sites_give_the_same_observations_at_every_scan(
    web_lab: Any, sites: ScanResult
) -> None:
    """cf-ray, cookies and session ids change with every request; the observations do not."""
    again = scan(web_lab, HttpProbe(HttpSettings(ca_file=web_lab.ca_file)), *SITES)
    assert {o.id for o in again.observations} == {o.id for o in sites.observations}


def test_spip_page_in_latin_1(sites: ScanResult) -> None:
    host = "www.spip.test"
    assert set(found(sites, Channel.HTTP_HEADER, host)) == {
        "server: nginx/1.22.1",
        "composed-by: SPIP 4.2.8 @ www.spip.net + GIS (5.1.0), mediabox (3.1.4)",
        "x-spip-cache: 86400",
    }
    assert set(found(sites, Channel.HTTP_GENERATOR, host)) == {"SPIP 4.2.8 [24601]"}
    assert set(found(sites, Channel.HTTP_PATH, host)) == {
        "/squelettes/",
        "/spip.php",
        "/plugins-dist/",
    }
    # The charset comes from the page's <meta>; whitespace in the title is collapsed.
    assert set(found(sites, Channel.HTTP_TITLE, host)) == {
        "Commune de Spipville - Site officiel de la cité"
    }


def test_a_redirect_leaving_the_scope_is_recorded_and_not_followed(
    web_lab: Any, sites: ScanResult
) -> None:
    redirect = found(sites, Channel.HTTP_REDIRECT, "www.redirige.test")
    assert redirect == {
        "www.prestataire.test": {
            "from": "https://www.redirige.test/",
            "to": "https://www.prestataire.test/mairie-de-redirige/",  # no query kept
            "status": 302,
        }
    }
    www = url_of(sites, "www.redirige.test")
    assert www.value == "https://www.redirige.test/"
    assert www.attributes["redirect_off_scope"] == "www.prestataire.test"
    assert url_of(sites, "redirige.test").attributes["redirect_off_scope"] == "www.prestataire.test"
    assert not found(sites, Channel.HTTP_ADDRESS, "www.prestataire.test")
    assert not web_lab.decoy_log.exists(), web_lab.decoy_log.read_text()


def test_only_gets_with_tiebreak_user_agent(web_lab: Any, sites: ScanResult) -> None:
    requests = web_lab.requests()
    assert requests
    assert {r["method"] for r in requests} == {"GET"}
    assert {r["agent"] for r in requests} == {USER_AGENT}


def test_without_the_lab_authority_certificates_are_reported_invalid(web_lab: Any) -> None:
    """Default trust is the system store, where the lab's authority is not."""
    result = scan(web_lab, HttpProbe(HttpSettings()), "wp.test")
    (run,) = result.runs
    assert run.status is ProbeStatus.OK, run.error
    www = url_of(result, "www.wp.test")
    assert www.attributes["tls_verified"] is False
    assert www.attributes["certificate"] == "invalid: unable to get local issuer certificate"
    assert all(
        attributes["tls_verified"] is False
        for attributes in found(result, Channel.HTTP_GENERATOR, "www.wp.test").values()
    )
    assert not [o for o in result.observations if o.channel == Channel.TLS_ISSUER]
    # The apex's redirect is not followed from an unverified answer.
    assert url_of(result, "wp.test").value == "https://wp.test/"
    assert any(
        "not followed: invalid certificate" in note for note in notes_about(result, "wp.test")
    )


# --- Hostile servers ---------------------------------------------------------------------------


def test_nothing_a_server_does_fails_the_probe(hostile: tuple[ScanResult, float]) -> None:
    result, elapsed = hostile
    (run,) = result.runs
    assert run.status is ProbeStatus.OK, run.error
    # Every site has its own deadline (4 s): they run side by side.
    assert elapsed < 10, elapsed


def test_a_1_gb_page_is_read_up_to_the_bound_only(
    web_lab: Any, hostile: tuple[ScanResult, float]
) -> None:
    result, _ = hostile
    url = url_of(result, "huge.hostile.test")
    assert url.attributes["body_bytes"] == 2 * MIB
    assert url.attributes["truncated"] is True
    assert set(found(result, Channel.HTTP_TITLE, "huge.hostile.test")) == {"Page immense"}
    (note,) = notes_about(result, "huge.hostile.test")
    assert "page larger than 2097152 bytes" in note
    # The server wrote what the probe read plus what the sockets' buffers held, then the
    # connection was closed: a few megabytes of the gigabyte.
    (sent,) = (int(line) for line in web_lab.huge_log.read_text().split())
    assert 2 * MIB < sent < 32 * MIB, sent


def test_a_server_that_never_answers(hostile: tuple[ScanResult, float]) -> None:
    result, _ = hostile
    (note,) = notes_about(result, "slow.hostile.test")
    assert "no answer within 1.5 s" in note
    assert not found(result, Channel.HTTP_URL, "slow.hostile.test")


def test_a_trickling_server_is_cut_at_the_site_deadline(hostile: tuple[ScanResult, float]) -> None:
    result, _ = hostile
    (note,) = notes_about(result, "trickle.hostile.test")
    assert "site deadline reached (4 s)" in note
    assert not found(result, Channel.HTTP_URL, "trickle.hostile.test")
    assert not found(result, Channel.HTTP_HEADER, "trickle.hostile.test")


def test_garbage_and_a_header_flood(hostile: tuple[ScanResult, float]) -> None:
    result, _ = hostile
    (garbage,) = notes_about(result, "garbage.hostile.test")
    assert "not an HTTP answer" in garbage
    (flood,) = notes_about(result, "flood.hostile.test")
    assert "got more than 100 headers" in flood


def test_a_redirect_loop_and_endless_redirects(hostile: tuple[ScanResult, float]) -> None:
    result, _ = hostile
    loop = url_of(result, "loop.hostile.test")
    assert loop.value == "https://loop.hostile.test/b"
    assert loop.attributes["redirects"] == [
        "https://loop.hostile.test/",
        "https://loop.hostile.test/a",
    ]
    assert loop.attributes["redirect_error"] == "loop"
    assert any("redirect loop" in note for note in notes_about(result, "loop.hostile.test"))
    endless = url_of(result, "endless.hostile.test")
    assert len(endless.attributes["redirects"]) == 5
    assert endless.attributes["redirect_error"] == "too many"
    assert any("more than 5 redirects" in n for n in notes_about(result, "endless.hostile.test"))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("selfsigned", "self-signed certificate"),
        ("wrongname", "Hostname mismatch, certificate is not valid for 'wrongname.hostile.test'."),
        ("expired", "certificate has expired"),
    ],
)
def test_an_invalid_certificate_is_reported_and_not_trusted(
    hostile: tuple[ScanResult, float], name: str, reason: str
) -> None:
    result, _ = hostile
    host = f"{name}.hostile.test"
    url = url_of(result, host)
    assert url.attributes["certificate"] == f"invalid: {reason}"
    assert url.attributes["tls_verified"] is False
    assert "certificate_issuer" not in url.attributes
    assert not found(result, Channel.TLS_ISSUER, host)
    assert any(f"invalid TLS certificate ({reason})" in n for n in notes_about(result, host))
    facts = [
        o for o in result.observations if o.locus == host and o.channel != Channel.HTTP_ADDRESS
    ]
    assert facts
    for observation in facts:
        assert observation.attributes.get("tls_verified") is False, observation


def test_what_an_unverified_page_says_is_kept_marked(hostile: tuple[ScanResult, float]) -> None:
    result, _ = hostile
    host = "selfsigned.hostile.test"
    assert set(found(result, Channel.HTTP_GENERATOR, host)) == {
        "Joomla! - Open Source Content Management"
    }
    assert set(found(result, Channel.HTTP_PATH, host)) == {"/media/system/js/"}
    assert set(found(result, Channel.HTTP_TITLE, host)) == {"Mairie auto-signée"}
    assert set(found(result, Channel.HTTP_HEADER, "expired.hostile.test")) == {
        "server: Apache/2.4.57 (Debian)"
    }


def test_a_redirect_from_an_unverified_answer_is_not_followed(
    web_lab: Any, hostile: tuple[ScanResult, float]
) -> None:
    result, _ = hostile
    url = url_of(result, "wrongname.hostile.test")
    assert url.attributes["status"] == 302
    assert url.attributes["location"] == "https://wrongname.hostile.test/accueil/"
    address = web.HOSTILE["wrongname"][0]
    # One GET, over the unverified connection (the verifying handshake failed before any
    # request); /accueil/ was never asked.
    assert [r["path"] for r in web_lab.requests() if r["address"] == address] == ["/"]


def test_every_address_is_tried_then_http(hostile: tuple[ScanResult, float]) -> None:
    result, _ = hostile
    (note,) = notes_about(result, "dead.hostile.test")
    first, second = web.DEAD
    assert "site unreachable: HTTPS (" in note
    for address in (first, second):
        assert f"{address}:443 Connection refused" in note
        assert f"{address}:80 Connection refused" in note
    assert set(found(result, Channel.HTTP_ADDRESS, "dead.hostile.test")) == set(web.DEAD)


def test_a_tls_handshake_failure_falls_back_to_http(hostile: tuple[ScanResult, float]) -> None:
    result, _ = hostile
    url = url_of(result, "notls.hostile.test")
    assert url.value == "http://notls.hostile.test/"
    assert url.attributes["status"] == 200
    assert "WRONG_VERSION_NUMBER" in str(url.attributes["https_error"])
    assert "tls_verified" not in url.attributes
    assert found(result, Channel.HTTP_HEADER, "notls.hostile.test") == {
        "server: Apache/2.4.57 (Debian)": {"url": "http://notls.hostile.test/"}
    }
    assert not notes_about(result, "notls.hostile.test")


def test_extra_hosts_outside_the_scope_are_refused(
    web_lab: Any, hostile: tuple[ScanResult, float]
) -> None:
    result, _ = hostile
    for name in ("www.prestataire.test", "bad_name.hostile.test"):
        (note,) = notes_about(result, name)
        assert "outside the scope's domains or invalid, not visited" in note
    assert not web_lab.decoy_log.exists()
    (www,) = notes_about(result, "www.hostile.test")
    assert "NXDOMAIN" in www


def test_the_probe_ends_before_its_own_deadline(web_lab: Any) -> None:
    """Sites that would take 30 s each are cut one second before the probe's deadline."""
    settings = HttpSettings(ca_file=web_lab.ca_file, read_timeout=30.0, site_timeout=30.0)
    probe = ExtraHostsProbe(settings, ("slow.hostile.test", "trickle.hostile.test"))
    started = time.monotonic()
    result = scan(web_lab, probe, "hostile.test", timeout=4.0)
    elapsed = time.monotonic() - started
    (run,) = result.runs
    assert run.status is ProbeStatus.OK, run.error
    assert elapsed < 4.0, elapsed
    for host in ("slow.hostile.test", "trickle.hostile.test"):
        (note,) = notes_about(result, host)
        assert "site deadline reached" in note


def test_a_read_cut_by_the_deadline_says_so_even_before_the_watchdog(
    web_lab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The socket's own timeout, bounded by the site's deadline, may fire before the watchdog
    thread does (a loaded machine): the note still names the deadline, not the 30 s setting."""
    monkeypatch.setattr("probes.http.fetch._Watchdog._fire", lambda self: None)
    settings = HttpSettings(ca_file=web_lab.ca_file, read_timeout=30.0, site_timeout=30.0)
    probe = ExtraHostsProbe(settings, ("slow.hostile.test",))
    result = scan(web_lab, probe, "hostile.test", timeout=3.0)
    (run,) = result.runs
    assert run.status is ProbeStatus.OK, run.error
    (note,) = notes_about(result, "slow.hostile.test")
    assert "site deadline reached" in note
    assert "30 s" not in note
