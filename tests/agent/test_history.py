"""The scan history of this machine (agent/history.py, issue 15 item 3): records written by
`tiebreak scan`, kept to 100, read newest first, damaged ones skipped, compared by finding id."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent import history
from inventory import Agent, Finding, Inventory, Organisation, ProbeRun, ProbeStatus


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state directory (TIEBREAK_STATE), not created yet."""
    where = tmp_path / "state" / "tiebreak"
    monkeypatch.setenv("TIEBREAK_STATE", str(where))
    return where


def _finding(product: str, locus: str = "127.0.0.1") -> Finding:
    return Finding(
        id=f"f-{uuid.uuid5(uuid.NAMESPACE_URL, product + locus).hex[:16]}",
        product=product,
        product_name=product.title(),
        vendor="vendor",
        vendor_name="Vendor Inc.",
        jurisdiction="non-eu",
        category="infrastructure",
        domain="messagerie",
        locus=locus,
        confidence="strong",
        evidence=[],
    )


def _inventory(products: list[str], started: datetime, failed: bool = False) -> Inventory:
    return Inventory(
        organisation=Organisation(name="Commune de Test\x1b[31m"),
        agent=Agent(version="0.1.0", hostname="poste"),
        started_at=started,
        finished_at=started + timedelta(seconds=5),
        probes=[
            ProbeRun(name="system", status=ProbeStatus.OK, duration_s=1.0),
            ProbeRun(
                name="dns",
                status=ProbeStatus.FAILED if failed else ProbeStatus.SKIPPED,
                duration_s=0.5,
            ),
        ],
        findings=[_finding(p) for p in products],
    )


def test_state_directory_is_created_private(state: Path) -> None:
    assert history.state_directory() == state
    assert state.is_dir() and state.stat().st_mode & 0o777 == 0o700


def test_state_directory_of_a_user_is_under_xdg_state_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TIEBREAK_STATE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # the rule for a user, whoever runs this
    assert history.state_directory() == tmp_path / "xdg" / "tiebreak"
    assert (tmp_path / "xdg" / "tiebreak").stat().st_mode & 0o777 == 0o700


def test_records_read_back_newest_first_and_compare(state: Path) -> None:
    start = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    old = _inventory(["exchange", "vmware"], start)
    new = _inventory(["vmware", "nextcloud"], start + timedelta(days=7), failed=True)
    written = history.record_scan(old, Path("old.json"))
    history.record_scan(new, None)

    records = history.load_history()
    assert [r.inventory_id for r in records] == [str(new.id), str(old.id)]
    assert records[1] == written
    assert records[1].path == os.path.abspath("old.json") and records[0].path is None
    assert records[1].complete and not records[0].complete
    assert records[0].probes == {"system": "ok", "dns": "failed"}
    assert records[0].organisation == "Commune de Test\x1b[31m"  # stored as it is
    assert history.load_history(limit=1) == records[:1]

    change = history.compare(records[0], records[1])
    assert [f.product for f in change.appeared] == ["nextcloud"]
    assert [f.product for f in change.disappeared] == ["exchange"]
    assert [f.product for f in change.kept] == ["vmware"]
    brief = change.kept[0]
    assert (brief.jurisdiction, brief.category, brief.vendor_name) == (
        "non-eu",
        "infrastructure",
        "Vendor Inc.",
    )
    for file in (state / "history").iterdir():
        assert file.stat().st_mode & 0o777 == 0o600
        # Briefs only: no evidence, observation or score in the history.
        assert "evidence" not in file.read_text()


def test_only_the_last_hundred_are_kept(state: Path) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ids = []
    for n in range(history.HISTORY_LIMIT + 3):
        inventory = _inventory(["exchange"], start + timedelta(hours=n))
        history.record_scan(inventory, None)
        ids.append(str(inventory.id))
    records = history.load_history()
    assert len(records) == history.HISTORY_LIMIT
    assert [r.inventory_id for r in records] == ids[::-1][: history.HISTORY_LIMIT]
    assert len(list((state / "history").iterdir())) == history.HISTORY_LIMIT


def test_a_damaged_record_is_skipped_with_a_warning_naming_it(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIEBREAK_LANG", "fr")
    start = datetime(2025, 3, 1, tzinfo=UTC)
    good = _inventory(["exchange"], start)
    history.record_scan(good, None)
    history.record_scan(_inventory(["vmware"], start + timedelta(days=1)), None)
    newest = sorted((state / "history").iterdir())[-1]
    newest.write_text('{"format": 1, "inventory_id": 3')  # cut short
    empty = state / "history" / f"20250303T000000000000Z-{uuid.uuid4()}.json"
    empty.write_text("")
    records = history.load_history()
    assert [r.inventory_id for r in records] == [str(good.id)]
    err = capsys.readouterr().err
    assert str(newest) in err and str(empty) in err and "ignoré" in err


def test_last_delivery_round_trip_and_damage(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert history.last_delivery() is None
    record = history.DeliveryRecord(
        at=datetime(2025, 3, 1, tzinfo=UTC),
        server="https://tiebreak.example",
        items=(
            history.DeliveryItem("a", True, False, "envoyé", "https://tiebreak.example/i/a"),
            history.DeliveryItem("b", False, True, "HTTP 422: invalide"),
        ),
    )
    history.record_delivery(record)
    assert history.last_delivery() == record
    assert record.result == "partial"
    (state / history.LAST_DELIVERY).write_text("[]")
    assert history.last_delivery() is None
    assert history.LAST_DELIVERY in capsys.readouterr().err


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "tiebreak.toml"
    config.write_text('[organisation]\nname = "Commune de Test"\n')
    return config


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_scan_records_history_and_status_shows_it(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    state = tmp_path / "state"
    env = subprocess_env | {
        "TIEBREAK_STATE": str(state),
        "TIEBREAK_SPOOL": str(tmp_path / "spool"),
    }
    output = tmp_path / "inventaire.json"
    scanned = _run(
        [
            *tiebreak_cmd,
            "scan",
            "-c",
            str(_config(tmp_path)),
            "-p",
            "system",
            "-q",
            "-o",
            str(output),
        ],
        env,
    )
    assert scanned.returncode == 0, scanned.stderr
    assert scanned.stdout == ""
    document: dict[str, Any] = json.loads(output.read_text())
    records = list((state / "history").iterdir())
    assert len(records) == 1 and document["id"] in records[0].name
    record = json.loads(records[0].read_text())
    assert record["path"] == str(output)
    assert len(record["findings"]) == len(document["findings"])

    status = _run([*tiebreak_cmd, "status"], env)
    assert status.returncode == 0, status.stderr
    assert "Commune de Test" in status.stdout and "complet" in status.stdout
    assert str(output) in status.stdout
    assert f"constats       {len(document['findings'])}" in status.stdout


@pytest.mark.slow
def test_a_history_that_cannot_be_written_never_fails_the_scan(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = subprocess_env | {"TIEBREAK_STATE": str(blocker / "state")}
    output = tmp_path / "inventaire.json"
    scanned = _run(
        [
            *tiebreak_cmd,
            "scan",
            "-c",
            str(_config(tmp_path)),
            "-p",
            "system",
            "-q",
            "-o",
            str(output),
        ],
        env,
    )
    assert scanned.returncode == 0, scanned.stderr
    assert output.is_file()
    assert "historique" in scanned.stderr
