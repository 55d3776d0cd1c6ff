"""`tiebreak scan --external`: domain files, scans through the probes, inventories, summary,
resume, `--send` to a real server.

Every scan here runs the DNS probe only (`--probe dns`, or `ExternalSettings`' default): the test
zones point web sites at public addresses, which a web probe must never be sent to.
"""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from agent.external import (
    ExternalSettings,
    Target,
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
        [*tiebreak_cmd, "scan", "--external", "--probe", "dns", *args],
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
    # OVHcloud Web Hosting is in commune-c's DNS, but the web columns are the HTTP probe's.
    assert {(r["web_host"], r["cms"], r["cdn"]) for r in rows.values()} == {("", "", "")}

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


def _hostiles() -> list[Target]:
    return [Target(1, "hostile-b.test", "Hostiles"), Target(2, "hostile-c.test", "Hostiles")]


@pytest.mark.service
def test_external_inventories_have_the_shape_of_tiebreak_scan(knot: Any, tmp_path: Path) -> None:
    from agent.config import load_config
    from agent.scan import plan_probes, run_scan

    config = tmp_path / "tiebreak.toml"
    config.write_text(
        f"""
[organisation]
name = "Hostiles"
[scope]
domains = ["hostile-b.test", "hostile-c.test"]
[dns]
nameservers = ["{knot.address}"]
port = {knot.port}
timeout = 1.0
retries = 1
""",
        encoding="utf-8",
    )
    _path, loaded = load_config(config)
    scanned = run_scan(loaded, plan_probes(loaded, ["dns"])).inventory
    settings = ExternalSettings(nameservers=(knot.address,), port=knot.port, timeout=1.0)
    report = run_external(_hostiles(), settings, tmp_path / "out")
    (path,) = report.written
    external = Inventory.model_validate_json(path.read_text(encoding="utf-8"))

    # Same builder, same probe: the same summary, findings and observations.
    assert external.summary == scanned.summary
    assert external.summary.observations == len(external.observations) > 0
    assert [f.id for f in external.findings] == [f.id for f in scanned.findings]
    assert {o.id for o in external.observations} == {o.id for o in scanned.observations}
    assert sorted(external.unidentified) == sorted(scanned.unidentified)
    # The run is the DNS probe's, recorded as the orchestrator records it: its name, its status,
    # its count, the notes its emitter collected (tests/external checks notes and errors of runs
    # that have some).
    (run,) = external.probes
    (reference,) = scanned.probes
    assert (run.name, run.status, run.observations) == (
        "dns",
        reference.status,
        reference.observations,
    )
    assert sorted(run.notes) == sorted(reference.notes)
    assert external.scope.domains == ["hostile-b.test", "hostile-c.test"]


def _server(
    tiebreak_cmd: list[str], env: dict[str, str], data: Path, port: int
) -> subprocess.Popen[bytes]:
    """`tiebreak server run` on the loopback address, once it answers."""
    process = subprocess.Popen(
        [
            *tiebreak_cmd,
            *("server", "run", "--host", "127.0.0.1", "--port", str(port)),
            *("--data-dir", str(data)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode() if process.stderr else "")
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the server did not start within 30 s")


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.service
@pytest.mark.slow
def test_send_spools_each_organisation_and_delivers_it_with_its_own_token(
    knot: Any, tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    from sqlalchemy import func, select

    from server import admin, db, migrations

    data, tokens, spool = tmp_path / "data", tmp_path / "tokens", tmp_path / "spool"
    data.mkdir()
    tokens.mkdir(mode=0o700)
    engine = db.make_engine(f"sqlite:///{data / 'tiebreak.sqlite3'}")
    migrations.migrate(engine)
    organisations = {
        "Commune A": "213500002",
        "Commune C": None,
        "Hostiles": None,
        "Commune B": None,
    }
    ids: dict[str, int] = {}
    secrets: dict[str, str] = {}
    for name, siren in organisations.items():
        ids[name], secrets[name] = admin.create_organisation(engine, name, siren)

    def give_token(name: str) -> None:
        siren = organisations[name]
        file = tokens / (
            f"{siren}.token" if siren else inventory_path(tokens, name, None).stem + ".token"
        )
        file.write_text(secrets[name] + "\n", encoding="utf-8")
        file.chmod(0o600)

    for name in ("Commune A", "Commune C", "Hostiles"):
        give_token(name)  # Commune B has none yet
    (tmp_path / "communes.csv").write_text(
        "commune-a.test;Commune A;213500002\ncommune-b.test;Commune B;\n"
        "commune-c.test;Commune C;\nhostile-b.test;Hostiles;\nhostile-c.test;Hostiles;\n",
        encoding="utf-8",
    )
    port = _free_tcp_port()
    config = tmp_path / "tiebreak.toml"
    config.write_text(
        f'[organisation]\nname = "Équipe centrale"\n[server]\nurl = "http://127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    env = subprocess_env | {"TIEBREAK_SPOOL": str(spool)}
    args = [
        "--domains",
        "communes.csv",
        "--nameserver",
        knot.address,
        "--port",
        str(knot.port),
        "--output",
        "out",
        "--config",
        str(config),
        "--send",
        "--tokens",
        str(tokens),
    ]

    def received() -> dict[str, int]:
        with engine.connect() as connection:
            rows = connection.execute(
                select(db.inventories.c.organisation_id, func.count()).group_by(
                    db.inventories.c.organisation_id
                )
            ).all()
        counts = {int(org): int(count) for org, count in rows}
        return {name: counts.get(ids[name], 0) for name in organisations}

    def waiting() -> list[Path]:
        return sorted((spool / "external").glob("*/*.json"))

    # 0. A first run without --send: inventories only.
    first = _cli(tiebreak_cmd, env, tmp_path, *args[:-3])
    assert first.returncode == 0, first.stderr
    assert len(list((tmp_path / "out").glob("*.json"))) == 4
    assert not (spool / "external").exists()

    # 1. --send while the server is down: nothing to scan again, but what the server never took
    # is spooled, each organisation in its own folder, and waits.
    down = _cli(tiebreak_cmd, env, tmp_path, *args)
    assert down.returncode == 3, down.stderr
    assert "0 domaines scannés" in down.stdout
    assert "envoi interrompu" in down.stderr
    assert "1 organisations sans fichier de jeton" in down.stderr and "Commune B" in down.stderr
    assert len(waiting()) == 4
    assert {p.parent.name for p in waiting()} == {
        inventory_path(Path(), name, siren).stem for name, siren in organisations.items()
    }
    assert all(secret not in down.stdout + down.stderr for secret in secrets.values())

    server = _server(tiebreak_cmd, subprocess_env, data, port)
    try:
        # 2. What waits goes, each with its own token.
        up = _cli(tiebreak_cmd, env, tmp_path, *args)
        assert up.returncode == 3, up.stderr  # Commune B still has no token
        assert "0 domaines scannés" in up.stdout
        assert "Envoi : 3 inventaires envoyés" in up.stdout, up.stdout
        assert received() == {"Commune A": 1, "Commune C": 1, "Hostiles": 1, "Commune B": 0}
        assert [p.parent.name for p in waiting()] == [
            inventory_path(Path(), "Commune B", None).stem
        ]

        # 3. Its token arrives: the last one goes; a forced rescan sends a new one for each.
        give_token("Commune B")
        last = _cli(tiebreak_cmd, env, tmp_path, *args)
        assert last.returncode == 0, last.stderr
        assert "Envoi : 1 inventaires envoyés" in last.stdout
        assert received() == dict.fromkeys(organisations, 1)
        assert waiting() == []
        assert len((tmp_path / "out" / "sent.log").read_text().splitlines()) == 4
        again = _cli(tiebreak_cmd, env, tmp_path, *args)  # all sent: nothing more goes
        assert "Envoi : 0 inventaires envoyés" in again.stdout
        assert received() == dict.fromkeys(organisations, 1)

        forced = _cli(tiebreak_cmd, env, tmp_path, *args, "--force", "--quiet")
        assert forced.returncode == 0, forced.stderr
        assert forced.stdout == ""
        assert received() == dict.fromkeys(organisations, 2)
        assert waiting() == []
        with engine.connect() as connection:
            documents = connection.execute(select(db.inventories.c.document)).scalars().all()
        sent = [Inventory.model_validate_json(document) for document in documents]
        hostiles = [i for i in sent if i.organisation.name == "Hostiles"]
        assert all(i.scope.domains == ["hostile-b.test", "hostile-c.test"] for i in hostiles)
    finally:
        server.terminate()
        server.wait(10)
    engine.dispose()


def test_send_with_many_organisations_needs_a_token_folder(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    token = tmp_path / "token"
    token.write_text("x")
    token.chmod(0o600)
    config = tmp_path / "tiebreak.toml"
    config.write_text(
        f'[organisation]\nname = "X"\n[server]\nurl = "http://127.0.0.1:9"\n'
        f'token_file = "{token}"\n',
        encoding="utf-8",
    )
    (tmp_path / "list.txt").write_text("commune-a.test\ncommune-b.test\n", encoding="utf-8")
    env = subprocess_env | {"TIEBREAK_SPOOL": str(tmp_path / "spool")}
    result = _cli(
        tiebreak_cmd, env, tmp_path, "--domains", "list.txt", "--config", str(config), "--send"
    )
    assert result.returncode == 2
    assert "--tokens" in result.stderr
    assert not (tmp_path / "tiebreak-external").exists()  # refused before scanning
