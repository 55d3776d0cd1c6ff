"""Send inventories to the central server, keeping those that could not be sent in a spool.

An inventory goes out gzip-compressed with the agent token read from `[server] token_file` (never
from the command line, never logged). When the server cannot be reached or answers "try later",
the inventory is written to the spool directory (temporary file, then rename) and sent again, oldest
first, by the next `tiebreak scan --send`; the server answers a resend as the first time, so a send
that timed out after being stored is harmless. An inventory the server refuses for good (invalid,
too large, a conflicting id) moves to `rejected/` in the spool, with the server's reason beside it.

Spool directory: $TIEBREAK_SPOOL, else /var/spool/tiebreak for root, else
$XDG_STATE_HOME/tiebreak/spool (~/.local/state/tiebreak/spool).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from agent.atomic import write_atomically
from agent.config import ServerConfig
from agent.i18n import t

API_PATH = "/api/v1/inventories"
EXIT_NOT_SENT = 3
"""Exit code of `tiebreak scan --send` when the inventory was written but waits in the spool."""
PERMANENT = frozenset({400, 409, 413, 415, 422})
"""Statuses that a resend of the same inventory would get again."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one inventory: sent (with the server's receipt) or not, and why."""

    sent: bool
    message: str
    receipt: dict[str, Any] | None = None
    permanent: bool = False


def spool_directory() -> Path:
    """Where unsent inventories wait."""
    explicit = os.environ.get("TIEBREAK_SPOOL")
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return Path("/var/spool/tiebreak")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "tiebreak" / "spool"


def read_token(server: ServerConfig) -> str:
    """The agent token from `[server] token_file`."""
    if server.token_file is None:
        raise OSError(
            t(
                "[server] token_file manquant : le fichier du jeton d'agent est nécessaire",
                "[server] token_file missing: the agent token file is needed",
            )
        )
    return server.token_file.read_text(encoding="utf-8").strip()


def send(document: bytes, server: ServerConfig, token: str, timeout: float = 120) -> Outcome:
    """POST one inventory (JSON bytes) to the server."""
    url = server.url.rstrip("/") + API_PATH
    verify: bool | str = str(server.ca_bundle) if server.ca_bundle else True
    try:
        answer = requests.post(
            url,
            data=gzip.compress(document, compresslevel=6),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "Accept-Language": t("fr", "en"),
            },
            timeout=(10, timeout),
            verify=verify,
        )
    except requests.RequestException as exc:
        # Only the kind of failure: enough to act on, and it cannot carry the token.
        reason = type(exc).__name__
        return Outcome(
            False, t(f"serveur injoignable ({reason})", f"server unreachable ({reason})")
        )
    if answer.status_code in (200, 201):
        receipt: dict[str, Any] = answer.json()
        return Outcome(True, t("envoyé", "sent"), receipt)
    try:
        detail = str(answer.json().get("detail", ""))
    except ValueError:
        detail = answer.text[:200]
    return Outcome(
        False, f"HTTP {answer.status_code}: {detail}", permanent=answer.status_code in PERMANENT
    )


def spool(document: bytes, inventory_id: str, directory: Path) -> Path:
    """Keep an unsent inventory for the next run."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{inventory_id}.json"
    write_atomically(path, document, mode=0o600)
    return path


def _reject(path: Path, reason: str) -> None:
    rejected = path.parent / "rejected"
    rejected.mkdir(exist_ok=True, mode=0o700)
    os.replace(path, rejected / path.name)
    write_atomically(
        rejected / (path.stem + ".reason.txt"), reason.encode("utf-8") + b"\n", mode=0o600
    )


def deliver(
    document: bytes, inventory_id: str, server: ServerConfig, directory: Path
) -> list[tuple[str, Outcome]]:
    """Send the spooled inventories (oldest first) then this one; spool what could not go."""
    token = read_token(server)
    outcomes = []
    waiting = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
    waiting = [p for p in waiting if p.stem != inventory_id]
    for path in waiting:
        outcome = send(path.read_bytes(), server, token)
        if outcome.sent:
            path.unlink()
        elif outcome.permanent:
            _reject(path, outcome.message)
        outcomes.append((path.stem, outcome))
        if not outcome.sent and not outcome.permanent:
            # The server is unreachable or busy: keep the rest for next time, then spool this one.
            spool(document, inventory_id, directory)
            return [*outcomes, (inventory_id, Outcome(False, outcome.message))]
    outcome = send(document, server, token)
    if not outcome.sent:
        spool(document, inventory_id, directory)
        if outcome.permanent:
            _reject(directory / f"{inventory_id}.json", outcome.message)
    else:
        (directory / f"{inventory_id}.json").unlink(missing_ok=True)
    return [*outcomes, (inventory_id, outcome)]


def check_ready(server: ServerConfig | None) -> ServerConfig:
    """Fail before scanning when `--send` cannot work: no [server] section or no readable token."""
    if server is None:
        raise OSError(
            t(
                "--send demande une section [server] (url, token_file) dans la configuration",
                "--send needs a [server] section (url, token_file) in the configuration",
            )
        )
    read_token(server)
    return server


def send_inventory(document: bytes, inventory_id: str, server: ServerConfig, quiet: bool) -> bool:
    """Deliver this inventory (and the spooled ones), print what happened; True if it was sent."""
    directory = spool_directory()
    try:
        outcomes = deliver(document, inventory_id, server, directory)
    except OSError as exc:
        # The token file went away or the spool is unwritable: say so, keep what we can.
        with contextlib.suppress(OSError):
            spool(document, inventory_id, directory)
        print(f"tiebreak: {exc}", file=sys.stderr)
        return False
    base = server.url.rstrip("/")
    for name, outcome in outcomes:
        if outcome.sent and outcome.receipt is not None:
            if not quiet:
                print(
                    t(
                        f"Inventaire {name} envoyé, à valider sur {base}{_page(outcome.receipt)}",
                        f"Inventory {name} sent, to review at {base}{_page(outcome.receipt)}",
                    )
                )
        elif outcome.permanent:
            print(
                t(
                    f"tiebreak: inventaire {name} refusé par le serveur ({outcome.message}) ; "
                    f"gardé dans {directory / 'rejected'}",
                    f"tiebreak: inventory {name} refused by the server ({outcome.message}); "
                    f"kept in {directory / 'rejected'}",
                ),
                file=sys.stderr,
            )
        else:
            print(
                t(
                    f"tiebreak: inventaire {name} non envoyé ({outcome.message}) ; "
                    f"en attente dans {directory}, renvoyé au prochain scan --send",
                    f"tiebreak: inventory {name} not sent ({outcome.message}); "
                    f"waiting in {directory}, resent by the next scan --send",
                ),
                file=sys.stderr,
            )
    return outcomes[-1][1].sent


def _page(receipt: dict[str, Any]) -> str:
    """Where people review the inventory: its web page (older servers: its API address)."""
    page = receipt.get("page") or receipt.get("url") or ""
    return str(page)
