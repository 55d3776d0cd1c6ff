"""The write-ahead spool: inventories waiting for the central server, bounded in size.

An inventory is written here (temporary file, synced, renamed, directory synced) before any
attempt to send it, and removed once the server took it: killing the agent at any moment loses
nothing, and leaves no half-written `*.json` entry.

The spool is bounded by `[server] spool_max_mb`. When a new inventory would exceed it, the
oldest waiting ones are dropped, each with a warning, and their number is kept in the spool
(`dropped.count`, with the total) until the next inventory is spooled: that inventory carries it
(`agent.spool_dropped`), so the central team knows that scans are missing. The newest inventory
is always kept, even alone above the bound.

The spool directory holds inventories that are sent with the agent's token, so it must be the
agent's own: owned by the current user, not writable by group or others, not a symbolic link, in
directories only root or that user can change (a sticky shared directory like /tmp may hold it,
not be it). Otherwise it is refused (SpoolError) and nothing is read from it or sent. It is
created with mode 0700; files inside are opened without following links, and a `rejected` entry
that is not a real directory of ours is never used.

Spool directory: $TIEBREAK_SPOOL, else /var/spool/tiebreak for root, else
$XDG_STATE_HOME/tiebreak/spool (~/.local/state/tiebreak/spool).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from agent.atomic import write_atomically_at
from agent.i18n import t
from inventory.locations import agent_directory

if TYPE_CHECKING:
    from agent.config import ServerConfig

REJECTED = "rejected"
SUFFIX = ".json"
DROPPED = "dropped.count"
"""Inventories dropped over the bound: not yet reported, and in all (two numbers)."""
MEGABYTE = 1024 * 1024
STALE_TEMPORARY_S = 3600
"""A temporary file older than this was left by a killed agent: removed."""
_TEMPORARY = re.compile(r"^\..+\.tmp$")

Warn = Callable[[str], None]


class SpoolError(OSError):
    """The spool directory cannot be trusted: nothing is read from it, written to it or sent."""


class SpoolFullError(OSError):
    """The disk (or quota) holding the spool is full: the inventory could not be spooled."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """An inventory waiting in the spool."""

    name: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class SpoolState:
    """What the spool holds, for `tiebreak status` and the TUI."""

    directory: Path
    waiting: tuple[SpoolEntry, ...]
    """Oldest first."""
    rejected: int
    total_bytes: int
    """Size of the waiting inventories (what the bound counts)."""
    limit_bytes: int
    dropped: int
    """Inventories dropped over the bound since the spool exists."""
    unreported: int
    """Of those, the ones no spooled inventory reports yet."""
    problem: str | None = None
    """Why the spool could not be read (untrusted directory...), when so."""


def spool_directory() -> Path:
    """Where unsent inventories wait: $TIEBREAK_SPOOL, else /var/spool/tiebreak for root, else
    $XDG_STATE_HOME/tiebreak/spool."""
    return agent_directory("TIEBREAK_SPOOL", "/var/spool/tiebreak", "spool")


def limit_bytes(server: ServerConfig | None) -> int:
    """The spool's bound in bytes (`[server] spool_max_mb`, or its default)."""
    from agent.config import DEFAULT_SPOOL_MAX_MB

    megabytes = server.spool_max_mb if server is not None else DEFAULT_SPOOL_MAX_MB
    return int(megabytes * MEGABYTE)


def warn(message: str) -> None:
    """A warning on standard error: the run goes on."""
    print(f"tiebreak: {t('attention', 'warning')}: {message}", file=sys.stderr)


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


def _open_directory(name: str, parent: int, path: Path, create: bool = True) -> int:
    """Open (creating it, mode 0700) the directory `name` in `parent`, never through a link."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent)
    try:
        return os.open(
            name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent
        )
    except FileNotFoundError:
        raise
    except OSError:
        with contextlib.suppress(OSError):
            if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                raise _Untrusted(
                    f"{path} est un lien symbolique (donnez le chemin réel)",
                    f"{path} is a symbolic link (give the real path)",
                ) from None
        raise _Untrusted(f"{path} n'est pas un répertoire", f"{path} is not a directory") from None


def _full(path: Path, name: str, exc: OSError) -> SpoolFullError:
    return SpoolFullError(
        exc.errno,
        t(
            f"disque plein : l'inventaire {name} n'a pas pu être mis en attente dans le "
            f"répertoire d'attente (spool) {path} ({exc.strerror}) ; libérez de la place ou "
            "choisissez un autre répertoire (TIEBREAK_SPOOL)",
            f"disk full: inventory {name} could not be put in the spool directory {path} "
            f"({exc.strerror}); free some space or choose another directory (TIEBREAK_SPOOL)",
        ),
    )


def carry_dropped(document: bytes, count: int) -> bytes | None:
    """`document` with `count` more inventories in its `agent.spool_dropped`; None when it is not
    an inventory that can carry it."""
    try:
        data = json.loads(document)
    except (ValueError, RecursionError):
        return None
    agent = data.get("agent") if isinstance(data, dict) else None
    if not isinstance(agent, dict):
        return None
    already = agent.get("spool_dropped")
    agent["spool_dropped"] = (already if isinstance(already, int) else 0) + count
    try:
        text = json.dumps(data, ensure_ascii=False, indent=2)
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate: escaped, the document stays valid JSON
        return json.dumps(data, indent=2).encode("ascii") + b"\n"


def human_size(size: int) -> str:
    """A size for a person: `12 ko` below a megabyte, `1.5 Mo` above."""
    if size < MEGABYTE:
        return t(f"{size / 1024:.0f} ko", f"{size / 1024:.0f} kB")
    return t(f"{size / MEGABYTE:.1f} Mo", f"{size / MEGABYTE:.1f} MB")


class Spool:
    """The spool directory, open as a descriptor: every name inside is resolved from it."""

    def __init__(self, path: Path, fd: int, warn: Warn = warn) -> None:
        self.path = path
        self.fd = fd
        self.warn = warn

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

    def put(self, name: str, document: bytes, limit: int | None = None) -> bytes:
        """Write an inventory durably (write-ahead: before any attempt to send it); what was
        written.

        With a `limit` in bytes, the oldest waiting inventories are dropped first when this one
        would not fit; the number dropped so far goes into this inventory (`spool_dropped`).
        Raises SpoolFullError when the disk is full.
        """
        file_name = _file_name(name)
        try:
            self._remove_stale_temporaries()
            if limit is not None:
                self._make_room(name, len(document), limit)
            count, total = self.dropped()
            body = carry_dropped(document, count) if count else None
            write_atomically_at(self.fd, file_name, body or document, mode=0o600)
            if body is not None:
                self._set_dropped(0, total)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _full(self.path, name, exc) from None
            raise
        return body or document

    def has(self, name: str) -> bool:
        """True when the inventory `name` waits here (as a regular file)."""
        try:
            status = os.stat(_file_name(name), dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(status.st_mode)

    def entries(self) -> list[SpoolEntry]:
        """The inventories waiting, oldest first; other entries skipped with a warning."""
        found: list[tuple[int, SpoolEntry]] = []
        for entry in os.listdir(self.fd):
            if not entry.endswith(SUFFIX) or entry.startswith("."):
                continue
            try:
                status = os.stat(entry, dir_fd=self.fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # sent meanwhile by another run
            if not stat.S_ISREG(status.st_mode):
                self.warn(_not_a_file(self.path / entry))
                continue
            modified = datetime.fromtimestamp(status.st_mtime, UTC)
            name = entry.removesuffix(SUFFIX)
            found.append((status.st_mtime_ns, SpoolEntry(name, status.st_size, modified)))
        return [entry for _, entry in sorted(found, key=lambda pair: (pair[0], pair[1].name))]

    def waiting(self) -> list[str]:
        """Names of the inventories waiting, oldest first; other entries skipped with a warning."""
        return [entry.name for entry in self.entries()]

    def read(self, name: str) -> bytes | None:
        """The inventory `name`; None when it is gone or not a regular file (never followed)."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(_file_name(name), flags, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError:  # ELOOP: it became a link
            self.warn(_not_a_file(self.path / _file_name(name)))
            return None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                self.warn(_not_a_file(self.path / _file_name(name)))
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
            self.warn(_not_moved(name, self.path, t(why.french, why.english)))
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
            self.warn(_not_moved(name, self.path, t(why.french, why.english)))
            return False
        except OSError as exc:
            self.warn(_not_moved(name, self.path, str(exc)))
            return False
        finally:
            os.close(rejected)
        return True

    def rejected_count(self) -> int:
        """How many refused inventories `rejected/` holds (0 when it is not a directory of ours)."""
        try:
            rejected = _open_directory(REJECTED, self.fd, self.path / REJECTED, create=False)
        except (OSError, _Untrusted):
            return 0
        try:
            return sum(
                1
                for entry in os.listdir(rejected)
                if entry.endswith(SUFFIX) and not entry.startswith(".")
            )
        finally:
            os.close(rejected)

    def dropped(self) -> tuple[int, int]:
        """Inventories dropped over the bound: (not yet reported in a spooled one, in all)."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(DROPPED, flags, dir_fd=self.fd)
        except FileNotFoundError:
            return 0, 0
        except OSError:
            self.warn(_not_a_file(self.path / DROPPED))
            return 0, 0
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                self.warn(_not_a_file(self.path / DROPPED))
                return 0, 0
            numbers = handle.read(64).decode("ascii", "replace").split()
        if len(numbers) != 2 or not all(n.isdigit() and len(n) < 12 for n in numbers):
            return 0, 0
        return int(numbers[0]), int(numbers[1])

    def _set_dropped(self, pending: int, total: int) -> None:
        write_atomically_at(self.fd, DROPPED, f"{pending} {total}\n".encode(), mode=0o600)

    def _make_room(self, name: str, size: int, limit: int) -> None:
        """Drop the oldest waiting inventories until this one (`size` bytes) fits in `limit`."""
        older = [entry for entry in self.entries() if entry.name != name]
        total = size + sum(entry.size for entry in older)
        victims: list[SpoolEntry] = []
        while total > limit and older:
            victim = older.pop(0)
            victims.append(victim)
            total -= victim.size
        if victims:
            # Counted before removed: a crash in between over-counts, never hides a loss.
            pending, total_dropped = self.dropped()
            self._set_dropped(pending + len(victims), total_dropped + len(victims))
        for victim in victims:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_file_name(victim.name), dir_fd=self.fd)
            self.warn(
                t(
                    f"répertoire d'attente {self.path} plein (limite {human_size(limit)}, "
                    f"[server] spool_max_mb) : l'inventaire le plus ancien, {victim.name} du "
                    f"{victim.modified:%Y-%m-%d %H:%M} UTC, est supprimé sans avoir été envoyé ; "
                    "le prochain inventaire envoyé le signale au serveur",
                    f"spool directory {self.path} full (limit {human_size(limit)}, "
                    f"[server] spool_max_mb): the oldest inventory, {victim.name} of "
                    f"{victim.modified:%Y-%m-%d %H:%M} UTC, is dropped unsent; the next "
                    "inventory sent reports it to the server",
                )
            )
        if victims:
            os.fsync(self.fd)
        if total > limit:
            self.warn(
                t(
                    f"l'inventaire {name} ({human_size(size)}) dépasse à lui seul la limite "
                    f"du répertoire d'attente ({human_size(limit)}, [server] spool_max_mb) : "
                    "il est gardé quand même",
                    f"inventory {name} ({human_size(size)}) alone exceeds the spool limit "
                    f"({human_size(limit)}, [server] spool_max_mb): kept anyway",
                )
            )

    def _remove_stale_temporaries(self) -> None:
        """Remove the temporary files that an agent killed while writing left behind."""
        now = time.time()
        for entry in os.listdir(self.fd):
            if not _TEMPORARY.match(entry):
                continue
            with contextlib.suppress(OSError):
                status = os.stat(entry, dir_fd=self.fd, follow_symlinks=False)
                if stat.S_ISREG(status.st_mode) and now - status.st_mtime > STALE_TEMPORARY_S:
                    os.unlink(entry, dir_fd=self.fd)


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


def open_spool(path: Path, warn: Warn = warn) -> Spool:
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
    return Spool(spool, fd, warn)


def spool_state(server: ServerConfig | None, directory: Path | None = None) -> SpoolState:
    """What waits in the spool (`directory`, default spool_directory()), without changing it."""
    where = Path(os.path.abspath(directory or spool_directory()))
    limit = limit_bytes(server)
    if not where.exists():
        return SpoolState(where, (), 0, 0, limit, 0, 0)
    notes: list[str] = []
    try:
        with open_spool(where, warn=notes.append) as spool:
            waiting = tuple(spool.entries())
            unreported, dropped = spool.dropped()
            return SpoolState(
                directory=where,
                waiting=waiting,
                rejected=spool.rejected_count(),
                total_bytes=sum(entry.size for entry in waiting),
                limit_bytes=limit,
                dropped=dropped,
                unreported=unreported,
                problem="\n".join(notes) or None,
            )
    except OSError as exc:
        return SpoolState(where, (), 0, 0, limit, 0, 0, problem=str(exc))
