"""`tiebreak scan --external`: domain files, DNS-only scans, inventories, summary, resume."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from agent.external import (
    ExternalSettings,
    inventory_path,
    normalise_domain,
    parse_domain_lines,
    read_domain_file,
    run_external,
)
from inventory import Inventory

DOMAIN_FILE = """\
# Communes of the test territory
domaine;organisation;siren

commune-a.test;Commune A;213500002
commune-b.test;Commune B;
commune-c.test;Commune C;
commune-d.test;Commune D;
commune-e.test;Commune E;
COMMUNE-A.test.;Doublon;
pas un domaine;X;
commune-x.test;Commune X;123456789
commune-y.test;Commune Y;;colonne en trop
hostile-b.test;Hostiles;
hostile-c.test;Hostiles;
broken.test;Broken;
"""


def test_domain_file_bad_lines_are_reported_with_their_number() -> None:
    domains = parse_domain_lines(DOMAIN_FILE.splitlines(), "communes.csv")
    assert [t.domain for t in domains.targets] == [
        "commune-a.test",
        "commune-b.test",
        "commune-c.test",
        "commune-d.test",
        "commune-e.test",
        "hostile-b.test",
        "hostile-c.test",
        "broken.test",
    ]
    assert [p.split(": ", 1)[0] for p in domains.problems] == [
        "communes.csv:9",
        "communes.csv:10",
        "communes.csv:11",
        "communes.csv:12",
    ]
    assert "4" in domains.problems[0].split(": ", 2)[2]  # duplicate of line 4
    assert domains.targets[0].siren == "213500002"
    assert domains.targets[0].organisation == "Commune A"
    assert domains.targets[5].key == domains.targets[6].key  # one organisation, two domains


def test_plain_list_and_idn() -> None:
    domains = parse_domain_lines(["mairie-évry.test", "", "  commune.test  ", "# x", "a..b"])
    assert [(t.line, t.domain, t.organisation) for t in domains.targets] == [
        (1, "xn--mairie-vry-h7a.test", "mairie-évry.test"),
        (3, "commune.test", "commune.test"),
    ]
    assert domains.problems == ["-:5: nom de domaine invalide 'a..b'"] or domains.problems == [
        "-:5: invalid domain name 'a..b'"
    ]
    assert normalise_domain("https://commune.test/") is None
    assert normalise_domain("-bad.test") is None
    assert normalise_domain("test") is None


def _cli(
    tiebreak_cmd: list[str], env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*tiebreak_cmd, "scan", "--external", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.mark.service
def test_external_mode_end_to_end(
    knot: Any, tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    (tmp_path / "communes.csv").write_text(DOMAIN_FILE, encoding="utf-8")
    out = tmp_path / "out"
    args = [
        "--domains",
        "communes.csv",
        "--nameserver",
        knot.address,
        "--port",
        str(knot.port),
        "--output",
        str(out),
        "--concurrency",
        "8",
    ]
    first = _cli(tiebreak_cmd, subprocess_env, tmp_path, *args)
    assert first.returncode == 1, first.stderr  # partial: four bad lines
    for number in (9, 10, 11, 12):
        assert f"communes.csv:{number}:" in first.stderr
    inventories = sorted(out.glob("*.json"))
    assert len(inventories) == 7  # Hostiles has two domains in one inventory
    commune_a = Inventory.model_validate_json(
        inventory_path(out, "Commune A", "213500002").read_text(encoding="utf-8")
    )
    assert commune_a.organisation.siren == "213500002"
    assert commune_a.scope.domains == ["commune-a.test"]
    assert commune_a.probes[0].status.value == "ok"
    assert "exchange-online" in {f.product for f in commune_a.findings}

    with (out / "summary.csv").open(encoding="utf-8") as handle:
        rows = {row["domain"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {
        "commune-a.test",
        "commune-b.test",
        "commune-c.test",
        "commune-d.test",
        "commune-e.test",
        "hostile-b.test",
        "hostile-c.test",
        "broken.test",
    }
    assert rows["commune-a.test"]["organisation"] == "Commune A"
    assert rows["commune-a.test"]["mail_provider"] == "Exchange Online"
    assert rows["commune-a.test"]["dns_host"] == "Cloudflare DNS"
    assert rows["commune-a.test"]["jurisdiction_classes"] == "non-eu"
    assert rows["commune-c.test"]["jurisdiction_classes"] == "eu"
    assert rows["commune-c.test"]["dns_host"] == "Gandi LiveDNS"
    assert "OVHcloud" in rows["commune-c.test"]["mail_provider"]
    assert rows["commune-d.test"]["mail_provider"].startswith("auto-hébergé (passerelle Vade")
    assert "Microsoft" not in rows["commune-e.test"]["mail_provider"]
    assert rows["commune-e.test"]["dns_host"] == "OVHcloud DNS"  # dns200.anycast.me
    assert rows["broken.test"]["dns_status"] == "servfail"

    stamps = {p: p.stat().st_mtime_ns for p in inventories}
    second = _cli(tiebreak_cmd, subprocess_env, tmp_path, *args)
    assert second.returncode == 1
    assert "0 domaines scannés" in second.stdout
    assert "7 organisations déjà faites" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in inventories} == stamps

    forced = _cli(tiebreak_cmd, subprocess_env, tmp_path, *args, "--force")
    assert "8 domaines scannés" in forced.stdout
    assert all(p.stat().st_mtime_ns != stamps[p] for p in inventories)


@pytest.mark.service
def test_resume_scans_only_what_is_missing(knot: Any, tmp_path: Path) -> None:
    domains = parse_domain_lines(DOMAIN_FILE.splitlines())
    settings = ExternalSettings(nameservers=(knot.address,), port=knot.port, timeout=1.0)
    report = run_external(domains.targets, settings, tmp_path)
    assert report.domains_scanned == 8
    assert report.failed_domains == []
    # An interrupted run: one inventory missing, another one left incomplete.
    inventory_path(tmp_path, "Commune B", None).unlink()
    hostiles = inventory_path(tmp_path, "Hostiles", None)
    document = json.loads(hostiles.read_text(encoding="utf-8"))
    document["scope"]["domains"] = ["hostile-b.test"]
    hostiles.write_text(json.dumps(document), encoding="utf-8")
    scanned: list[str] = []
    report = run_external(domains.targets, settings, tmp_path, progress=scanned.append)
    assert sorted(scanned) == ["commune-b.test", "hostile-b.test", "hostile-c.test"]
    assert report.skipped == 5


@pytest.mark.service
def test_unreachable_resolver_stops_external_mode_fast(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.53.0.9", 0))
        port = probe.getsockname()[1]
    (tmp_path / "list.txt").write_text("commune-a.test\n", encoding="utf-8")
    started = time.monotonic()
    result = _cli(
        tiebreak_cmd,
        subprocess_env,
        tmp_path,
        "--domains",
        "list.txt",
        "--nameserver",
        "127.53.0.9",
        "--port",
        str(port),
        "-o",
        "out",
    )
    assert result.returncode == 2
    assert f"127.53.0.9:{port}" in result.stderr
    assert time.monotonic() - started < 15
    assert not list((tmp_path / "out").glob("*.json"))


def test_external_needs_domains(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    result = _cli(tiebreak_cmd, subprocess_env, tmp_path)
    assert result.returncode == 2
    assert "--domains" in result.stderr


def test_excel_csv_in_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("Domaine;Organisation;SIREN\r\névry.test;Mairie d'Évry;\r\n".encode("cp1252"))
    domains = read_domain_file(path)
    assert domains.problems == []
    assert [(t.domain, t.organisation) for t in domains.targets] == [
        ("xn--vry-9la.test", "Mairie d'Évry")
    ]
