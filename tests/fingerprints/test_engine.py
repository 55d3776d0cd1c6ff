"""The engine: findings, dedup, implies, usage, versions, attributes, hostile input."""

from __future__ import annotations

from fingerprints.catalog import Catalog
from fingerprints.engine import analyse, finding_id
from inventory import Confidence, Jurisdiction, Observation, Usage


def obs(channel: str, value: str, locus: str = "commune.fr", **attributes: str) -> Observation:
    return Observation.make("test", channel, locus, value, dict(attributes))


def by_product(findings: list, locus: str = "commune.fr") -> dict:
    return {f.product: f for f in findings if f.locus == locus}


def test_mx_gives_a_strong_current_finding_with_its_evidence(sample: Catalog) -> None:
    mx = obs("dns.mx", "commune-fr.mail.protection.outlook.com.")
    analysis = analyse([mx], sample)
    found = by_product(analysis.findings)
    exchange = found["exchange-online"]
    assert exchange.evidence == [mx.id]
    assert exchange.matched == ["dns.mx suffix mail.protection.outlook.com"]
    assert exchange.confidence is Confidence.STRONG
    assert exchange.usage is Usage.CURRENT
    assert exchange.jurisdiction is Jurisdiction.NON_EU
    assert exchange.exposures == ["us-cloud-act", "us-fisa-702"]
    assert exchange.id == finding_id("exchange-online", "commune.fr")
    assert analysis.unidentified == []


def test_look_alike_domains_do_not_match(sample: Catalog) -> None:
    values = [
        "evil-outlook.com",
        "mail.protection.outlook.com.attacker.fr",
        "xmail.protection.outlook.com",
    ]
    analysis = analyse([obs("dns.mx", v) for v in values], sample)
    assert analysis.findings == []
    assert len(analysis.unidentified) == 3


def test_same_product_same_locus_is_one_finding_with_merged_evidence(sample: Catalog) -> None:
    mx = obs("dns.mx", "a.mail.protection.outlook.com")
    mx2 = obs("dns.mx", "b.mail.protection.outlook.com")
    ip = obs("dns.a", "40.93.1.2")
    elsewhere = obs("dns.mx", "a.mail.protection.outlook.com", locus="autre.fr")
    analysis = analyse([mx, mx2, ip, elsewhere], sample)
    exchanges = [f for f in analysis.findings if f.product == "exchange-online"]
    assert len(exchanges) == 2
    here = by_product(analysis.findings)["exchange-online"]
    assert here.evidence == [mx.id, mx2.id, ip.id]
    assert here.matched == ["dns.mx suffix mail.protection.outlook.com", "dns.a cidr 40.92.0.0/15"]
    assert len({f.id for f in analysis.findings}) == len(analysis.findings)


def test_implies_adds_the_implied_product_at_the_same_locus(sample: Catalog) -> None:
    mx = obs("dns.mx", "x.mail.protection.outlook.com")
    found = by_product(analyse([mx], sample).findings)
    m365 = found["microsoft-365"]
    assert m365.implied_by == "exchange-online"
    assert m365.evidence == [mx.id]
    assert m365.confidence is Confidence.STRONG
    assert m365.matched == ["implied by exchange-online"]


def test_direct_evidence_wins_over_implication(sample: Catalog) -> None:
    mx = obs("dns.mx", "x.mail.protection.outlook.com")
    dkim = obs("dns.dkim", "selector1-commune-fr._domainkey.communefr.onmicrosoft.com")
    m365 = by_product(analyse([mx, dkim], sample).findings)["microsoft-365"]
    assert m365.implied_by is None
    assert m365.evidence == [dkim.id]
    assert m365.attributes == {"tenant": "communefr"}


def test_weak_evidence_alone_is_partial(sample: Catalog) -> None:
    token = obs("dns.txt", "MS=ms12345678")
    m365 = by_product(analyse([token], sample).findings)["microsoft-365"]
    assert m365.confidence is Confidence.WEAK
    assert m365.usage is Usage.PARTIAL


def test_strong_implying_product_upgrades_a_weak_direct_finding(sample: Catalog) -> None:
    # A commune on Microsoft 365: the MX (strong, Exchange Online) and the MS= token (weak,
    # Microsoft 365 itself). Microsoft 365 is in current use, not "partial".
    token = obs("dns.txt", "MS=ms12345678")
    mx = obs("dns.mx", "commune-fr.mail.protection.outlook.com")
    m365 = by_product(analyse([token, mx], sample).findings)["microsoft-365"]
    assert m365.confidence is Confidence.STRONG
    assert m365.usage is Usage.CURRENT
    assert m365.implied_by is None
    assert set(m365.evidence) == {token.id, mx.id}


def test_weak_evidence_all_former_is_former(sample: Catalog) -> None:
    token = obs("dns.txt", "v=verifydomain MS=old")
    found = by_product(analyse([token], sample).findings)
    assert found["exchange-online"].usage is Usage.FORMER
    # The implied product inherits the usage of what implies it.
    assert found["microsoft-365"].usage is Usage.FORMER


def test_strong_evidence_makes_weak_evidence_current(sample: Catalog) -> None:
    token = obs("dns.txt", "v=verifydomain MS=old")
    mx = obs("dns.mx", "x.mail.protection.outlook.com")
    exchange = by_product(analyse([token, mx], sample).findings)["exchange-online"]
    assert exchange.usage is Usage.CURRENT
    assert exchange.confidence is Confidence.STRONG


def test_version_from_regex_group_then_from_attribute(sample: Catalog) -> None:
    banner = obs("nmap.service", "Microsoft IIS httpd 10.0", locus="127.0.0.1:80")
    package = obs("package", "libreoffice-core", locus="poste1", version="1:7.4.7-1")
    windows = obs("package.windows", "LibreOffice 24.8.4.2", locus="poste2")
    analysis = analyse([banner, package, windows], sample)
    assert by_product(analysis.findings, "127.0.0.1:80")["microsoft-iis"].version == "10.0"
    assert by_product(analysis.findings, "poste1")["libreoffice"].version == "1:7.4.7-1"
    assert by_product(analysis.findings, "poste2")["libreoffice"].version == "24.8.4.2"


def test_cpe_matches_vendor_and_product(sample: Catalog) -> None:
    cpe = obs("nmap.cpe", "cpe:/a:microsoft:internet_information_services:10.0", locus="h:80")
    assert by_product(analyse([cpe], sample).findings, "h:80")["microsoft-iis"].evidence == [cpe.id]


def test_unidentified_keeps_matcher_channels_only(sample: Catalog) -> None:
    unknown_package = obs("package", "htop", locus="poste1")
    informational = obs("dns.soa", "ns1.commune.fr. hostmaster.commune.fr. 1 2 3 4 5")
    analysis = analyse([unknown_package, informational], sample)
    assert analysis.unidentified == [unknown_package.id]


def test_findings_carry_scores_and_organisation_indexes(sample: Catalog) -> None:
    analysis = analyse([obs("dns.mx", "x.mail.protection.outlook.com")], sample)
    assert all(f.score is not None for f in analysis.findings)
    assert set(analysis.dependency_index) == {"infrastructure", "logiciel", "overall"}
    assert analysis.euros_by_jurisdiction == {}


def test_hostile_values_never_crash(sample: Catalog) -> None:
    huge = "a." * 32_000 + "mail.protection.outlook.com"
    values = [
        huge,
        "x" * 65_536,
        "\x00\x01\x1b[31m\x7f.mail.protection.outlook.com",
        "MS=\ud800\udfff",
        "40.93.1.2\x00",
        "::ffff:40.93.1.2%",
        "fe80::1%eth0%x",
        "cpe:/a",
        "cpe:2.3:a:microsoft",
        "",
        " ",
        ".",
        "..",
        "LibreOffice " + "9" * 65_536,
    ]
    channels = ["dns.mx", "dns.txt", "dns.a", "nmap.cpe", "package.windows", "dns.dkim"]
    observations = [obs(c, v) for c in channels for v in values]
    # Also values that bypass validation: lone surrogates reach the engine untouched.
    observations.append(
        Observation.model_construct(
            id="o-0000000000000000",
            probe="test",
            channel="dns.mx",
            locus="commune.fr",
            value="\udc80x.mail.protection.outlook.com",
            attributes={"version": ["not", "a", "string"]},
            notes=[],
        )
    )
    analysis = analyse(observations, sample)
    exchange = by_product(analysis.findings)["exchange-online"]
    # The 64 KB name does end with the suffix and is recognised; the control characters too.
    assert obs("dns.mx", huge).id in exchange.evidence
    assert "o-0000000000000000" in exchange.evidence
    assert exchange.version is None
    assert (
        obs("dns.txt", "MS=\ud800\udfff").id
        in by_product(analysis.findings)["microsoft-365"].evidence
    )


def test_empty_input(sample: Catalog) -> None:
    analysis = analyse([], sample)
    assert (
        analysis.findings == [] and analysis.unidentified == [] and analysis.dependency_index == {}
    )
