"""The nmap probe against the network lab: real nmap, real daemons, a packet capture.

The probe runs in this process through the orchestrator; its nmap is the lab's wrapper, which runs
/usr/bin/nmap inside the lab's namespace (first in PATH), so every packet stays in the lab.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from agent.orchestrator import PlannedProbe, ScanResult, run_probes
from fingerprints.engine import analyse
from inventory import ProbeStatus
from inventory.channels import Channel
from probes.base import NmapSettings, ProbeContext
from probes.network.probe import NetworkProbe

pytestmark = [pytest.mark.root, pytest.mark.service, pytest.mark.slow]

network_lab = sys.modules["tiebreak_test_network_lab"]


def scan(
    lab: Any,
    monkeypatch: pytest.MonkeyPatch,
    networks: tuple[str, ...],
    exclude: tuple[str, ...] = (),
    timeout: float = 300.0,
    **nmap: Any,
) -> ScanResult:
    monkeypatch.setenv("PATH", f"{lab.nmap_wrapper.parent}:/usr/sbin:/usr/bin:/sbin:/bin")
    ctx = ProbeContext(networks=networks, exclude=exclude, nmap=NmapSettings(**nmap))
    return run_probes([PlannedProbe(NetworkProbe(), timeout)], ctx)


def by_value(result: ScanResult, channel: Channel) -> dict[str, dict[str, Any]]:
    return {o.value: o.attributes for o in result.observations if o.channel == channel}


@pytest.fixture(scope="module")
def lab_scan(lab: Any) -> ScanResult:
    with pytest.MonkeyPatch.context() as monkeypatch:
        result = scan(lab, monkeypatch, ("127.70.0.0/27",))
    (run,) = result.runs
    assert run.status is ProbeStatus.OK, run.error
    return result


def test_every_service_of_the_lab_is_reported_with_its_hosts(lab_scan: ScanResult) -> None:
    expected: dict[str, set[str]] = defaultdict(set)
    for service in network_lab.EXPECTED_SERVICES:
        expected[service.product].add(service.address)
    products = by_value(lab_scan, Channel.NMAP_SERVICE)
    for product, addresses in expected.items():
        assert products[product]["addresses"] == sorted(addresses), product
        assert products[product]["count"] == len(addresses)
    nginx = products["nginx"]
    assert {(i["address"], i["port"]) for i in nginx["instances"]} == {
        ("127.70.0.9", 80),
        ("127.70.0.9", 443),
    }
    assert nginx["versions"] == {"1.22.1": 2}
    headers = by_value(lab_scan, Channel.HTTP_HEADER)
    assert headers["server: Microsoft-IIS/10.0"]["addresses"] == ["127.70.0.14"]
    titles = by_value(lab_scan, Channel.HTTP_TITLE)
    assert "IIS Windows Server" in titles and "Welcome to nginx!" in titles
    cpes = by_value(lab_scan, Channel.NMAP_CPE)
    assert cpes["cpe:/o:microsoft:windows"]["addresses"] == ["127.70.0.14", "127.70.0.15"]
    # one informational observation per live host, at the host's address
    hosts = by_value(lab_scan, Channel.NMAP_HOST)
    assert "127.70.0.12" in hosts and hosts["127.70.0.12"]["network"] == "127.70.0.0/27"
    assert "445/tcp netbios-ssn" in hosts["127.70.0.12"]["ports"]
    for observation in lab_scan.observations:
        if observation.channel != Channel.NMAP_HOST:
            assert observation.locus == "127.70.0.0/27"


def test_the_catalog_names_the_vendors_and_counts_hosts_once(lab_scan: ScanResult) -> None:
    analysis = analyse(lab_scan.observations, today=datetime.date(2026, 11, 29))
    found = {f.product: f for f in analysis.findings}
    for product in (
        "microsoft-iis",
        "microsoft-exchange-server",
        "nginx",
        "openssh",
        "samba",
        "openldap",
        "exim",
    ):
        assert product in found, (product, sorted(found))
    assert any(p.startswith("cisco") for p in found), sorted(found)
    # nginx shows on two ports, by its product, its CPE, its Server header and its title:
    # one host.
    assert found["nginx"].attributes["servers"] == 1
    assert found["samba"].attributes["servers"] == 1
    assert found["nginx"].locus == "127.70.0.0/27"


def test_no_packet_leaves_the_scope_and_excluded_hosts_are_not_touched(
    lab: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A /29 inside the populated /24, one address of it excluded: the capture of the whole
    scan shows packets only to the /29's other addresses (and replies to the scanner)."""
    scope, excluded = "127.70.0.8/29", "127.70.0.10/32"
    with lab.capture(tmp_path / "scan.pcap") as capture:
        result = scan(lab, monkeypatch, (scope,), (excluded,))
    (run,) = result.runs
    assert run.status is ProbeStatus.OK, run.error
    allowed = {f"127.70.0.{i}" for i in range(8, 16)} - {"127.70.0.10"}
    destinations = capture.destinations()
    assert destinations, "the capture saw nothing: it proves nothing"
    strays = set(destinations) - allowed - {network_lab.SCANNER_SOURCE}
    assert not strays, strays
    assert "127.70.0.10" not in destinations
    assert set(destinations) & allowed  # the scan did reach its targets
    seen = {o.value for o in result.observations if o.channel == Channel.NMAP_HOST}
    assert seen <= allowed and "127.70.0.9" in seen


def test_a_scan_stopped_at_the_deadline_keeps_the_hosts_already_reported(
    lab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    # 5 packets/s over the whole /27 and the default ports: minutes of work, 12 s to do it.
    result = scan(
        lab,
        monkeypatch,
        ("127.70.0.0/27",),
        timeout=12.0,
        max_rate=5,
        tcp_ports=("22", "25", "80"),
    )
    elapsed = time.monotonic() - started
    (run,) = result.runs
    assert run.status is ProbeStatus.FAILED, run
    assert run.error is not None and "arrêté au délai" in run.error
    assert elapsed < 12.0
    leftover = subprocess.run(
        ["pgrep", "-f", f"ip netns exec {lab.netns} /usr/bin/nmap"], capture_output=True
    )
    assert leftover.returncode == 1, leftover.stdout  # no nmap left running
    for observation in result.observations:
        if observation.channel != Channel.NMAP_HOST:
            assert observation.attributes.get("partial") is True


def test_nmap_failing_fails_the_probe_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An nmap that fails as nmap does when it cannot open a device (stderr, exit code 1).
    fake = tmp_path / "nmap"
    fake.write_text("#!/bin/sh\necho 'QUITTING! Failed to open device lo' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    result = run_probes(
        [PlannedProbe(NetworkProbe(), 30.0)], ProbeContext(networks=("127.70.0.8/29",))
    )
    (run,) = result.runs
    assert run.status is ProbeStatus.FAILED
    assert run.error is not None and "nmap a échoué (code 1)" in run.error
    assert "Failed to open device lo" in run.error
