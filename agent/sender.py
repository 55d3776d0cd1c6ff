"""Send inventories to the central server through a write-ahead spool.

`tiebreak scan --send` first writes the inventory to the spool directory (temporary file, synced,
renamed, directory synced), then sends what waits there, oldest first, this inventory last, and
removes each one the server took. Killing the agent at any moment (even `kill -9` while the server
does not answer) therefore loses nothing: the next `scan --send` sends it, and the server answers a
resend as the first time. An inventory goes out gzip-compressed with the agent token read from
`[server] token_file` (never from the command line, never logged).

One inventory never blocks the others:
- refused for good because of what it contains (400, 409, 413, 415, 422, and 403 when the server
  says the inventory describes another organisation than the token's): it moves to `rejected/` in
  the spool, with the server's reason beside it (`<id>.reason.txt`), and the next ones go;
- a temporary failure of that inventory (500...): it stays for the next run, and the next ones go;
- a failure that is not about the inventory (server unreachable or silent, token refused with 401,
  server busy with 429/503, a proxy answering instead of the server): it and the rest stay in the
  spool, and this run stops there;
- a spool entry that is not a regular file (directory, symbolic link, FIFO...) is skipped with a
  warning, never followed nor read.

The spool directory holds inventories that are sent with the agent's token, so it must be the
agent's own: owned by the current user, not writable by group or others, not a symbolic link, in
directories only root or that user can change (a sticky shared directory like /tmp may hold it,
not be it). Otherwise `--send` refuses it (exit 2) before scanning and sends nothing. It is
created with mode 0700; files inside are opened without following links, and a `rejected` entry
that is not a real directory of ours is never used.

Spool directory: $TIEBREAK_SPOOL, else /var/spool/tiebreak for root, else
$XDG_STATE_HOME/tiebreak/spool (~/.local/state/tiebreak/spool).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import stat
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from agent.atomic import write_atomically_at
from agent.config import ServerConfig, read_secret_file
from agent.i18n import t

API_PATH = "/api/v1/inventories"
EXIT_NOT_SENT = 3
"""Exit code of `tiebreak scan --send` when the inventory was written but waits in the spool."""
PERMANENT = frozenset({400, 403, 409, 413, 415, 422})
"""Statuses that a resend of the same inventory would get again (403: only the server's own)."""
NOT_ABOUT_THE_INVENTORY = frozenset({401, 404, 405, 407, 429, 502, 503, 504})
"""Statuses every inventory would get now (token, address, proxy, busy server): stop the run."""
REJECTED = "rejected"
SUFFIX = ".json"


class SpoolError(OSError):
    """The spool directory cannot be trusted: nothing is read from it, written to it or sent."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one inventory: sent (with the server's receipt) or not, and why."""

    sent: bool
    message: str
    receipt: dict[str, Any] | None = None
    permanent: bool = False
    stop: bool = False
    """The failure is not about this inventory: the ones after it are not tried this time."""


def spool_directory() -> Path:
    """Where unsent inventories wait."""
    explicit = os.environ.get("TIEBREAK_SPOOL")
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return Path("/var/spool/tiebreak")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "tiebreak" / "spool"


def _warn(message: str) -> None:
    print(f"tiebreak: {message}", file=sys.stderr)


class _Untrusted(Exception):
    """Why a directory cannot be trusted, in both languages."""

    def __init__(self, french: str, english: str) -> None:
        super().__init__(english)
        self.french = french
        self.english = english


def _refuse(path: Path, why: _Untrusted) -> SpoolError:
    return SpoolError(
        t(
            f"répertoire d'attente (spool) {path} refusé : {why.french} ; rien n'est envoyé. "
            "Donnez à TIEBREAK_SPOOL un répertoire à vous, en mode 0700",
            f"spool directory {path} refused: {why.english}; nothing is sent. "
            "Point TIEBREAK_SPOOL to a directory of your own, mode 0700",
        )
    )


def _check_ancestor(path: Path, status: os.stat_result) -> None:
    """A directory above the spool: only root or this user may rename what it holds."""
    if status.st_uid not in (0, os.geteuid()):
        raise _Untrusted(
            f"{path} appartient à l'utilisateur {status.st_uid}, qui pourrait le remplacer",
            f"{path} belongs to user {status.st_uid}, who could replace it",
        )
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o022 and not mode & stat.S_ISVTX:
        raise _Untrusted(
            f"{path} est modifiable par d'autres utilisateurs (mode {mode:04o})",
            f"{path} is writable by other users (mode {mode:04o})",
        )


def _check_own(path: Path, status: os.stat_result) -> None:
    """The spool itself (or its `rejected/`): a directory of this user that only they can change."""
    euid = os.geteuid()
    mode = stat.S_IMODE(status.st_mode)
    if not stat.S_ISDIR(status.st_mode):
        raise _Untrusted(f"{path} n'est pas un répertoire", f"{path} is not a directory")
    if status.st_uid != euid:
        raise _Untrusted(
            f"{path} appartient à l'utilisateur {status.st_uid}, pas à {euid}",
            f"{path} belongs to user {status.st_uid}, not {euid}",
        )
    if mode & 0o022:
        raise _Untrusted(
            f"{path} est modifiable par le groupe ou les autres (mode {mode:04o})",
            f"{path} is writable by group or others (mode {mode:04o})",
        )


def _open_directory(name: str, parent: int, path: Path) -> int:
    """Open (creating it, mode 0700) the directory `name` in `parent`, never through a link."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=parent)
    try:
        return os.open(
            name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent
        )
    except OSError:
        with contextlib.suppress(OSError):
            if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                raise _Untrusted(
                    f"{path} est un lien symbolique (donnez le chemin réel)",
                    f"{path} is a symbolic link (give the real path)",
                ) from None
        raise _Untrusted(f"{path} n'est pas un répertoire", f"{path} is not a directory") from None


class Spool:
    """The spool directory, open as a descriptor: every name inside is resolved from it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the directory descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def put(self, name: str, document: bytes) -> None:
        """Write an inventory durably (write-ahead: before any attempt to send it)."""
        write_atomically_at(self.fd, _file_name(name), document, mode=0o600)

    def waiting(self) -> list[str]:
        """Names of the inventories waiting, oldest first; other entries skipped with a warning."""
        found: list[tuple[int, str]] = []
        for entry in os.listdir(self.fd):
            if not entry.endswith(SUFFIX) or entry.startswith("."):
                continue
            try:
                status = os.stat(entry, dir_fd=self.fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # sent meanwhile by another run
            if not stat.S_ISREG(status.st_mode):
                _warn(_not_a_file(self.path / entry))
                continue
            found.append((status.st_mtime_ns, entry.removesuffix(SUFFIX)))
        return [name for _, name in sorted(found)]

    def read(self, name: str) -> bytes | None:
        """The inventory `name`; None when it is gone or not a regular file (never followed)."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(_file_name(name), flags, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError:  # ELOOP: it became a link
            _warn(_not_a_file(self.path / _file_name(name)))
            return None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                _warn(_not_a_file(self.path / _file_name(name)))
                return None
            return handle.read()

    def remove(self, name: str) -> None:
        """Forget an inventory the server took."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_file_name(name), dir_fd=self.fd)
        os.fsync(self.fd)

    def reject(self, name: str, reason: str) -> bool:
        """Move a refused inventory to `rejected/` with the reason; False if that cannot be done."""
        where = self.path / REJECTED
        try:
            rejected = _open_directory(REJECTED, self.fd, where)
        except _Untrusted as why:
            _warn(_not_moved(name, self.path, t(why.french, why.english)))
            return False
        try:
            status = os.fstat(rejected)
            _check_own(where, status)
            write_atomically_at(
                rejected, f"{name}.reason.txt", reason.encode("utf-8") + b"\n", mode=0o600
            )
            os.rename(_file_name(name), _file_name(name), src_dir_fd=self.fd, dst_dir_fd=rejected)
            os.fsync(rejected)
            os.fsync(self.fd)
        except _Untrusted as why:
            _warn(_not_moved(name, self.path, t(why.french, why.english)))
            return False
        except OSError as exc:
            _warn(_not_moved(name, self.path, str(exc)))
            return False
        finally:
            os.close(rejected)
        return True


def _not_moved(name: str, spool: Path, why: str) -> str:
    return t(
        f"inventaire {name} refusé par le serveur mais non déplacé vers {spool / REJECTED} "
        f"({why}) : laissé dans {spool}",
        f"inventory {name} refused by the server but not moved to {spool / REJECTED} "
        f"({why}): left in {spool}",
    )


def _file_name(name: str) -> str:
    if not name or "/" in name or name.startswith(".") or "\x00" in name:
        raise ValueError(f"invalid inventory id {name!r}")
    return name + SUFFIX


def _not_a_file(path: Path) -> str:
    return t(
        f"{path} ignoré : ce n'est pas un fichier ordinaire (répertoire, lien, tube...) ; "
        "il n'est ni lu ni envoyé",
        f"{path} skipped: not a regular file (directory, link, pipe...); not read nor sent",
    )


def open_spool(path: Path) -> Spool:
    """Open (creating it, mode 0700) the spool directory after checking it can be trusted."""
    spool = Path(os.path.abspath(path))
    missing: list[str] = [spool.name]
    anchor = spool.parent
    while not anchor.exists():
        missing.insert(0, anchor.name)
        anchor = anchor.parent
    real = Path(os.path.realpath(anchor))
    try:
        for directory in (real, *real.parents):
            _check_ancestor(directory, os.stat(directory))
    except _Untrusted as why:
        raise _refuse(spool, why) from None
    fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    current = real
    try:
        for index, name in enumerate(missing):
            current = current / name
            child = _open_directory(name, fd, current)
            os.close(fd)
            fd = child
            if index < len(missing) - 1:
                _check_ancestor(current, os.fstat(fd))
        _check_own(spool, os.fstat(fd))
    except _Untrusted as why:
        os.close(fd)
        raise _refuse(spool, why) from None
    except BaseException:
        os.close(fd)
        raise
    return Spool(spool, fd)


def read_token(server: ServerConfig) -> str:
    """The agent token from `[server] token_file`."""
    if server.token_file is None:
        raise OSError(
            t(
                "[server] token_file manquant : le fichier du jeton d'agent est nécessaire",
                "[server] token_file missing: the agent token file is needed",
            )
        )
    # Checked again right before use: as root, a file another user can change is refused.
    return read_secret_file(server.token_file)


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
        # No answer at all (unreachable, silent): the next inventories would fare no better.
        silent = isinstance(exc, (requests.ConnectionError, requests.Timeout))
        return Outcome(
            False,
            t(f"serveur injoignable ({reason})", f"server unreachable ({reason})"),
            stop=silent,
        )
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code in (200, 201) and isinstance(body, dict):
        return Outcome(True, t("envoyé", "sent"), body)
    ours = isinstance(body, dict) and "detail" in body
    detail = str(body["detail"]) if ours and isinstance(body, dict) else answer.text[:200]
    status = answer.status_code
    # A 403 is about the inventory only when the server itself says so (another organisation);
    # from a proxy in between, it is about everything.
    permanent = status in PERMANENT and (status != 403 or ours)
    stop = status in NOT_ABOUT_THE_INVENTORY or (status == 403 and not ours)
    return Outcome(False, f"HTTP {status}: {detail}", permanent=permanent, stop=stop)


def deliver(
    document: bytes, inventory_id: str, server: ServerConfig, directory: Path
) -> list[tuple[str, Outcome]]:
    """Spool this inventory, then send the waiting ones (oldest first) and this one last.

    The last outcome is this inventory's.
    """
    with open_spool(directory) as spool:
        spool.put(inventory_id, document)
        token = read_token(server)
        names = [name for name in spool.waiting() if name != inventory_id]
        outcomes: list[tuple[str, Outcome]] = []
        for name in [*names, inventory_id]:
            body = document if name == inventory_id else spool.read(name)
            if body is None:
                continue
            outcome = send(body, server, token)
            if outcome.sent:
                spool.remove(name)
            elif outcome.permanent and not spool.reject(name, outcome.message):
                outcome = replace(outcome, permanent=False)  # left in the spool, said so
            outcomes.append((name, outcome))
            if outcome.stop:
                if name != inventory_id:
                    outcomes.append((inventory_id, Outcome(False, outcome.message, stop=True)))
                break
        return outcomes


def check_ready(server: ServerConfig | None) -> ServerConfig:
    """Fail before scanning when `--send` cannot work: no [server] section, no readable token,
    or a spool directory that cannot be trusted (SpoolError)."""
    if server is None:
        raise OSError(
            t(
                "--send demande une section [server] (url, token_file) dans la configuration",
                "--send needs a [server] section (url, token_file) in the configuration",
            )
        )
    read_token(server)
    open_spool(spool_directory()).close()
    return server


def send_inventory(document: bytes, inventory_id: str, server: ServerConfig, quiet: bool) -> bool:
    """Spool and deliver this inventory (and the waiting ones), print what happened; True if it
    was sent. Raises SpoolError when the spool directory cannot be trusted (nothing sent)."""
    directory = spool_directory()
    try:
        outcomes = deliver(document, inventory_id, server, directory)
    except SpoolError:
        raise
    except OSError as exc:
        # The token file went away or the spool is full: the inventory stays where it could go.
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
                    f"gardé dans {directory / REJECTED}",
                    f"tiebreak: inventory {name} refused by the server ({outcome.message}); "
                    f"kept in {directory / REJECTED}",
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
