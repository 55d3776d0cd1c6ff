"""What this machine scanned and delivered, kept in the agent's state directory.

Every `tiebreak scan` leaves a record (`history/<start>-<id>.json`): when, for which
organisation, whether every probe completed, where the inventory was written and a brief of each
finding (product, vendor, jurisdiction, category, where it was seen). The last 100 are kept, so
that the migration can be followed from scan to scan (`compare`). `last-delivery.json` says what
the last delivery attempt did. Nothing here is secret: no token, no password, no observation,
only what a finding's one-line summary shows. Every file is written atomically (a crash leaves
the old or the new file, whole); a damaged record is skipped with a warning naming it.

State directory: $TIEBREAK_STATE, else /var/lib/tiebreak for root, else
$XDG_STATE_HOME/tiebreak (~/.local/state/tiebreak), created with mode 0700.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.atomic import write_atomically
from agent.i18n import t
from inventory import Inventory, ProbeStatus
from inventory.locations import agent_directory

HISTORY_FOLDER = "history"
HISTORY_LIMIT = 100
"""Scan records kept; the oldest goes when a new one comes."""
LAST_DELIVERY = "last-delivery.json"
FORMAT = 1
_COMPLETE = (ProbeStatus.OK, ProbeStatus.SKIPPED)
_RECORD_NAME = re.compile(r"^\d{8}T\d{12}Z-[0-9a-zA-Z-]{1,64}\.json$")


def state_path() -> Path:
    """The agent's state directory on this machine (not created): $TIEBREAK_STATE, else
    /var/lib/tiebreak for root, else $XDG_STATE_HOME/tiebreak (~/.local/state/tiebreak)."""
    return agent_directory("TIEBREAK_STATE", "/var/lib/tiebreak")


def state_directory() -> Path:
    """Where the history and the last delivery are kept (created, mode 0700)."""
    path = state_path()
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@dataclass(frozen=True, slots=True)
class FindingBrief:
    """The one-line summary of a finding that the history keeps."""

    id: str
    product: str
    product_name: str
    vendor_name: str
    jurisdiction: str
    category: str
    locus: str


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One scan of this machine: when, for whom, how it ended, what it found."""

    inventory_id: str
    organisation: str
    started_at: datetime
    finished_at: datetime
    complete: bool
    path: str | None
    probes: dict[str, str]
    """Probe name to its status (ok, failed, timeout, skipped)."""
    findings: tuple[FindingBrief, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Findings of a scan against an older one, by finding id."""

    appeared: tuple[FindingBrief, ...]
    disappeared: tuple[FindingBrief, ...]
    kept: tuple[FindingBrief, ...]


@dataclass(frozen=True, slots=True)
class DeliveryItem:
    """What happened to one inventory in a delivery attempt."""

    inventory_id: str
    sent: bool
    rejected: bool
    message: str
    """The server's answer, or why nothing came back."""
    page: str | None = None
    """Where people review it on the server (when sent)."""


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """The last delivery attempt: when, to which server, and what each inventory became."""

    at: datetime
    server: str
    items: tuple[DeliveryItem, ...]
    problem: str | None = None
    """Why nothing could be tried (spool full, token unreadable...), when that happened."""

    @property
    def result(self) -> str:
        """`sent` (all went), `partial`, `not-sent` (none went) or `nothing` (nothing waited)."""
        if self.problem is not None:
            return "not-sent"
        if not self.items:
            return "nothing"
        sent = sum(item.sent for item in self.items)
        if sent == len(self.items):
            return "sent"
        return "partial" if sent else "not-sent"


def _warn(message: str) -> None:
    print(f"tiebreak: {t('attention', 'warning')}: {message}", file=sys.stderr)


def _brief(finding: Any) -> FindingBrief:
    return FindingBrief(
        id=str(finding.id),
        product=str(finding.product),
        product_name=str(finding.product_name),
        vendor_name=str(finding.vendor_name),
        jurisdiction=str(finding.jurisdiction),
        category=str(finding.category),
        locus=str(finding.locus),
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _to_json(record: ScanRecord) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "inventory_id": record.inventory_id,
        "organisation": record.organisation,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat(),
        "complete": record.complete,
        "path": record.path,
        "probes": record.probes,
        "findings": [
            {
                "id": f.id,
                "product": f.product,
                "product_name": f.product_name,
                "vendor_name": f.vendor_name,
                "jurisdiction": f.jurisdiction,
                "category": f.category,
                "locus": f.locus,
            }
            for f in record.findings
        ],
    }


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key}: text expected")
    return value


def _moment(data: dict[str, Any], key: str) -> datetime:
    value = datetime.fromisoformat(_text(data, key))
    if value.tzinfo is None:
        raise ValueError(f"{key}: no time zone")
    return value


def _from_json(data: Any) -> ScanRecord:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a scan record of this version")
    probes = data["probes"]
    if not isinstance(probes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in probes.items()
    ):
        raise ValueError("probes: name to status expected")
    findings = data["findings"]
    if not isinstance(findings, list):
        raise ValueError("findings: list expected")
    path = data["path"]
    if path is not None and not isinstance(path, str):
        raise ValueError("path: text expected")
    if not isinstance(data["complete"], bool):
        raise ValueError("complete: true or false expected")
    return ScanRecord(
        inventory_id=_text(data, "inventory_id"),
        organisation=_text(data, "organisation"),
        started_at=_moment(data, "started_at"),
        finished_at=_moment(data, "finished_at"),
        complete=data["complete"],
        path=path,
        probes=dict(probes),
        findings=tuple(_brief_from(f) for f in findings),
    )


def _brief_from(data: Any) -> FindingBrief:
    if not isinstance(data, dict):
        raise ValueError("findings: object expected")
    return FindingBrief(**{name: _text(data, name) for name in FindingBrief.__dataclass_fields__})


def scan_record(inventory: Inventory, path: Path | None) -> ScanRecord:
    """The history record of an inventory written to `path` (None: not written to a file)."""
    return ScanRecord(
        inventory_id=str(inventory.id),
        organisation=inventory.organisation.name,
        started_at=inventory.started_at,
        finished_at=inventory.finished_at,
        complete=all(run.status in _COMPLETE for run in inventory.probes),
        path=os.path.abspath(path) if path is not None else None,
        probes={run.name: str(run.status) for run in inventory.probes},
        findings=tuple(_brief(finding) for finding in inventory.findings),
    )


def _history_folder() -> Path:
    folder = state_directory() / HISTORY_FOLDER
    if not folder.is_dir():
        folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _record_files(folder: Path) -> list[Path]:
    """History files, oldest first (their names start with the scan's start, UTC)."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [folder / name for name in sorted(names) if _RECORD_NAME.match(name)]


def record_scan(inventory: Inventory, path: Path | None) -> ScanRecord:
    """Add this scan to the history (atomically) and forget the oldest beyond 100; its record."""
    record = scan_record(inventory, path)
    folder = _history_folder()
    name = f"{_stamp(record.started_at)}-{record.inventory_id}.json"
    data = json.dumps(_to_json(record), ensure_ascii=False, indent=1) + "\n"
    write_atomically(folder / name, data.encode("utf-8"), mode=0o600)
    files = _record_files(folder)
    for old in files[: max(0, len(files) - HISTORY_LIMIT)]:
        old.unlink(missing_ok=True)
    return record


def load_history(limit: int | None = None) -> list[ScanRecord]:
    """The scans of this machine, newest first; a damaged record is skipped with a warning."""
    records: list[ScanRecord] = []
    for file in reversed(_record_files(state_path() / HISTORY_FOLDER)):
        if limit is not None and len(records) >= limit:
            break
        try:
            records.append(_from_json(json.loads(file.read_bytes())))
        except FileNotFoundError:
            continue  # removed meanwhile by a newer scan
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            _warn(
                t(
                    f"historique : {file} illisible ou abîmé, ignoré ({exc})",
                    f"history: {file} unreadable or damaged, skipped ({exc})",
                )
            )
    return records


def compare(new: ScanRecord, old: ScanRecord) -> Comparison:
    """What appeared, disappeared and stayed between `old` and `new`, by finding id."""
    before = {finding.id for finding in old.findings}
    after = {finding.id for finding in new.findings}
    return Comparison(
        appeared=tuple(f for f in new.findings if f.id not in before),
        disappeared=tuple(f for f in old.findings if f.id not in after),
        kept=tuple(f for f in new.findings if f.id in before),
    )


def record_delivery(record: DeliveryRecord) -> None:
    """Remember the last delivery attempt (atomically, replacing the previous one)."""
    data = {
        "format": FORMAT,
        "at": record.at.isoformat(),
        "server": record.server,
        "problem": record.problem,
        "items": [
            {
                "inventory_id": item.inventory_id,
                "sent": item.sent,
                "rejected": item.rejected,
                "message": item.message,
                "page": item.page,
            }
            for item in record.items
        ],
    }
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    write_atomically(state_directory() / LAST_DELIVERY, text.encode("utf-8"), mode=0o600)


def last_delivery() -> DeliveryRecord | None:
    """The last delivery attempt, None when there was none; a damaged file gives a warning."""
    file = state_path() / LAST_DELIVERY
    try:
        data = json.loads(file.read_bytes())
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a delivery record of this version")
        problem = data["problem"]
        if problem is not None and not isinstance(problem, str):
            raise ValueError("problem: text expected")
        items = []
        for item in data["items"]:
            page = item["page"]
            if page is not None and not isinstance(page, str):
                raise ValueError("page: text expected")
            items.append(
                DeliveryItem(
                    inventory_id=_text(item, "inventory_id"),
                    sent=bool(item["sent"]),
                    rejected=bool(item["rejected"]),
                    message=_text(item, "message"),
                    page=page,
                )
            )
        return DeliveryRecord(
            at=_moment(data, "at"),
            server=_text(data, "server"),
            items=tuple(items),
            problem=problem,
        )
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        _warn(
            t(
                f"dernier envoi : {file} illisible ou abîmé, ignoré ({exc})",
                f"last delivery: {file} unreadable or damaged, skipped ({exc})",
            )
        )
        return None
