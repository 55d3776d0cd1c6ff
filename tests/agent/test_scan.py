"""`tiebreak scan` end to end: a valid inventory, exit codes, quiet mode, safe output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.cli import main
from inventory import Inventory
from probes import registry

CONFIG = """
[organisation]
name = "Commune d'Exemple-sur-Test"
siren = "213105554"

[scope]
networks = ["127.0.0.1/32"]

[probes]
enable = ["system"]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiebreak.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def _run(
    cmd: list[str], env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=120
    )


def test_scan_writes_a_valid_inventory(
    config: Path, tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    result = _run(tiebreak_cmd, subprocess_env, tmp_path, "scan", "--config", str(config))
    assert result.returncode == 0, result.stderr
    written = list(tmp_path.glob("tiebreak-commune-d-exemple-sur-test-*Z.json"))
    assert len(written) == 1, result.stdout
    inventory = Inventory.model_validate_json(written[0].read_text(encoding="utf-8"))
    assert inventory.organisation.siren == "213105554"
    assert [r.name for r in inventory.probes] == ["system"]
    assert inventory.probes[0].status == "ok"
    assert any(o.channel == "os" for o in inventory.observations)
    assert inventory.summary.observations == len(inventory.observations)
    assert inventory.scope.networks == ["127.0.0.1/32"]
    assert "Résultat du scan" in result.stdout
    assert written[0].name in result.stdout


def test_quiet_prints_nothing_and_honours_output(
    config: Path, tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    output = tmp_path / "inventaire.json"
    result = _run(
        tiebreak_cmd, subprocess_env, tmp_path, "scan", "-c", str(config), "-o", str(output), "-q"
    )
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""
    assert json.loads(output.read_text(encoding="utf-8"))["schema"] == "1.0"


def test_bad_config_exits_2_and_keeps_the_previous_inventory(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace("213105554", "213105555"), encoding="utf-8")
    previous = tmp_path / "inventaire.json"
    previous.write_text('{"previous": true}', encoding="utf-8")
    result = _run(
        tiebreak_cmd, subprocess_env, tmp_path, "scan", "-c", str(bad), "-o", str(previous)
    )
    assert result.returncode == 2
    assert "bad.toml: [organisation] siren" in result.stderr
    assert previous.read_text(encoding="utf-8") == '{"previous": true}'


def test_unknown_probe_is_a_configuration_error(
    config: Path, tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    result = _run(
        tiebreak_cmd, subprocess_env, tmp_path, "scan", "-c", str(config), "--probe", "sytsem"
    )
    assert result.returncode == 2
    assert "sytsem" in result.stderr and "system" in result.stderr


def test_unwritable_output_fails_before_scanning(
    config: Path, tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    missing_dir = tmp_path / "absent" / "inventaire.json"
    result = _run(
        tiebreak_cmd, subprocess_env, tmp_path, "scan", "-c", str(config), "-o", str(missing_dir)
    )
    assert result.returncode == 2
    assert "dossier introuvable / directory not found" in result.stderr
    assert "Résultat du scan" not in result.stdout  # nothing was scanned
    a_directory = tmp_path / "dossier"
    a_directory.mkdir()
    result = _run(
        tiebreak_cmd, subprocess_env, tmp_path, "scan", "-c", str(config), "-o", str(a_directory)
    )
    assert result.returncode == 2 and "is a directory" in result.stderr


FAILING_PROBE_MODULE = """
from typing import ClassVar
from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext

class BrokenProbe(Probe):
    name: ClassVar[str] = "broken"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.PROCESS})
    summary: ClassVar[str] = "always fails"

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        out.observe(Channel.PROCESS, ctx.hostname, "zoom")
        raise OSError("lecture impossible")
"""


def test_a_failed_probe_gives_exit_1_and_a_complete_file(
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "tbtest_broken_probe.py").write_text(FAILING_PROBE_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        registry,
        "REGISTRY",
        (
            *registry.REGISTRY,
            registry.ProbeEntry("broken", frozenset({"test"}), "tbtest_broken_probe:BrokenProbe"),
        ),
    )
    output = tmp_path / "inventaire.json"
    code = main(["scan", "-c", str(config), "-p", "system", "-p", "test", "-o", str(output), "-q"])
    assert code == 1
    assert "broken: failed: OSError: lecture impossible" in capsys.readouterr().err
    inventory = Inventory.model_validate_json(output.read_text(encoding="utf-8"))
    statuses = {r.name: r.status.value for r in inventory.probes}
    assert statuses == {"system": "ok", "broken": "failed"}
    assert inventory.summary.probes_failed == 1
    assert "zoom" in [o.value for o in inventory.observations]
