"""`tiebreak send` and `tiebreak status`: deliver the spool without scanning, and say where
things stand (last scan, what waits, last delivery)."""

from __future__ import annotations

import argparse
import math
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.commands import add_config_option
from agent.i18n import t

if TYPE_CHECKING:
    from agent.config import Config, ServerConfig

JITTER_MAX = 86_400.0


def _jitter(text: str) -> float:
    """`--jitter SECONDS`: a number of seconds from 0 to a day."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= JITTER_MAX:
        raise argparse.ArgumentTypeError(
            t(
                f"nombre de secondes de 0 à {JITTER_MAX:.0f} attendu, pas {text!r}",
                f"a number of seconds from 0 to {JITTER_MAX:.0f} expected, not {text!r}",
            )
        )
    return value


def add_jitter_option(parser: argparse.ArgumentParser) -> None:
    """The `--jitter SECONDS` option of `scan` and `send`."""
    parser.add_argument(
        "--jitter",
        type=_jitter,
        default=0.0,
        metavar=t("SECONDES", "SECONDS"),
        help=t(
            "attendre au hasard de 0 à SECONDES avant de commencer (étale la charge de "
            "nombreux agents lancés à la même heure)",
            "wait a random 0 to SECONDS before starting (spreads the load of many agents "
            "started at the same time)",
        ),
    )


def wait_jitter(seconds: float, quiet: bool) -> None:
    """Sleep a random time from 0 to `seconds` (`--jitter`)."""
    if seconds <= 0:
        return
    pause = secrets.SystemRandom().uniform(0, seconds)
    if not quiet:
        print(
            t(
                f"Attente de {pause:.0f} s avant de commencer (--jitter)",
                f"Waiting {pause:.0f} s before starting (--jitter)",
            ),
            flush=True,
        )
    time.sleep(pause)


def _quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help=t("n'afficher que les erreurs (cron)", "print errors only (cron)"),
    )


def register(commands: Any) -> None:
    """Add the `send` and `status` commands."""
    send = commands.add_parser(
        "send",
        help=t(
            "envoyer les inventaires en attente, sans scanner",
            "send the waiting inventories, without scanning",
        ),
        description=t(
            "Envoie au serveur de [server] les inventaires en attente dans le répertoire "
            "d'attente (spool), du plus ancien au plus récent, et les fichiers d'inventaire "
            "donnés. Codes de sortie : 0 plus rien en attente, 2 erreur de configuration, "
            "3 des inventaires restent en attente.",
            "Sends the inventories waiting in the spool to the [server], oldest first, and the "
            "inventory files given. Exit codes: 0 nothing left waiting, 2 configuration error, "
            "3 inventories still waiting.",
        ),
    )
    add_config_option(send)
    send.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar=t("FICHIER", "FILE"),
        help=t(
            "inventaire écrit par « tiebreak scan » à mettre en attente et envoyer",
            "inventory written by 'tiebreak scan' to spool and send",
        ),
    )
    _quiet_option(send)
    add_jitter_option(send)
    send.set_defaults(handler=_send)

    status = commands.add_parser(
        "status",
        help=t(
            "dernier scan, inventaires en attente, dernier envoi",
            "last scan, waiting inventories, last delivery",
        ),
        description=t(
            "Affiche le dernier scan de cette machine, le répertoire d'attente (spool) et le "
            "dernier envoi. Avec --check, vérifie aussi que le serveur répond et accepte le "
            "jeton (code 3 sinon).",
            "Shows this machine's last scan, the spool and the last delivery. With --check, "
            "also checks that the server answers and accepts the token (exit code 3 if not).",
        ),
    )
    add_config_option(status)
    status.add_argument(
        "--check",
        action="store_true",
        help=t(
            "vérifier que le serveur répond et accepte le jeton (rien n'est envoyé)",
            "check that the server answers and accepts the token (nothing is sent)",
        ),
    )
    status.set_defaults(handler=_status)


def _load(args: argparse.Namespace) -> Config:
    from agent.config import load_config

    return load_config(args.config)[1]


def _spool_files(files: list[Path], server: ServerConfig) -> tuple[int, list[str]]:
    """Check the inventory files and put them in the spool: (exit code, their ids)."""
    from pydantic import ValidationError

    from agent.cli import EXIT_COMPLETE, EXIT_CONFIG, error
    from agent.sender import EXIT_NOT_SENT, SpoolError, SpoolFullError, open_spool
    from agent.spool import limit_bytes, spool_directory
    from inventory import Inventory

    documents: list[tuple[str, bytes, Path]] = []
    for path in files:
        try:
            document = path.read_bytes()
            inventory = Inventory.model_validate_json(document)
        except OSError as exc:
            error(f"{path}: {exc.strerror}")
            return EXIT_CONFIG, []
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "/"
            error(
                t(
                    f"{path} : ce n'est pas un inventaire tiebreak ({where} : {first['msg']})",
                    f"{path}: not a tiebreak inventory ({where}: {first['msg']})",
                )
            )
            return EXIT_CONFIG, []
        documents.append((str(inventory.id), document, path))
    current = files[0]
    try:
        with open_spool(spool_directory()) as spool:
            for name, document, path in documents:
                current = path
                if not spool.has(name):
                    spool.put(name, document, limit_bytes(server))
    except SpoolError as exc:
        error(str(exc))
        return EXIT_CONFIG, []
    except SpoolFullError as exc:
        error(t(f"{exc.strerror} ; {current} reste où il est", f"{exc.strerror}; {current} stays"))
        return EXIT_NOT_SENT, []
    except OSError as exc:
        error(str(exc))
        return EXIT_NOT_SENT, []
    return EXIT_COMPLETE, [name for name, _document, _path in documents]


def _send(args: argparse.Namespace) -> int:
    from agent.cli import EXIT_COMPLETE, EXIT_CONFIG, error
    from agent.config import ConfigError
    from agent.sender import EXIT_NOT_SENT, SpoolError, deliver_waiting, report
    from agent.spool import open_spool, spool_directory

    try:
        server = _load(args).server
    except ConfigError as exc:
        error(str(exc))
        return EXIT_CONFIG
    if server is None:
        error(
            t(
                "« tiebreak send » demande une section [server] (url, token_file) dans la "
                "configuration",
                "'tiebreak send' needs a [server] section (url, token_file) in the configuration",
            )
        )
        return EXIT_CONFIG
    code, _ids = _spool_files(args.files, server) if args.files else (EXIT_COMPLETE, [])
    if code != EXIT_COMPLETE:
        return code
    wait_jitter(args.jitter, args.quiet)
    directory = spool_directory()
    try:
        outcomes = deliver_waiting(server, directory)
        with open_spool(directory) as spool:
            left = len(spool.waiting())
    except SpoolError as exc:
        error(str(exc))
        return EXIT_CONFIG
    except OSError as exc:  # token unreadable: everything still waits
        error(str(exc))
        return EXIT_NOT_SENT
    report(outcomes, server, directory, args.quiet)
    if not args.quiet:
        sent = sum(outcome.sent for _name, outcome in outcomes)
        rejected = sum(outcome.permanent for _name, outcome in outcomes)
        if not outcomes:
            print(t("Rien en attente d'envoi.", "Nothing waiting to be sent."))
        else:
            print(
                t(
                    f"{sent} envoyé(s), {rejected} refusé(s), {left} encore en attente "
                    f"dans {directory}",
                    f"{sent} sent, {rejected} refused, {left} still waiting in {directory}",
                )
            )
    return EXIT_NOT_SENT if left else EXIT_COMPLETE


# -- status ----------------------------------------------------------------------------------


def _safe(text: str) -> str:
    """Text from files or a server, without control characters for the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _size(size: int) -> str:
    from agent.spool import human_size

    return human_size(size)


def _age(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        amount = f"{seconds} s"
    elif seconds < 7200:
        amount = f"{seconds // 60} min"
    elif seconds < 2 * 86_400:
        amount = f"{seconds // 3600} h"
    else:
        amount = t(f"{seconds // 86_400} j", f"{seconds // 86_400} d")
    return t(f"il y a {amount}", f"{amount} ago")


def _when(moment: datetime, now: datetime) -> str:
    return f"{moment.astimezone():%Y-%m-%d %H:%M} ({_age(moment, now)})"


def _line(label: str, value: str) -> None:
    print(f"  {label:<14} {value}")


def _show_last_scan(now: datetime) -> None:
    from agent.history import load_history

    print(t("Dernier scan", "Last scan"))
    records = load_history(limit=1)
    if not records:
        _line("", t("aucun scan sur cette machine", "no scan on this machine"))
        return
    record = records[0]
    _line(t("date", "date"), _when(record.finished_at, now))
    _line(t("organisation", "organisation"), _safe(record.organisation))
    state = t("complet", "complete") if record.complete else t("partiel", "partial")
    failed = [name for name, status in record.probes.items() if status in ("failed", "timeout")]
    if failed:
        state += " (" + ", ".join(_safe(name) for name in failed) + ")"
    _line(t("résultat", "result"), state)
    _line(t("constats", "findings"), str(len(record.findings)))
    if record.path is None:
        _line(t("fichier", "file"), "—")
    else:
        gone = "" if Path(record.path).exists() else t(" (supprimé depuis)", " (removed since)")
        _line(t("fichier", "file"), _safe(record.path) + gone)


def _show_spool(server: ServerConfig | None, now: datetime) -> None:
    from agent.spool import REJECTED, spool_state

    state = spool_state(server)
    print(t("Répertoire d'attente (spool)", "Spool"))
    _line(t("répertoire", "directory"), _safe(str(state.directory)))
    if state.problem is not None:
        _line(t("problème", "problem"), _safe(state.problem))
    _line(
        t("en attente", "waiting"),
        t(
            f"{len(state.waiting)} inventaire(s), {_size(state.total_bytes)} sur "
            f"{_size(state.limit_bytes)} ([server] spool_max_mb)",
            f"{len(state.waiting)} inventor(y/ies), {_size(state.total_bytes)} of "
            f"{_size(state.limit_bytes)} ([server] spool_max_mb)",
        ),
    )
    for entry in state.waiting:
        print(f"    {_safe(entry.name)}  {_size(entry.size):>9}  {_age(entry.modified, now)}")
    where = f" ({_safe(str(state.directory / REJECTED))})" if state.rejected else ""
    _line(t("refusés", "refused"), f"{state.rejected}{where}")
    if state.dropped:
        _line(
            t("supprimés", "dropped"),
            t(
                f"{state.dropped} inventaire(s) supprimé(s) faute de place "
                f"(dont {state.unreported} pas encore signalé(s) au serveur)",
                f"{state.dropped} inventor(y/ies) dropped for lack of room "
                f"({state.unreported} not reported to the server yet)",
            ),
        )


_RESULTS = {
    "sent": ("envoyé", "sent"),
    "partial": ("en partie envoyé", "partly sent"),
    "not-sent": ("non envoyé", "not sent"),
    "nothing": ("rien à envoyer", "nothing to send"),
}


def _show_last_delivery(now: datetime) -> None:
    from agent.history import last_delivery

    print(t("Dernier envoi", "Last delivery"))
    record = last_delivery()
    if record is None:
        _line("", t("aucun envoi depuis cette machine", "no delivery from this machine"))
        return
    _line(t("date", "date"), _when(record.at, now))
    _line(t("serveur", "server"), _safe(record.server))
    _line(t("résultat", "result"), t(*_RESULTS[record.result]))
    if record.problem is not None:
        _line(t("problème", "problem"), _safe(record.problem))
    for item in record.items:
        if item.sent:
            answer = t(f"envoyé, à valider sur {item.page}", f"sent, to review at {item.page}")
        elif item.rejected:
            answer = t(f"refusé : {item.message}", f"refused: {item.message}")
        else:
            answer = t(f"en attente : {item.message}", f"waiting: {item.message}")
        print(f"    {_safe(item.inventory_id)}  {_safe(answer)}")


def _status(args: argparse.Namespace) -> int:
    from agent.cli import EXIT_COMPLETE, EXIT_CONFIG, warn
    from agent.config import ConfigError
    from agent.sender import EXIT_NOT_SENT, check_server

    server: ServerConfig | None = None
    try:
        server = _load(args).server
    except ConfigError as exc:
        # Without any configuration file, the spool and history are still worth showing.
        if exc.path is not None or args.check or args.config is not None:
            warn(str(exc))
    now = datetime.now(UTC)
    _show_last_scan(now)
    _show_spool(server, now)
    _show_last_delivery(now)
    if not args.check:
        return EXIT_COMPLETE
    print(t("Serveur", "Server"))
    if server is None:
        _line("", t("pas de section [server] dans la configuration", "no [server] section"))
        return EXIT_CONFIG
    accepted, message = check_server(server)
    _line(_safe(server.url), _safe(message))
    return EXIT_COMPLETE if accepted else EXIT_NOT_SENT
