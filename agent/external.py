"""External mode: scans of many collectivités from a list of domain names, through the probes.

A central team gives a file of domains (one per line, or CSV rows `domain, organisation, SIREN`).
Each organisation's domains are scanned by the external probes selected (`dns`, and `http` when it
is registered): the same probe classes `tiebreak scan` runs (`probes.registry`), each emitting into
an `Emitter` restricted to its declared channels, each run recorded as `agent.orchestrator` records
it (`record_run`), and the inventory assembled by `agent.build`, as for `tiebreak scan`. Each
organisation's inventory is written to the output folder as soon as its probes are done, plus
`summary.csv` (one row per domain) at the end. A rerun skips organisations whose inventory is
complete for the probes selected, unless forced, so an interrupted run resumes where it stopped.

How the work is bounded, whatever the number of organisations:
- organisations are scanned `concurrency` at a time (or `threads`, when a synchronous probe is
  selected and that is more); an organisation's observations are dropped once its inventory is
  written, so memory depends on that number, not on the length of the file;
- the DNS probe runs on the event loop (`DnsProbe.run_async`) with one resolver shared by the whole
  run: at most `concurrency` questions in flight across every organisation. The resolver is checked
  once, before the first organisation (`check_resolver`): when no server answers, the run stops;
- a synchronous probe (`run(ctx, out)`, the HTTP probe) runs in a thread of its own, at most
  `threads` at once; its timeout starts when it gets its thread. As in the orchestrator, a probe
  past its timeout is abandoned (`timeout`, what it emitted kept, its emitter cancelled so that it
  stops at its next observation) and its daemon thread no longer counts: hung sites never stall
  the run;
- with `--send`, each inventory is spooled (write-ahead, before it is written to the output folder)
  and sent in the background by a few threads (`agent.sender.deliver`, as `tiebreak scan --send`).
  The server takes an inventory only with a token of the organisation it describes, so each
  organisation has its own token file (`--tokens`) and its own spool folder
  (`<spool>/external/<inventory name>`): its waiting inventories never go out with another's token.
  What the server took is listed in the output folder's `sent.log`, so a later `--send` run also
  sends the complete inventories that were never sent (scanned without `--send`).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
import os
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from agent.atomic import write_atomically
from agent.build import Built, build_inventory
from agent.config import valid_label
from agent.i18n import t
from agent.orchestrator import PlannedProbe, error_text, record_run, skipped_run
from agent.scan import slug
from inventory import (
    Finding,
    Inventory,
    Observation,
    Organisation,
    OrganisationType,
    ProbeRun,
    ProbeStatus,
    Scope,
    Usage,
    siren_is_valid,
)
from probes import registry
from probes.base import DnsSettings, Emitter, Probe, ProbeCancelled, ProbeContext
from probes.dns.probe import DnsProbe, ResolverUnreachable, check_resolver
from probes.dns.queries import DEFAULT_DKIM_SELECTORS
from probes.dns.resolver import AsyncResolver
from probes.http.settings import HttpSettings

if TYPE_CHECKING:
    from agent.config import ServerConfig
    from agent.sender import Outcome

__all__ = [
    "EXTERNAL_PROBES",
    "ExternalPlanError",
    "ExternalReport",
    "ExternalSettings",
    "ResolverUnreachable",
    "SendReport",
    "SendSettings",
    "Target",
    "external_plan",
    "inventory_path",
    "normalise_domain",
    "parse_domain_lines",
    "read_domain_file",
    "run_external",
    "summary_rows",
    "write_summary",
]

SUMMARY_FILE = "summary.csv"
SUMMARY_COLUMNS = (
    "organisation",
    "siren",
    "domain",
    "mail_provider",
    "dns_host",
    "jurisdiction_classes",
    "dns_status",
    "web_host",
    "cms",
    "cdn",
)
EXTERNAL_PROBES = ("dns", "http")
"""Probes that look at a domain from outside, in the order they are planned (the CLI's default,
those of them that are registered)."""
SENT_LOG = "sent.log"
"""In the output folder: `<inventory id> <file> <UTC time>` of each inventory the server took."""
SPOOL_FOLDER = "external"
"""Folder of the spool holding one folder per organisation (`--send`)."""
HEADER_WORDS = frozenset({"domain", "domaine", "domains", "domaines", "nom de domaine"})


@dataclass(frozen=True, slots=True)
class Target:
    """One domain to scan, the line it came from and the organisation it belongs to."""

    line: int
    domain: str
    organisation: str
    siren: str | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """Rows with the same organisation name and SIREN make one organisation."""
        return (self.organisation, self.siren)


@dataclass(slots=True)
class DomainList:
    """The targets read from a domain file and the lines that were refused, with why."""

    targets: list[Target] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def normalise_domain(text: str) -> str | None:
    """The domain in ASCII lower case (IDN encoded), or None when it is not a valid domain name."""
    name = text.strip().rstrip(".").lower()
    if not name or any(c in name for c in "/:@ \t"):
        return None
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2:
        return None
    if not all(valid_label(label) for label in labels):
        return None
    return name


def parse_domain_lines(lines: Iterable[str], source: str = "-") -> DomainList:
    """Read targets from lines; blank lines and `#` comments are skipped, bad lines reported."""
    result = DomainList()
    seen: dict[str, int] = {}
    delimiter: str | None = None
    first = True
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if delimiter is None:
            delimiter = next((d for d in (";", ",", "\t") if d in line), None)
        cells = [line]
        if delimiter is not None:
            try:
                cells = [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
            except csv.Error as exc:
                result.problems.append(f"{source}:{number}: CSV illisible / unreadable CSV: {exc}")
                continue
        if first and cells[0].lower() in HEADER_WORDS:
            first = False
            continue
        first = False
        target, problem = _target(number, cells)
        if problem:
            result.problems.append(f"{source}:{number}: {problem}")
            continue
        assert target is not None
        if target.domain in seen:
            result.problems.append(
                f"{source}:{number}: {target.domain}: "
                + t(
                    f"doublon de la ligne {seen[target.domain]}, ignoré",
                    f"duplicate of line {seen[target.domain]}, skipped",
                )
            )
            continue
        seen[target.domain] = number
        result.targets.append(target)
    return result


def _target(number: int, cells: list[str]) -> tuple[Target | None, str | None]:
    if len(cells) > 3:
        return None, t(
            f"{len(cells)} colonnes, 3 au plus (domaine, organisation, SIREN)",
            f"{len(cells)} columns, at most 3 (domain, organisation, SIREN)",
        )
    domain = normalise_domain(cells[0])
    if domain is None:
        return None, t(f"nom de domaine invalide {cells[0]!r}", f"invalid domain name {cells[0]!r}")
    organisation = cells[1] if len(cells) > 1 and cells[1] else cells[0].rstrip(".").lower()
    if len(organisation) > 300:
        return None, t("nom d'organisation trop long", "organisation name too long")
    siren = cells[2].replace(" ", "") if len(cells) > 2 and cells[2] else None
    if siren is not None and not siren_is_valid(siren):
        return None, t(
            f"SIREN invalide {cells[2]!r} (9 chiffres, clé de Luhn)",
            f"invalid SIREN {cells[2]!r} (9 digits, Luhn key)",
        )
    return Target(number, domain, organisation, siren), None


def read_domain_file(path: Path) -> DomainList:
    """Read a domain file (UTF-8, or Windows-1252 as Excel writes it); OSError if unreadable."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", "replace")
    return parse_domain_lines(io.StringIO(text), str(path))


@dataclass(frozen=True, slots=True)
class ExternalSettings:
    """Which probes, where to ask and how hard: resolver, concurrency, threads, DKIM selectors.

    `probes` defaults to the DNS probe alone for programmatic callers (benchmarks, tests): a web
    probe connects to the addresses the zones give, so it runs only when asked for (the command
    line asks for every registered external probe by default).
    """

    nameservers: tuple[str, ...] = ()
    port: int = 53
    timeout: float = 2.0
    retries: int = 1
    concurrency: int = 50
    dkim_selectors: tuple[str, ...] = DEFAULT_DKIM_SELECTORS
    probes: tuple[str, ...] = ("dns",)
    threads: int = 32
    """Synchronous probe runs (the HTTP probe) at once."""
    http: HttpSettings = field(default_factory=HttpSettings)
    """How the HTTP probe fetches (the configuration's `[http]`)."""


class ExternalPlanError(ValueError):
    """A probe selection that the external mode cannot run."""


def external_plan(selectors: Sequence[str] | None = None) -> list[PlannedProbe]:
    """The probes of an external run, each with its default timeout, in `EXTERNAL_PROBES` order.

    Without selectors, every registered external probe. Selectors are probe names or tags, as for
    `tiebreak scan --probe`; a tag keeps only its external probes, a probe named that does not look
    at domains from outside is refused. Raises ExternalPlanError (or `registry.UnknownProbeError`
    for a selector naming nothing).
    """
    names = registry.all_names()
    usable = [name for name in EXTERNAL_PROBES if name in names]
    if selectors:
        chosen = {entry.name for entry in registry.select(list(selectors))}
        wrong = [s for s in selectors if s in names and s not in usable]
        if wrong:
            raise ExternalPlanError(
                t(
                    f"--probe {wrong[0]} : sonde inapplicable au mode externe (possibles : "
                    f"{', '.join(usable)})",
                    f"--probe {wrong[0]}: probe not available in external mode (possible: "
                    f"{', '.join(usable)})",
                )
            )
        usable = [name for name in usable if name in chosen]
    if not usable:
        raise ExternalPlanError(
            t(
                "aucune sonde du mode externe dans la sélection",
                "no external-mode probe in the selection",
            )
        )
    entries = {entry.name: entry for entry in registry.REGISTRY}
    planned = []
    for name in usable:
        probe = entries[name].load()
        planned.append(PlannedProbe(probe, probe.default_timeout))
    return planned


@dataclass(slots=True)
class SendReport:
    """What `--send` did: inventories sent, waiting in the spool, refused, without a token."""

    spool: Path
    sent: int = 0
    queued: list[str] = field(default_factory=list)
    """Inventories left in the spool for the next `--send` (not the ones without token)."""
    rejected: list[str] = field(default_factory=list)
    """`<inventory>: <server's reason>`, moved to the spool's `rejected/` folders."""
    no_token: list[str] = field(default_factory=list)
    """Organisations without a token file: their inventories wait in the spool."""
    stopped: str | None = None
    """Why sending stopped for the rest of the run (server unreachable, busy…)."""

    @property
    def complete(self) -> bool:
        """True when every inventory went out."""
        return not (self.queued or self.rejected or self.no_token)


@dataclass(slots=True)
class ExternalReport:
    """What a run did: organisations written, skipped as already done, failed; questions asked."""

    written: list[Path] = field(default_factory=list)
    rows: dict[str, str] = field(default_factory=dict)
    """`summary.csv` lines of each inventory written, by file name (text: a few bytes a domain)."""
    skipped: int = 0
    failed_domains: list[str] = field(default_factory=list)
    """One line per probe run that failed or timed out: organisation, domains, probe, error."""
    domains_scanned: int = 0
    queries: int = 0
    unreachable: str | None = None
    stopped: str | None = None
    """Why the run stopped before its end (an inventory or the spool could not be written)."""
    unknown_channels: Counter[str] = field(default_factory=Counter)
    """Observations per channel the contract does not know, over every inventory written."""
    sending: SendReport | None = None


def inventory_path(output: Path, organisation: str, siren: str | None) -> Path:
    """`<slug>-<SIREN>.json`, or `<slug>-<hash of the name>.json` without SIREN."""
    suffix = siren or hashlib.sha256(organisation.encode("utf-8")).hexdigest()[:10]
    return output / f"{slug(organisation)}-{suffix}.json"


def _already_done(path: Path, domains: Sequence[str], probes: Sequence[str]) -> str | None:
    """The inventory id when `path` is an inventory covering every one of `domains` in which
    each of `probes` ran to the end (`ok`, or `skipped` because it could not run there)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        covered = set(document["scope"]["domains"])
        ended = {
            run["name"]
            for run in document["probes"]
            if run["status"] in (ProbeStatus.OK.value, ProbeStatus.SKIPPED.value)
        }
        inventory_id = str(document["id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return inventory_id if set(domains) <= covered and set(probes) <= ended else None


ProgressHook = Callable[[str], None]
"""Called with each domain when the scan of its organisation ends."""


# -- sending -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendSettings:
    """Where inventories go (`[server]`) and where each organisation's token file is.

    `tokens` is a folder holding one token file per organisation, named `<SIREN>.token` (or
    `<SIREN>`) or, for an organisation without SIREN, like its inventory: `<name>-<hash>.token`.
    Without it, `[server] token_file` serves every organisation (one organisation only: the server
    refuses an inventory sent with another organisation's token).
    """

    server: ServerConfig
    tokens: Path | None = None

    def token_file(self, organisation: str, siren: str | None) -> Path | None:
        """The organisation's token file, or None when it has none."""
        if self.tokens is None:
            return self.server.token_file
        names = [f"{siren}.token", siren] if siren else []
        names.append(inventory_path(self.tokens, organisation, siren).stem + ".token")
        for name in names:
            if (self.tokens / name).is_file():
                return self.tokens / name
        return None


def external_spool() -> Path:
    """The spool folder of the external mode: one folder per organisation inside."""
    from agent.sender import spool_directory

    return spool_directory() / SPOOL_FOLDER


class _Sender:
    """Spools every inventory (write-ahead) and delivers them in the background, a few at once.

    A failure that is about every inventory (server unreachable or busy, a proxy in the way) stops
    sending for the rest of the run: the inventories after it are only spooled. A refused token
    (401) is one organisation's business: the others go on. At most `BACKLOG` deliveries wait:
    a slow server slows the scan down rather than fill the memory.

    Each inventory the server took is recorded in the output folder (`SENT_LOG`): an organisation
    skipped as already done is sent on a later `--send` run when its inventory is neither there
    nor waiting in the spool (scanned without `--send`, or lost between its writing and its
    spooling). A resend is harmless anyway: the server answers it as the first time.
    """

    WORKERS = 4
    BACKLOG = 64

    def __init__(self, settings: SendSettings, spool: Path, output: Path) -> None:
        self.settings = settings
        self.spool = spool
        self.report = SendReport(spool)
        self.log = output / SENT_LOG
        self.logged = _sent_ids(self.log)
        self.pool = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="tiebreak-send")
        self.pending: set[asyncio.Future[list[tuple[str, Outcome]]]] = set()
        self.slots: asyncio.Semaphore | None = None

    def folder(self, path: Path) -> Path:
        """The spool folder of the organisation whose inventory is `path`."""
        return self.spool / path.stem

    def put(self, path: Path, name: str, document: bytes) -> None:
        """Spool one inventory before anything else happens to it (called in a thread)."""
        from agent.sender import open_spool

        with open_spool(self.folder(path)) as spool:
            spool.put(name, document)

    async def submit(self, target: Target, path: Path, name: str, document: bytes) -> None:
        """Deliver a spooled inventory (and its organisation's older waiting ones) when possible."""
        from agent.sender import deliver

        token = self.settings.token_file(target.organisation, target.siren)
        if token is None:
            self.report.no_token.append(_describe(target.organisation, target.siren))
            return
        if self.report.stopped is not None:
            self.report.queued.append(name)
            return
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.BACKLOG)
        await self.slots.acquire()
        server = self.settings.server.model_copy(update={"token_file": token})
        future = asyncio.get_running_loop().run_in_executor(
            self.pool, deliver, document, name, server, self.folder(path)
        )
        self.pending.add(future)
        future.add_done_callback(lambda done: self._done(done, name, path))

    def _done(
        self, future: asyncio.Future[list[tuple[str, Outcome]]], name: str, path: Path
    ) -> None:
        assert self.slots is not None
        self.slots.release()
        self.pending.discard(future)
        report = self.report
        failure = None if future.cancelled() else future.exception()
        if future.cancelled() or failure is not None:
            # The token file went away, the spool is full or refused: it waits, said so.
            report.queued.append(f"{name} ({failure or 'interrompu / interrupted'})")
            return
        everything = True
        sent: list[str] = []
        for sent_name, outcome in future.result():
            if outcome.sent:
                report.sent += 1
                sent.append(sent_name)
                continue
            everything = False
            if outcome.permanent:
                report.rejected.append(f"{sent_name}: {outcome.message}")
            else:
                report.queued.append(f"{sent_name} ({outcome.message})")
            if outcome.stop and not outcome.message.startswith("HTTP 401"):
                report.stopped = report.stopped or outcome.message
        self._log(sent, path)
        if everything:
            with contextlib.suppress(OSError):  # left when something else came in meanwhile
                self.folder(path).rmdir()

    def _log(self, names: list[str], path: Path) -> None:
        """Record what the server took (on the event loop's thread: one writer)."""
        if not names:
            return
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.logged.update(names)
        # Unrecorded, an inventory is at worst sent again, which the server answers harmlessly.
        with contextlib.suppress(OSError), self.log.open("a", encoding="utf-8") as handle:
            handle.writelines(f"{name} {path.name} {stamp}\n" for name in names)

    async def resend(self, target: Target, path: Path, inventory_id: str) -> None:
        """Send what an organisation skipped as done still has waiting in the spool, or its
        inventory in the output folder when the server never took it."""
        folder = self.folder(path)
        if folder.is_dir():
            waiting = await asyncio.to_thread(_oldest_waiting, folder)
            if waiting is not None:
                await self.submit(target, path, *waiting)
                return
        if inventory_id in self.logged:
            return
        try:
            document = await asyncio.to_thread(path.read_bytes)
        except OSError:
            return  # gone meanwhile: nothing to send
        await asyncio.to_thread(self.put, path, inventory_id, document)
        await self.submit(target, path, inventory_id, document)

    async def drain(self) -> None:
        """Wait for every delivery in progress."""
        while self.pending:
            await asyncio.wait(set(self.pending))

    def close(self) -> None:
        """Release the threads (every delivery is over)."""
        self.pool.shutdown(wait=False)


def _sent_ids(log: Path) -> set[str]:
    """Inventory ids recorded in the sent log (none when it is missing or unreadable)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {line.split(" ", 1)[0] for line in text.splitlines() if line.strip()}


def _oldest_waiting(folder: Path) -> tuple[str, bytes] | None:
    from agent.sender import open_spool

    with open_spool(folder) as spool:
        for name in spool.waiting():
            document = spool.read(name)
            if document is not None:
                return name, document
    return None


def _describe(organisation: str, siren: str | None) -> str:
    return f"{organisation} ({siren})" if siren else organisation


# -- probe runs ----------------------------------------------------------------------------------


def _settle(future: asyncio.Future[None], failure: BaseException | None) -> None:
    if future.done():
        return
    if failure is None:
        future.set_result(None)
    else:
        future.set_exception(failure)


class _Runner:
    """Runs one planned probe on one organisation and records the run as the orchestrator does."""

    def __init__(self, resolver: AsyncResolver | None, threads: int) -> None:
        self.resolver = resolver
        self.threads = asyncio.Semaphore(max(1, threads))

    async def run(
        self, planned: PlannedProbe, ctx: ProbeContext
    ) -> tuple[ProbeRun, list[Observation]]:
        """The probe's run and its observations; never raises (but cancellation)."""
        probe = planned.probe
        reason = probe.unavailable(ctx)
        if reason is not None:
            return skipped_run(probe.name, reason), []
        threaded = not isinstance(probe, DnsProbe)
        if threaded:
            await self.threads.acquire()  # given back when the run ends, or is abandoned
        try:
            return await self._timed(planned, ctx, threaded)
        finally:
            if threaded:
                self.threads.release()

    async def _timed(
        self, planned: PlannedProbe, ctx: ProbeContext, threaded: bool
    ) -> tuple[ProbeRun, list[Observation]]:
        probe = planned.probe
        out = Emitter(probe.name, probe.channels)
        started = time.monotonic()
        out.deadline = started + planned.timeout
        error: str | None = None
        deadline = asyncio.timeout(planned.timeout)
        try:
            async with deadline:
                if threaded:
                    await _in_thread(probe, ctx, out)
                else:
                    assert isinstance(probe, DnsProbe)
                    await probe.run_async(ctx, out, self.resolver)
        except TimeoutError as exc:
            if deadline.expired():
                out.cancelled.set()
                observations = list(out.observations)
                run = record_run(
                    probe.name, out, time.monotonic() - started, timeout=planned.timeout
                )
                return run, observations
            error = error_text(exc)
        except ProbeCancelled:
            pass
        except Exception as exc:  # noqa: BLE001 - any probe error is recorded, never fatal
            error = error_text(exc)
        observations = list(out.observations)
        return record_run(probe.name, out, time.monotonic() - started, error), observations


async def _in_thread(probe: Probe, ctx: ProbeContext, out: Emitter) -> None:
    """`probe.run(ctx, out)` in a daemon thread (as the orchestrator runs it), awaited; a
    cancelled wait abandons the thread, which ends on its own."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def target() -> None:
        failure: BaseException | None = None
        try:
            probe.run(ctx, out)
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop
            failure = exc
        # The loop is gone when the run ended without this thread (abandoned at exit).
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, done, failure)

    threading.Thread(target=target, name=f"probe-{probe.name}", daemon=True).start()
    await done


# -- the run -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Run:
    """One external run: what to scan, how, and where the results go."""

    groups: dict[tuple[str, str | None], list[Target]]
    plan: list[PlannedProbe]
    settings: ExternalSettings
    output: Path
    report: ExternalReport
    runner: _Runner
    sender: _Sender | None
    progress: ProgressHook | None
    hostname: str = field(default_factory=socket.gethostname)

    async def organisation(self, members: list[Target]) -> None:
        """Scan one organisation, write (and spool) its inventory, then hand it to the sender."""
        first = members[0]
        domains = tuple(member.domain for member in members)
        settings = self.settings
        ctx = ProbeContext(
            hostname=self.hostname,
            domains=domains,
            dns=DnsSettings(
                nameservers=settings.nameservers,
                port=settings.port,
                timeout=settings.timeout,
                retries=settings.retries,
                dkim_selectors=settings.dkim_selectors,
            ),
            http=settings.http,
        )
        started = datetime.now(UTC)
        results = await asyncio.gather(*(self.runner.run(planned, ctx) for planned in self.plan))
        built = build_inventory(
            Organisation(name=first.organisation, siren=first.siren, type=OrganisationType.OTHER),
            Scope(domains=list(domains)),
            [run for run, _observations in results],
            [observation for _run, observations in results for observation in observations],
            started,
            hostname=self.hostname,
        )
        del results  # the observations live on in the inventory only until it is written
        path = inventory_path(self.output, first.organisation, first.siren)
        document = built.inventory.to_json().encode("utf-8")
        name = str(built.inventory.id)
        # Spooled, then written, then fsynced, in a thread: the event loop keeps its questions
        # flowing. A crash in between leaves the organisation to scan again, never unsent.
        await asyncio.to_thread(self._persist, path, name, document)
        self._record(members, path, built)
        if self.sender is not None:
            await self.sender.submit(first, path, name, document)

    def _persist(self, path: Path, name: str, document: bytes) -> None:
        if self.sender is not None:
            self.sender.put(path, name, document)
        write_atomically(path, document + b"\n")

    def _record(self, members: list[Target], path: Path, built: Built) -> None:
        report = self.report
        report.written.append(path)
        report.rows[path.name] = csv_lines(summary_rows(built.inventory))
        report.unknown_channels.update(built.unknown_channels)
        report.domains_scanned += len(members)
        for run in built.inventory.probes:
            if run.status in (ProbeStatus.FAILED, ProbeStatus.TIMEOUT):
                report.failed_domains.append(
                    f"{_describe(members[0].organisation, members[0].siren)} "
                    f"[{', '.join(m.domain for m in members)}]: {run.name}: "
                    f"{run.status.value}: {run.error}"
                )
        if self.progress is not None:
            for member in members:
                self.progress(member.domain)


async def scan_targets(
    targets: Sequence[Target],
    settings: ExternalSettings,
    output: Path,
    force: bool = False,
    progress: ProgressHook | None = None,
    plan_hook: Callable[[int], None] | None = None,
    send: SendSettings | None = None,
    plan: list[PlannedProbe] | None = None,
) -> ExternalReport:
    """Scan every organisation not already done and write one inventory for each.

    `plan` defaults to `external_plan(settings.probes)`. Raises ResolverUnreachable when the DNS
    probe is planned and no server answers the first question.
    """
    plan = plan if plan is not None else external_plan(settings.probes)
    names = [planned.probe.name for planned in plan]
    report = ExternalReport()
    groups: dict[tuple[str, str | None], list[Target]] = {}
    for target in targets:
        groups.setdefault(target.key, []).append(target)
    todo: list[list[Target]] = []
    done: list[tuple[list[Target], str]] = []
    for (organisation, siren), members in groups.items():
        path = inventory_path(output, organisation, siren)
        inventory_id = None if force else _already_done(path, [m.domain for m in members], names)
        if inventory_id is not None:
            report.skipped += 1
            done.append((members, inventory_id))
        else:
            todo.append(members)
    if plan_hook is not None:
        plan_hook(sum(len(members) for members in todo))

    sender = _Sender(send, external_spool(), output) if send is not None else None
    if sender is not None:
        report.sending = sender.report
    resolver = None
    if any(isinstance(planned.probe, DnsProbe) for planned in plan) and todo:
        resolver = AsyncResolver(
            settings.nameservers,
            settings.port,
            settings.timeout,
            settings.retries,
            max_in_flight=settings.concurrency,
        )
    threads = settings.threads if any(not isinstance(p.probe, DnsProbe) for p in plan) else 0
    run = _Run(groups, plan, settings, output, report, _Runner(resolver, threads), sender, progress)
    try:
        if resolver is not None:
            await check_resolver(resolver, todo[0][0].domain)
        queue = iter(todo)

        async def worker() -> None:
            for members in queue:  # one iterator shared by every worker: each takes the next
                await run.organisation(members)

        workers = min(len(todo), max(1, settings.concurrency, threads))
        await asyncio.gather(*(worker() for _ in range(workers)))
        if sender is not None:
            for members, inventory_id in done:
                first = members[0]
                path = inventory_path(output, first.organisation, first.siren)
                await sender.resend(first, path, inventory_id)
    finally:
        if resolver is not None:
            report.queries = resolver.queries
            await resolver.close()
        if sender is not None:
            await sender.drain()
            sender.close()
    return report


def run_external(
    targets: Sequence[Target],
    settings: ExternalSettings,
    output: Path,
    force: bool = False,
    progress: ProgressHook | None = None,
    plan_hook: Callable[[int], None] | None = None,
    send: SendSettings | None = None,
    plan: list[PlannedProbe] | None = None,
) -> ExternalReport:
    """Scan the targets (blocking), write the inventories, then the summary."""
    output.mkdir(parents=True, exist_ok=True)
    try:
        report = asyncio.run(
            scan_targets(targets, settings, output, force, progress, plan_hook, send, plan)
        )
    except ResolverUnreachable as exc:
        report = ExternalReport(
            unreachable=t("résolveur DNS injoignable", "DNS resolver unreachable")
            + f": {exc.detail}"
        )
    except OSError as exc:
        # An inventory or the spool could not be written (disk full, folder gone): stop here;
        # what was written stays, and the summary below reads it back.
        report = ExternalReport(
            stopped=t("arrêt, écriture impossible", "stopped, cannot write") + f": {exc}"
        )
    write_summary(output, report.rows)
    return report


# -- summary.csv ---------------------------------------------------------------------------------

WEB_HOST_DOMAINS = frozenset({"hebergement-cloud"})
"""Catalog domains of the services that run a site (clouds), whatever their deployment."""
CMS_DOMAINS = frozenset({"cms"})
CDN_DOMAINS = frozenset({"cdn"})
WEB_DOMAIN = "web"
"""The catalog's `web` domain mixes web servers (nginx, IIS: on-premise infrastructure), hosting
services (OVHcloud Web Hosting, Netlify: `saas`) and site software (WordPress, SPIP, Wix:
`logiciel`). Hosting is a `web` product deployed as a service (Wix both hosts and is the CMS);
CMS is a `web` product of category `logiciel`; a web server is neither."""


def summary_rows(inventory: Inventory) -> list[dict[str, str]]:
    """One summary row per domain of an inventory, each cell drawn from current findings.

    Findings count at the domain's locus for mail and DNS (the DNS probe's locus), and at the
    domain or `www.<domain>` (with or without scheme, port or path) for the web columns and the
    jurisdictions. See `_mail_provider` and `_dns_host` for the few observation facts used where
    no finding can speak (self-hosting has no product to find).
    """
    observations = {o.id: o for o in inventory.observations}
    current = [f for f in inventory.findings if f.usage is Usage.CURRENT]
    rows = []
    for domain in inventory.scope.domains:
        here = [o for o in inventory.observations if o.locus == domain]
        site = {domain, f"www.{domain}"}
        at_domain = [f for f in current if f.locus == domain]
        at_site = [f for f in current if _host(f.locus) in site]
        web = [f for f in at_site if _seen_by(f, "http", observations)]
        rows.append(
            {
                "organisation": inventory.organisation.name,
                "siren": inventory.organisation.siren or "",
                "domain": domain,
                "mail_provider": _mail_provider(domain, here, at_domain, observations),
                "dns_host": _dns_host(domain, here, at_domain),
                "jurisdiction_classes": " ".join(sorted({f.jurisdiction.value for f in at_site})),
                "dns_status": _dns_status(domain, here),
                "web_host": _names(f for f in web if _is_web_host(f)),
                "cms": _names(
                    f
                    for f in web
                    if f.domain in CMS_DOMAINS
                    or (f.domain == WEB_DOMAIN and f.category.value == "logiciel")
                ),
                "cdn": _names(f for f in web if f.domain in CDN_DOMAINS),
            }
        )
    return rows


def _host(locus: str) -> str:
    """The host name in a locus: `https://www.x.test:443/path` → `www.x.test`."""
    host = locus.split("://", 1)[-1].split("/", 1)[0]
    if host.startswith("["):
        return host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _seen_by(finding: Finding, probe: str, observations: dict[str, Observation]) -> bool:
    """Whether one of the finding's pieces of evidence comes from `probe`."""
    return any(
        (observation := observations.get(evidence)) is not None and observation.probe == probe
        for evidence in finding.evidence
    )


def _is_web_host(finding: Finding) -> bool:
    if finding.domain in WEB_HOST_DOMAINS:
        return True
    if finding.domain != WEB_DOMAIN:
        return False
    from fingerprints.engine import default_engine

    product = default_engine().catalog.products.get(finding.product)
    return product is not None and product.deployment in ("saas", "hybrid")


def _dns_status(domain: str, here: list[Observation]) -> str:
    """`ok`, or how the domain's own SOA question failed (nxdomain, servfail…)."""
    for observation in here:
        attributes = observation.attributes
        if observation.channel == "dns.error" and (
            attributes.get("name"),
            attributes.get("rdtype"),
        ) == (domain, "SOA"):
            return str(attributes.get("status", "error"))
    return "ok"


def _names(findings: Iterable[Finding]) -> str:
    return " + ".join(sorted({f.product_name for f in findings}))


def _inside(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _mail_provider(
    domain: str,
    here: list[Observation],
    current: list[Finding],
    observations: dict[str, Observation],
) -> str:
    """Who handles the domain's mail: the providers found, with the filtering gateway if any.

    From findings at the domain: the `messagerie` products are the provider, the `mail-securite`
    products that rest on an MX record are the gateway (a filter found in the SPF record only
    filters outgoing mail, or nothing). Self-hosting has no product to find, so a few observation
    facts decide the rest, taken from what the records say rather than from any probe judgement:
    - no MX record (`dns.mx`): empty, the domain receives no mail (or does not say);
    - no provider found: `self-hosted` when the domain's own hosts handle its mail, i.e. an MX host
      inside the domain or a host inside the domain allowed to send its mail by the SPF record
      (`a`, `mx`, `a:mail.<domain>`); otherwise `unknown (<first MX host>)`, or `unknown` behind
      a gateway (the mail goes on to a server DNS does not show).
    """
    mx = [o.value for o in here if o.channel == "dns.mx"]
    if not mx:
        return ""
    providers = _names(f for f in current if f.domain == "messagerie")
    gateways = _names(
        f
        for f in current
        if f.domain == "mail-securite"
        and any(
            (o := observations.get(e)) is not None and o.channel == "dns.mx" for e in f.evidence
        )
    )
    if not providers:
        own = any(_inside(host, domain) for host in mx) or any(
            _inside(host, domain) for o in here for host in _spf_hosts(o)
        )
        if own:
            providers = t("auto-hébergé", "self-hosted")
        elif gateways:
            providers = t("inconnu", "unknown")
        else:
            providers = t("inconnu", "unknown") + f" ({mx[0]})"
    if gateways:
        return f"{providers} ({t('passerelle', 'gateway')} {gateways})"
    return providers


def _spf_hosts(observation: Observation) -> list[str]:
    """Hosts of the domain that the SPF record of a `dns.txt` observation names (`a`, `mx`)."""
    if observation.channel != "dns.txt":
        return []
    spf = observation.attributes.get("spf")
    hosts = spf.get("internal_hosts") if isinstance(spf, dict) else None
    return [host for host in hosts if isinstance(host, str)] if isinstance(hosts, list) else []


def _dns_host(domain: str, here: list[Observation], current: list[Finding]) -> str:
    """The DNS host: the `dns` products found at the domain; else, from the NS records,
    `self-hosted` when every name server is inside the domain, or `unknown (<first NS>)`."""
    hosts = _names(f for f in current if f.domain == "dns")
    if hosts:
        return hosts
    ns = sorted(o.value for o in here if o.channel == "dns.ns")
    if not ns:
        return ""
    if all(_inside(name, domain) for name in ns):
        return t("auto-hébergé", "self-hosted")
    return t("inconnu", "unknown") + f" ({ns[0]})"


def csv_lines(rows: Iterable[dict[str, str]]) -> str:
    """Summary rows as `summary.csv` lines (no header)."""
    buffer = io.StringIO(newline="")
    csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS).writerows(rows)
    return buffer.getvalue()


def write_summary(output: Path, known: Mapping[str, str] | None = None) -> Path:
    """Rebuild `summary.csv` from every inventory in the folder (this run's and earlier ones).

    `known` holds the lines of the inventories this run wrote, by file name, so that only
    earlier ones are read. The file is written as it goes (then synced and renamed over the old
    one): however many domains, only one inventory's rows are held at a time.
    """
    known = known or {}
    target = output / SUMMARY_FILE
    fd, temporary = tempfile.mkstemp(dir=output, prefix=f".{SUMMARY_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            csv.DictWriter(handle, fieldnames=SUMMARY_COLUMNS).writeheader()
            for path in sorted(output.glob("*.json")):
                lines = known.get(path.name)
                if lines is None:
                    try:
                        inventory = Inventory.model_validate_json(path.read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        continue
                    lines = csv_lines(summary_rows(inventory))
                handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).chmod(0o644)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
