"""The scope helper and the nmap probe's plan: what is refused before any packet is sent."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from defusedxml import DefusedXmlException

from agent.orchestrator import PlannedProbe, run_probes
from inventory import ProbeStatus
from probes.base import NmapSettings, ProbeContext
from probes.network.probe import NetworkProbe, hosts_of, plan
from probes.scope import ScopeError, targets


def test_networks_minus_exclusions_collapse_to_the_addresses_left() -> None:
    scope = targets(["127.70.0.8/29", "127.70.0.16/29"], ["127.70.0.10/32", "127.70.0.16/30"])
    assert scope.arguments() == [
        "127.70.0.8/31",
        "127.70.0.11/32",
        "127.70.0.12/30",
        "127.70.0.20/30",
    ]
    assert scope.size == 16 - 1 - 4
    assert scope.allows("127.70.0.9") and not scope.allows("127.70.0.10")
    assert not scope.allows("127.70.0.7") and not scope.allows("127.70.0.17")
    assert not scope.allows("not an address")
    assert str(scope.network_of("127.70.0.21")) == "127.70.0.16/29"


@pytest.mark.parametrize(
    ("networks", "exclude", "message"),
    [
        ([], [], "[scope] networks est vide"),
        (["127.70.0.8/29"], ["127.70.0.0/24"], "retire toutes les adresses"),
        (["127.70.0.0/33"], [], "n'est pas un bloc CIDR"),
        (["127.70.0.9/29"], [], "voulez-vous dire 127.70.0.8/29"),
        (["mairie.local"], [], "pas un nom d'hôte"),
        (["-iL/etc/passwd"], [], "commence par « - »"),
        (["127.0.0.1/32 -oN /tmp/x"], [], "contient ' '"),
        (["127.0.0.1/32;id"], [], "contient ';'"),
        (["127.0.0.1/32,127.0.0.2/32"], [], "contient ','"),
        (["$(id)"], [], "contient '$'"),
        (["`id`"], [], "contient '`'"),
        (["127.0.0.1/32|id"], [], "contient '|'"),
        (["127.0.0.1/32&"], [], "contient '&'"),
        (["127.0.0.1/32\n"], [], "contient '\\\\n'"),
        (["127.0.0.0/24"], ["-127.0.0.1/32"], "[scope] exclude"),
        (["198.51.100.0/24"], [], "adresses publiques"),
        (["127.0.0.0/8"], [], "plus que les 65536"),
    ],
)
def test_bad_scopes_are_refused_with_the_value_named(
    networks: list[str], exclude: list[str], message: str
) -> None:
    with pytest.raises(ScopeError) as caught:
        targets(networks, exclude)
    assert message in str(caught.value)


def test_a_public_range_is_allowed_only_when_said_so() -> None:
    # 198.51.100.0/24 is TEST-NET-2 (RFC 5737): documentation only, never scanned here.
    assert targets(["198.51.100.0/24"], allow_public=True).size == 256


def test_the_plan_is_an_argument_list_built_from_validated_values() -> None:
    ctx = ProbeContext(
        networks=("127.70.0.8/29",),
        exclude=("127.70.0.10/32",),
        nmap=NmapSettings(tcp_ports=("22", "80", "8000-8010"), max_rate=50, host_timeout=30),
    )
    root = plan("/usr/bin/nmap", ctx, privileged=True)
    argv = list(root.argv)
    assert argv[:4] == ["/usr/bin/nmap", "-oX", "-", "--noninteractive"]
    assert "-sS" in argv and "-sU" in argv and "--version-light" in argv
    assert argv[argv.index("-p") + 1] == "T:22,80,8000-8010,U:161,1434"
    assert argv[argv.index("--max-rate") + 1] == "50"
    assert argv[argv.index("--host-timeout") + 1] == "30s"
    assert argv[argv.index("--exclude") + 1] == "127.70.0.10/32"
    assert argv[-3:] == ["127.70.0.8/31", "127.70.0.11/32", "127.70.0.12/30"]
    assert "-n" in argv  # no reverse DNS unless asked

    user = plan("/usr/bin/nmap", ctx, privileged=False)
    assert "-sT" in user.argv and "-sS" not in user.argv and "-sU" not in user.argv
    assert any("TCP connect" in note for note in user.notes)


def test_ports_that_read_as_options_are_refused() -> None:
    ctx = ProbeContext(networks=("127.70.0.8/29",), nmap=NmapSettings(tcp_ports=("22", "-A")))
    with pytest.raises(ScopeError, match="commence par"):
        plan("/usr/bin/nmap", ctx, privileged=False)


@pytest.mark.parametrize(
    ("networks", "exclude"),
    [(("127.70.0.0/24",), ("127.0.0.0/8",)), (("198.51.100.0/24",), ()), (("-sV",), ())],
)
def test_the_probe_fails_before_running_nmap(
    networks: tuple[str, ...],
    exclude: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An nmap that records being run: it must never be.
    marker = tmp_path / "ran"
    fake = tmp_path / "nmap"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    ctx = ProbeContext(networks=networks, exclude=exclude)
    result = run_probes([PlannedProbe(NetworkProbe(), 30.0)], ctx)
    (run,) = result.runs
    assert run.status is ProbeStatus.FAILED
    assert run.error is not None and "ScopeError" in run.error
    assert not marker.exists()


def test_without_networks_or_nmap_the_probe_is_skipped_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_probes([PlannedProbe(NetworkProbe(), 5.0)], ProbeContext())
    assert result.runs[0].status is ProbeStatus.SKIPPED
    assert "[scope] networks" in (result.runs[0].error or "")
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run_probes(
        [PlannedProbe(NetworkProbe(), 5.0)], ProbeContext(networks=("127.70.0.8/29",))
    )
    assert result.runs[0].status is ProbeStatus.SKIPPED
    assert "apt-get install nmap" in (result.runs[0].error or "")


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE nmaprun [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<nmaprun><host><status state="up"/><address addr="127.70.0.9" addrtype="ipv4"/>
<hostnames><hostname name="&c;"/></hostnames></host></nmaprun>
"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE nmaprun [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<nmaprun><host><status state="up"/><address addr="127.70.0.9" addrtype="ipv4"/>
<hostnames><hostname name="&secret;"/></hostnames></host></nmaprun>
"""


@pytest.mark.parametrize("document", [BOMB, EXTERNAL], ids=["entity-bomb", "external-entity"])
def test_nmap_xml_with_entities_is_refused(document: bytes) -> None:
    with pytest.raises(DefusedXmlException):
        list(hosts_of(io.BytesIO(document)))


def test_hostile_banners_are_bounded_and_stripped() -> None:
    product = b"Evil&#x202e;[31m httpd " + b"X" * 5000
    document = b"".join(
        [
            b'<?xml version="1.0"?><nmaprun><host><status state="up"/>',
            b'<address addr="127.70.0.9" addrtype="ipv4"/><ports>',
            b'<port protocol="tcp" portid="80"><state state="open"/>',
            b'<service name="http" product="' + product + b'" version="1&#x200b;"/>',
            b'<script id="http-title" output="t"><elem key="title">Bonjour&#10;&#9;l&#xe0;',
            b"</elem></script></port></ports></host></nmaprun>",
        ]
    )
    (host,) = hosts_of(io.BytesIO(document))
    (service,) = host.services
    assert service.product is not None and service.product.startswith("Evil [31m httpd XXX")
    assert len(service.product) == 256 and service.product.endswith("…")
    assert service.version == "1"
    assert service.title == "Bonjour là"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[scope]\nnetworks = ["198.51.100.0/24"]', "allow_public = true"),
        ('[scope]\nnetworks = ["127.70.0.8/29"]\nexclude = ["127.70.0.0/24"]', "retire toutes"),
        ('[scope]\nnetworks = ["127.70.0.9/29"]', "voulez-vous dire 127.70.0.8/29"),
        ("[nmap]\nmax_rate = 0", "[nmap] max_rate"),
        ('[nmap]\ntcp_ports = ["-A"]', "[nmap] tcp_ports[0]"),
        ("[nmap]\ntcp_ports = [70000]", "port hors de 1 à 65535"),
        ('[nmap]\nscan_type = "xmas"', "[nmap] scan_type"),
        ("[nmap]\nversion_intensity = 12", "[nmap] version_intensity"),
    ],
)
def test_a_bad_scope_or_nmap_section_stops_at_the_configuration(
    section: str, message: str, tmp_path: Path
) -> None:
    from agent.config import ConfigError, load_config

    path = tmp_path / "tiebreak.toml"
    path.write_text(f'[organisation]\nname = "Commune"\n{section}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)


def test_a_good_nmap_section_reaches_the_probe(tmp_path: Path) -> None:
    from agent.config import load_config
    from agent.scan import probe_context

    path = tmp_path / "tiebreak.toml"
    path.write_text(
        '[organisation]\nname = "Commune"\n[scope]\nnetworks = ["127.70.0.8/29"]\n'
        '[nmap]\ntcp_ports = [22, "8000-8010"]\nmax_rate = 100\nscan_type = "connect"\n'
    )
    _path, config = load_config(path)
    ctx = probe_context(config)
    assert ctx.nmap.tcp_ports == ("22", "8000-8010")
    assert ctx.nmap.max_rate == 100 and ctx.nmap.scan_type == "connect"
    assert "-sT" in plan("/usr/bin/nmap", ctx, privileged=True).argv
