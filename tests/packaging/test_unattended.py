"""The unattended-scan files of docs/: systemd units that systemd accepts, the hardening they
promise, the command they run working as an unprivileged user, and the probe table's claims.

systemd does not run as PID 1 here, so the units are checked with `systemd-analyze verify` and
`systemd-analyze security --offline=yes`; the service's command line itself is run under
`setpriv` as an unprivileged user, with the environment and paths the unit gives it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inventory.models import Inventory
from probes.registry import all_names

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "docs" / "systemd"
DROP_IN = "tiebreak-scan.service.d"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
DEBIAN_PYTHON = Path("/usr/bin/python3")
NOBODY = 65534
CAPABILITIES = "+sys_ptrace,+dac_read_search"

needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze absent (paquet systemd / systemd package)"
)


def _analyze(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def _unit_copy(directory: Path, drop_in: bool) -> Path:
    """The shipped units in `directory`, ExecStart pointed at an existing tiebreak binary
    (verify checks that the program exists; /usr/local/bin/tiebreak is not installed here)."""
    binary = Path(sys.executable).parent / "tiebreak"
    if not binary.exists():
        pytest.skip(f"{binary} absent")
    directory.mkdir()
    service = (UNITS / "tiebreak-scan.service").read_text(encoding="utf-8")
    assert "ExecStart=/usr/local/bin/tiebreak scan " in service
    service = service.replace("ExecStart=/usr/local/bin/tiebreak", f"ExecStart={binary}")
    (directory / "tiebreak-scan.service").write_text(service, encoding="utf-8")
    shutil.copy(UNITS / "tiebreak-scan.timer", directory)
    if drop_in:
        shutil.copytree(UNITS / DROP_IN, directory / DROP_IN)
    return directory / "tiebreak-scan.service"


@pytest.fixture
def verify_works(tmp_path: Path) -> None:
    """Skip, with systemd's reason, where verification itself cannot run in this container."""
    probe = tmp_path / "canary.service"
    probe.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n", encoding="utf-8")
    done = _analyze("verify", "--man=no", probe)
    if done.returncode != 0:
        pytest.skip(f"systemd-analyze verify ne fonctionne pas ici / does not run here: {done}")


@needs_systemd_analyze
@pytest.mark.parametrize("drop_in", [False, True], ids=["service", "with-capabilities"])
def test_units_pass_systemd_analyze_verify(
    drop_in: bool, tmp_path: Path, verify_works: None
) -> None:
    service = _unit_copy(tmp_path / "units", drop_in)
    done = _analyze("verify", "--man=no", service, service.with_suffix(".timer"))
    assert done.returncode == 0, done.stdout + done.stderr
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if "tiebreak" in line]
    assert not complaints


def _security(service: Path) -> tuple[float, str]:
    done = _analyze("security", "--offline=yes", "--no-pager", service)
    found = re.search(r"Overall exposure level for tiebreak-scan\.service: ([\d.]+)", done.stdout)
    if found is None:
        pytest.skip(f"systemd-analyze security --offline indisponible / unavailable: {done}")
    return float(found.group(1)), done.stdout


@needs_systemd_analyze
def test_service_is_hardened_and_holds_no_capability(tmp_path: Path, verify_works: None) -> None:
    exposure, report = _security(_unit_copy(tmp_path / "units", drop_in=False))
    assert exposure <= 2.0, report
    for promised in (
        "✓ User=/DynamicUser=",
        "✓ NoNewPrivileges=",
        "✓ ProtectSystem=",
        "✓ ProtectHome=",
        "✓ PrivateTmp=",
        "✓ AmbientCapabilities=",
        "✓ CapabilityBoundingSet=~CAP_SYS_PTRACE",
        "✓ CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)",
        "✓ CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)",
        "✓ RestrictAddressFamilies=~AF_PACKET",
    ):
        assert promised in report, promised
    timer = (UNITS / "tiebreak-scan.timer").read_text(encoding="utf-8")
    assert "Persistent=true" in timer and "RandomizedDelaySec=" in timer


@needs_systemd_analyze
def test_capabilities_drop_in_adds_exactly_the_processes_probes_two(
    tmp_path: Path, verify_works: None
) -> None:
    exposure, report = _security(_unit_copy(tmp_path / "units", drop_in=True))
    assert exposure <= 3.0, report
    assert "✗ CapabilityBoundingSet=~CAP_SYS_PTRACE" in report
    assert "✗ CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)" in report
    assert "✓ CapabilityBoundingSet=~CAP_SYS_ADMIN" in report
    assert "✓ CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)" in report
    assert "✓ NoNewPrivileges=" in report


def test_probe_table_names_every_probe_in_both_languages() -> None:
    text = (REPO / "docs" / "unattended.md").read_text(encoding="utf-8")
    french, _, english = text.partition("# Unattended scans (English)")
    for part in (french, english):
        rows = re.findall(r"^\| `([a-z]+)` \|", part, flags=re.MULTILINE)
        assert sorted(rows) == sorted(all_names())


# -- the service's command, run as an unprivileged user ---------------------------------------


def _unit_values(key: str) -> list[str]:
    service = (UNITS / "tiebreak-scan.service").read_text(encoding="utf-8")
    return re.findall(rf"^{key}=(.*)$", service, flags=re.MULTILINE)


@pytest.fixture
def sandbox(built: Any) -> Iterator[Path]:
    """A directory an unprivileged user can enter, with the .pyz in it (pytest's own temporary
    directories are private to root)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("root et setpriv nécessaires / root and setpriv needed")
    version = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if version != str(sys.version_info[:2]):
        pytest.skip(f"{DEBIAN_PYTHON} {version or 'absent'} ≠ {sys.version_info[:2]}")
    root = Path(tempfile.mkdtemp(prefix="tiebreak-unattended-"))
    try:
        root.chmod(0o755)
        shutil.copy(built.pyz, root / "tiebreak-agent.pyz")
        (root / "tiebreak-agent.pyz").chmod(0o644)
        yield root
    finally:
        shutil.rmtree(root)


def _as_user(env: dict[str, str], caps: str = "") -> list[str]:
    argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if caps:
        argv += [f"--inh-caps={caps}", f"--ambient-caps={caps}"]
    return [*argv, "env", "-i", *(f"{k}={v}" for k, v in env.items())]


def _owned_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True)
    os.chown(path, NOBODY, NOBODY)
    path.chmod(mode)
    return path


@pytest.mark.slow
@pytest.mark.root
def test_the_services_command_runs_as_an_unprivileged_user(sandbox: Path) -> None:
    state = _owned_dir(sandbox / "var-lib-tiebreak")
    etc = sandbox / "etc-tiebreak"
    etc.mkdir(mode=0o755)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: the server is unreachable
    port = closed.getsockname()[1]
    token = etc / "agent-token"
    token.write_text("jeton-de-test\n", encoding="utf-8")
    os.chown(token, NOBODY, NOBODY)
    token.chmod(0o600)
    (etc / "agent.toml").write_text(
        f'[organisation]\nname = "Commune de Test"\n[server]\nurl = "http://127.0.0.1:{port}"\n'
        f'token_file = "{token}"\n',
        encoding="utf-8",
    )

    def mapped(value: str) -> str:
        return value.replace("/var/lib/tiebreak", str(state)).replace("/etc/tiebreak", str(etc))

    (exec_start,) = _unit_values("ExecStart")
    program, *arguments = shlex.split(mapped(exec_start))
    assert program == "/usr/local/bin/tiebreak"
    env = {"HOME": str(state), "PATH": "/usr/bin:/bin", "SHIV_ROOT": str(state / "shiv")}
    env |= dict(mapped(value).split("=", 1) for value in _unit_values("Environment"))
    argv = [*_as_user(env), str(DEBIAN_PYTHON), str(sandbox / "tiebreak-agent.pyz"), *arguments]
    try:
        done = subprocess.run(
            argv, cwd=state, capture_output=True, text=True, timeout=180, check=False
        )
    finally:
        closed.close()

    assert done.returncode == 3, done.stderr  # written, waiting in the spool
    assert done.stdout == ""  # --quiet
    assert "127.0.0.1" in done.stderr and "jeton-de-test" not in done.stderr
    inventory = Inventory.model_validate_json((state / "dernier-inventaire.json").read_bytes())
    probes = {p.name: p.status for p in inventory.probes}
    assert probes["system"] == probes["host"] == probes["processes"] == "ok"
    (waiting,) = (state / "spool").glob("*.json")
    assert json.loads(waiting.read_bytes())["id"] == str(inventory.id)
    assert os.stat(state / "spool").st_uid == NOBODY
    assert list((state / "history").glob("*.json")), "tiebreak status reads the history"


@pytest.mark.slow
@pytest.mark.root
def test_processes_probe_names_another_users_listener_only_with_both_capabilities(
    sandbox: Path,
) -> None:
    import psutil

    home = _owned_dir(sandbox / "home")
    (sandbox / "tiebreak.toml").write_text('[organisation]\nname = "Commune de Test"\n')
    listener = subprocess.Popen(
        ["setpriv", "--reuid=4321", "--regid=4321", "--clear-groups", str(DEBIAN_PYTHON), "-c",
         "import socket, sys, time\n"
         "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
         "print(s.getsockname()[1], flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert listener.stdout is not None
        port = int(listener.stdout.readline())
        name = psutil.Process(listener.pid).name().lower()
        seen = {}
        for label, caps in [
            ("none", ""),
            ("ptrace", "+sys_ptrace"),
            ("dac", "+dac_read_search"),
            ("both", CAPABILITIES),
        ]:
            output = home / f"{label}.json"
            env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "SHIV_ROOT": str(home / "shiv")}
            done = subprocess.run(
                [*_as_user(env, caps), str(DEBIAN_PYTHON), str(sandbox / "tiebreak-agent.pyz"),
                 "scan", "--probe", "processes", "-q", "--config", str(sandbox / "tiebreak.toml"),
                 "-o", str(output)],
                cwd=home, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            inventory = Inventory.model_validate_json(output.read_bytes())
            (listen,) = [
                o
                for o in inventory.observations
                if o.channel == "listen" and o.value == f"tcp/{port}"
            ]
            seen[label] = listen.attributes["processes"]
    finally:
        listener.kill()
        listener.wait()
    assert seen == {"none": [], "ptrace": [], "dac": [], "both": [name]}
