"""Vendor facts that hold: laws by one rule along the control chain, chains through US holdings,
the two axes of jurisdiction, and what a distribution's build of a firm's software depends on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import JsonValue

from agent.cli import main
from agent.views import finding_detail
from fingerprints.catalog import Catalog, CatalogError, default_catalog, load_catalog
from fingerprints.engine import analyse, default_engine
from fingerprints.jurisdiction import EU_EEA, LAWS_BY_COUNTRY, resolve
from inventory import Finding, Jurisdiction, Observation
from probes.base import Emitter
from probes.host import dpkg

US_LAWS = {"us-cloud-act", "us-fisa-702"}
DPKG_STATUS = Path("/var/lib/dpkg/status")


def _firms(catalog: Catalog, vendor_id: str) -> list[Any]:
    return [vendor for vendor in catalog.chain(vendor_id) if not vendor.community]


def test_every_vendor_whose_chain_reaches_a_us_firm_carries_both_us_laws() -> None:
    catalog = default_catalog()
    reached = [v for v in catalog.vendors if any(f.country == "US" for f in _firms(catalog, v))]
    # Not a handful: Microsoft, Cegid (Silver Lake), Sophos (Thoma Bravo), Mailjet (Mailgun)…
    assert len(reached) > 80
    assert {"microsoft", "cegid", "sophos", "mailjet", "vade"} <= set(reached)
    for vendor_id in reached:
        assert set(resolve(catalog, vendor_id).exposures) >= US_LAWS, vendor_id


def test_an_eu_only_chain_carries_no_extraterritorial_law() -> None:
    catalog = default_catalog()
    derived = {law for laws in LAWS_BY_COUNTRY.values() for law in laws}
    eu_only = [
        v
        for v in catalog.vendors
        if _firms(catalog, v) and all(f.country in EU_EEA for f in _firms(catalog, v))
    ]
    assert {"ovhcloud", "berger-levrault", "scaleway", "sinch", "ascensio-system"} <= set(eu_only)
    for vendor_id in eu_only:
        assert not derived & set(resolve(catalog, vendor_id).exposures), vendor_id
    # A community project under a US foundation is not a firm: no law by the country rule.
    assert resolve(catalog, "debian").exposures == ()


def test_no_catalog_file_repeats_a_law_the_rule_derives() -> None:
    catalog = default_catalog()
    for vendor in catalog.vendors.values():
        assert not set(vendor.exposures) & US_LAWS, catalog.files[vendor.id]


def test_mailjet_is_held_through_a_us_company() -> None:
    catalog = default_catalog()
    assert [v.id for v in catalog.chain("mailjet")] == ["mailjet", "mailgun", "sinch"]
    control = resolve(catalog, "mailjet")
    assert control.jurisdiction is Jurisdiction.NON_EU
    assert control.controller == "sinch"
    score = default_engine().describe("mailjet", "x").score
    assert score is not None
    reason = score.factors[0].reason
    assert "Mailjet : immatriculé en France (FR), contrôlé par Sinch (Suède, SE) via Mailgun" in (
        reason
    )


def test_unsourced_owners_are_said_so_in_the_file() -> None:
    catalog = default_catalog()
    for vendor_id in ("ascensio-system", "berger-levrault"):
        vendor = catalog.vendors[vendor_id]
        assert vendor.parent is None and "owners" in vendor.sources, vendor_id
    assert "ECOC0400076Y" in catalog.vendors["berger-levrault"].sources["owners"]


def test_catalog_check_names_a_redundant_law(
    catalog_dir: Any, samples: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    text = samples.vendor("us-firm", "US").replace(
        "[vendor.sources]", 'exposures = ["us-cloud-act"]\n[vendor.sources]\nexposures = "x"'
    )
    directory = catalog_dir({**samples.files, "us-firm": text})
    assert main(["catalog", "check", "--dir", str(directory)]) != 0
    err = capsys.readouterr().err
    assert re.search(r"us-firm\.toml: vendor\.exposures: us-cloud-act déjà déduit", err), err
    # A law the country rule cannot derive stays a vendor-specific fact.
    directory = catalog_dir(
        {**samples.files, "us-firm": text.replace('["us-cloud-act"]', '["eu-dsa-vlop"]')}
    )
    assert resolve(load_catalog(directory), "us-firm").exposures == (
        "eu-dsa-vlop",
        "us-cloud-act",
        "us-fisa-702",
    )


def test_catalog_check_names_the_file_and_entry_of_a_parent_cycle(
    catalog_dir: Any, samples: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        **samples.files,
        "holding-a": samples.vendor("holding-a", "FR", parent="holding-b"),
        "holding-b": samples.vendor("holding-b", "US", parent="holding-a"),
    }
    directory = catalog_dir(files)
    with pytest.raises(CatalogError) as caught:
        load_catalog(directory)
    (problem,) = caught.value.problems
    assert re.search(r"holding-[ab]\.toml: vendor\.parent: cycle de parents", problem)
    assert "holding-a → holding-b → holding-a" in problem or "holding-b → holding-a" in problem
    assert main(["catalog", "check", "--dir", str(directory)]) != 0
    assert "vendor.parent: cycle de parents / parent cycle" in capsys.readouterr().err


def test_the_control_factor_says_both_axes() -> None:
    finding = default_engine().describe("cegid-xrp-flex", "127.0.0.1")
    assert finding.vendor_country == "FR" and finding.controller_country == "US"
    assert finding.controller_name == "Silver Lake"
    assert finding.score is not None
    reason = finding.score.factors[0].reason
    assert finding.score.factors[0].name == "control"
    assert "Cegid : immatriculé en France (FR), contrôlé par Silver Lake (États-Unis, US)" in reason
    assert "Cegid: registered in France (FR), controlled by Silver Lake (United States, US)" in (
        reason
    )
    alone = default_engine().describe("ovhcloud-public-cloud", "x").score
    assert alone is not None
    ovh = alone.factors[0].reason
    assert "OVHcloud : immatriculé en France (FR), sans société au-dessus" in ovh


def test_the_detail_shows_registration_and_control(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIEBREAK_LANG", "fr")
    cegid = finding_detail(default_engine().describe("cegid-xrp-flex", "127.0.0.1"))
    facts = {line.label: line.value for line in cegid.facts}
    assert facts["immatriculé en"] == "France (FR)"
    assert facts["contrôlé par"] == "Silver Lake — États-Unis (US)"
    monkeypatch.setenv("TIEBREAK_LANG", "en")
    microsoft = finding_detail(default_engine().describe("microsoft-365", "127.0.0.1"))
    facts = {line.label: line.value for line in microsoft.facts}
    assert facts["registered in"] == "United States (US)"
    assert facts["controlled by"] == "itself, no company above it"


def _nginx_stanza() -> str:
    """The nginx stanza of this machine's real dpkg status file (installed from Debian)."""
    if not DPKG_STATUS.exists():
        pytest.skip("no dpkg status file on this machine")
    for stanza in DPKG_STATUS.read_text(encoding="utf-8").split("\n\n"):
        if stanza.startswith("Package: nginx\n") and "Maintainer: Debian" in stanza:
            return stanza + "\n"
    pytest.skip("Debian's nginx package is not installed on this machine")


def _scan_dpkg(tmp_path: Path, status: str, locus: str) -> list[Finding]:
    root = tmp_path / locus
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / dpkg.STATUS_PATH).write_text(status, encoding="utf-8")
    out = Emitter("host")
    assert dpkg.collect(root, locus, out) == 1
    return analyse(out.observations).findings


def test_nginx_from_debian_says_who_develops_it_and_what_is_depended_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stanza = _nginx_stanza()
    (finding,) = _scan_dpkg(tmp_path, stanza, "srv-debian")
    assert finding.product == "nginx"
    assert finding.developer == "F5" and finding.developer_country == "US"
    assert finding.jurisdiction is Jurisdiction.NON_EU  # control of the project
    assert finding.dependency_note is not None
    assert finding.dependency_note.startswith(
        "logiciel libre développé par F5 (US), distribué par Debian : la dépendance est au projet"
    )
    assert "distributed by Debian: the dependency is on the project, not on a contract" in (
        finding.dependency_note
    )
    monkeypatch.setenv("TIEBREAK_LANG", "en")
    facts = {line.label: line.value for line in finding_detail(finding).facts}
    assert facts["developed by"] == "F5 — United States (US)"
    assert facts["dependency"].startswith("open-source software developed by F5 (US)")

    # The same package from F5's own repository (nginx.org): a build of the firm, no such note.
    packager = "Maintainer: NGINX Packaging <nginx-packaging@f5.com>"
    own = re.sub(r"(?m)^Maintainer: .*$", packager, stanza)
    (finding,) = _scan_dpkg(tmp_path, own, "srv-nginx-org")
    assert finding.developer == "F5" and finding.dependency_note is None


@pytest.mark.parametrize(
    ("package", "product", "developer"),
    [
        ("haproxy", "haproxy", "HAProxy Technologies"),
        ("bind9", "bind9", "Internet Systems Consortium"),
        ("redis-server", "redis", "Redis"),
        ("firefox-esr", "firefox", "Mozilla"),
    ],
)
def test_the_rule_holds_for_each_us_developed_project(
    package: str, product: str, developer: str
) -> None:
    debian: dict[str, JsonValue] = {
        "source": "dpkg",
        "publisher": "Debian Maintainers <x@lists.debian.org>",
    }
    (finding,) = analyse([Observation.make("host", "package", "srv", package, debian)]).findings
    assert finding.product == product
    assert finding.developer is not None and finding.developer.startswith(developer)
    assert finding.developer_country == "US"
    assert finding.dependency_note is not None and "distribué par Debian" in finding.dependency_note


def test_community_and_european_projects_get_no_dependency_note() -> None:
    debian: dict[str, JsonValue] = {
        "source": "dpkg",
        "publisher": "Debian Maintainers <x@lists.debian.org>",
    }
    seen = [
        Observation.make("host", "package", "srv", "postfix", debian),
        Observation.make("host", "package", "srv", "nextcloud", debian),
    ]
    findings = {f.product: f for f in analyse(seen).findings}
    assert findings["postfix"].developer is None and findings["postfix"].dependency_note is None
    # An EU firm: the finding says who develops it, but control is European: no note.
    assert findings["nextcloud-hub"].developer == "Nextcloud"
    assert findings["nextcloud-hub"].dependency_note is None
