"""The `nmap` probe: the vendors behind the services answering in `[scope] networks`.

nmap does the scanning: host discovery, then service and version detection (`-sV`, light by
default) on ports chosen to name vendors (`probes.network.ports`), with the `http-title` and
`http-server-header` scripts. The probe only decides what nmap is allowed to do:

- the targets come from `probes.scope` (networks minus exclusions, no public address unless
  `allow_public`, nothing that reads as an option or shell syntax) and every address nmap reports
  is checked against them again;
- nmap's arguments are a list the probe builds from validated values, run without a shell; the
  packet rate (`--max-rate`) and the host timeout come from `[nmap]`; without root the scan is a
  TCP connect scan and UDP is skipped;
- nmap's XML is read as it comes, with defusedxml (no entity, no external resource), so a scan
  stopped at the probe's deadline keeps every host already reported.

python-nmap finds nmap and its version; its `PortScanner.scan` is not used to scan because it
parses nmap's XML with the standard library parser once the scan is over (nothing survives a
timeout) and takes its options as one string.

Observations: `nmap.host` per live host (address, name, open ports); then, per declared network,
one observation per distinct product string (`nmap.service`), CPE (`nmap.cpe`), Server header
(`http.header`) and page title (`http.title`), counting the hosts that show it (`count`,
`addresses`), with each instance (address, port, protocol, service, version, extra information).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar
from xml.etree.ElementTree import Element, ParseError

import nmap as nmap_module
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from pydantic import JsonValue

from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext
from probes.network.ports import default_tcp, default_udp
from probes.scope import ScopeError, Targets, check_text, targets
from probes.text import printable

INSTALL_HINT = "nmap absent : apt-get install nmap / nmap missing: apt-get install nmap"
USER_AGENT = "tiebreak (inventaire TIE Break)"
INSTANCES_MAX = 200  # instances kept per observation; the count and addresses stay complete
STDERR_MAX = 20_000
MARGIN_S = 3.0  # nmap is stopped this long before the probe's deadline


class NmapFailed(RuntimeError):
    """nmap ended in error, or was stopped at the deadline (after what it reported was kept)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The nmap runs of a scan (one per address family: nmap scans IPv6 only with -6), the
    targets they were built from, and what a person should know about them."""

    runs: tuple[tuple[str, ...], ...]
    targets: Targets
    privileged: bool
    notes: tuple[str, ...] = ()

    @property
    def argv(self) -> tuple[str, ...]:
        """The first run's arguments."""
        return self.runs[0]


def _ports(values: tuple[str, ...], what: str) -> str:
    for value in values:
        check_text(value, what)
        low, _, high = value.partition("-")
        if not (low.isdigit() and (not high or high.isdigit())):
            raise ScopeError(f"{what} : {value!r} n'est pas un port / {what}: not a port")
    return ",".join(values)


def plan(nmap: str, ctx: ProbeContext, privileged: bool | None = None) -> Plan:
    """nmap's argument list for this context, or ScopeError before anything is sent."""
    scope = targets(ctx.networks, ctx.exclude, ctx.allow_public)
    settings = ctx.nmap
    root = os.geteuid() == 0 if privileged is None else privileged
    notes: list[str] = []
    tcp = _ports(settings.tcp_ports or default_tcp(), "[nmap] tcp_ports")
    udp = _ports(settings.udp_ports or default_udp(), "[nmap] udp_ports") if root else ""
    if not root:
        notes.append(
            "sans droits root : scan TCP connect, UDP (SNMP…) non analysé / without root: TCP "
            "connect scan, UDP (SNMP…) not scanned"
        )
    argv: list[str] = [nmap, "-oX", "-", "--noninteractive"]
    argv.append("-sS" if root and settings.scan_type == "syn" else "-sT")
    if udp:
        argv.append("-sU")
    argv += ["-sV"]
    if settings.version_intensity is None:
        argv.append("--version-light")
    else:
        argv += ["--version-intensity", str(int(settings.version_intensity))]
    argv += [
        "--script",
        "http-title,http-server-header",
        "--script-args",
        f"http.useragent={USER_AGENT}",
        "-p",
        f"T:{tcp},U:{udp}" if udp else f"T:{tcp}",
        "--max-rate",
        str(int(settings.max_rate)),
        "--host-timeout",
        f"{max(1, round(settings.host_timeout))}s",
    ]
    if not settings.reverse_dns:
        argv.append("-n")
    runs: list[tuple[str, ...]] = []
    for version in (4, 6):
        blocks = [str(block) for block in scope.blocks if block.version == version]
        if not blocks:
            continue
        family = ["-6"] if version == 6 else []
        excluded = [str(block) for block in scope.excluded if block.version == version]
        # Already removed from the targets: nmap checks the exclusions a second time.
        guard = ["--exclude", ",".join(excluded)] if excluded else []
        runs.append((*argv, *family, *guard, *blocks))
    return Plan(tuple(runs), scope, root, tuple(notes))


# -- reading nmap's XML ------------------------------------------------------------------------


@dataclass(slots=True)
class Service:
    """One open port of one host, as nmap identified it."""

    port: int
    protocol: str
    name: str | None
    product: str | None
    version: str | None
    extrainfo: str | None
    cpes: list[str]
    server: str | None  # http-server-header
    title: str | None  # http-title


@dataclass(slots=True)
class Host:
    """One live host nmap reported."""

    address: str
    name: str | None
    services: list[Service] = field(default_factory=list)


def _text(value: str | None, most: int = 256) -> str | None:
    return printable(value, most)


def _script(port: Element, script_id: str) -> str | None:
    for script in port.iter("script"):
        if script.get("id") != script_id:
            continue
        if script_id == "http-title":
            title = next((e.text for e in script.iter("elem") if e.get("key") == "title"), None)
            return _text(title)  # no <elem key="title">: the page has no title
        return _text(script.get("output"))
    return None


def read_host(element: Element) -> Host | None:
    """A `<host>` element: its address, name and open ports (None when it is not up)."""
    status = element.find("status")
    if status is not None and status.get("state") != "up":
        return None
    address = next(
        (
            a.get("addr")
            for a in element.iter("address")
            if a.get("addrtype") in ("ipv4", "ipv6") and a.get("addr")
        ),
        None,
    )
    if address is None:
        return None
    names = [h.get("name") for h in element.iter("hostname") if h.get("name")]
    host = Host(address, _text(names[0], 253) if names else None)
    for port in element.iter("port"):
        state = port.find("state")
        if state is None or state.get("state") != "open":
            continue
        service = port.find("service")
        attrs = service.attrib if service is not None else {}
        try:
            number = int(port.get("portid", ""))
        except ValueError:
            continue
        host.services.append(
            Service(
                port=number,
                protocol=_text(port.get("protocol"), 8) or "tcp",
                name=_text(attrs.get("name"), 64),
                product=_text(attrs.get("product")),
                version=_text(attrs.get("version"), 64),
                extrainfo=_text(attrs.get("extrainfo")),
                cpes=[
                    cpe
                    for c in (service.iter("cpe") if service is not None else ())
                    if (cpe := _text(c.text, 200))
                ],
                server=_script(port, "http-server-header"),
                title=_script(port, "http-title"),
            )
        )
    return host


def hosts_of(stream: IO[bytes]) -> Iterator[Host]:
    """Hosts as nmap writes them, one at a time; entities and external resources are refused
    (defusedxml), and each host's element is dropped once read."""
    root: Element | None = None
    for event, element in iterparse(stream, events=("start", "end")):
        if event == "start":
            if root is None:
                root = element
            continue
        if element.tag == "host":
            host = read_host(element)
            element.clear()
            if root is not None:
                root.clear()
            if host is not None:
                yield host


# -- aggregation -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Seen:
    """One value seen on one channel in one network: on which hosts, how."""

    addresses: set[str] = field(default_factory=set)
    instances: list[dict[str, JsonValue]] = field(default_factory=list)
    versions: Counter[str] = field(default_factory=Counter)


class _Tally:
    def __init__(self) -> None:
        self.seen: dict[tuple[str, Channel, str], _Seen] = {}

    def add(self, locus: str, channel: Channel, value: str, instance: dict[str, JsonValue]) -> None:
        seen = self.seen.setdefault((locus, channel, value), _Seen())
        seen.addresses.add(str(instance["address"]))
        if len(seen.instances) < INSTANCES_MAX:
            seen.instances.append(instance)
        version = instance.get("version")
        if isinstance(version, str):
            seen.versions[version] += 1

    def emit(self, out: Emitter, partial: bool) -> None:
        for (locus, channel, value), seen in sorted(self.seen.items()):
            addresses: list[JsonValue] = list(sorted(seen.addresses))
            instances: list[JsonValue] = list(seen.instances)
            attributes: dict[str, JsonValue] = {
                "count": len(seen.addresses),
                "addresses": addresses,
                "instances": instances,
            }
            if seen.versions:
                attributes["versions"] = dict(seen.versions.most_common())
            if partial:
                attributes["partial"] = True
            out.observe(channel, locus, value, attributes)


def _instance(host: Host, service: Service) -> dict[str, JsonValue]:
    instance: dict[str, JsonValue] = {
        "address": host.address,
        "port": service.port,
        "protocol": service.protocol,
    }
    for key in ("name", "version", "extrainfo"):
        value = getattr(service, key)
        if value:
            instance["service" if key == "name" else key] = value
    if host.name:
        instance["host"] = host.name
    return instance


# -- the probe -------------------------------------------------------------------------------


class NetworkProbe(Probe):
    """Runs nmap over `[scope] networks` minus `exclude`."""

    name: ClassVar[str] = "nmap"
    tags: ClassVar[frozenset[str]] = frozenset({"network", "nmap"})
    channels: ClassVar[frozenset[Channel]] = frozenset(
        {
            Channel.NMAP_HOST,
            Channel.NMAP_SERVICE,
            Channel.NMAP_CPE,
            Channel.HTTP_HEADER,
            Channel.HTTP_TITLE,
        }
    )
    summary: ClassVar[str] = (
        "Services réseau des réseaux déclarés (nmap) / network services of the declared "
        "networks (nmap)"
    )
    default_timeout: ClassVar[float] = 1800.0

    def unavailable(self, ctx: ProbeContext) -> str | None:
        if not ctx.networks:
            return "pas de [scope] networks / no [scope] networks"
        if shutil.which("nmap") is None:
            return INSTALL_HINT
        return None

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        nmap = shutil.which("nmap")
        if nmap is None:
            raise NmapFailed(INSTALL_HINT)
        scan = plan(nmap, ctx)  # ScopeError: nothing was sent
        out.note(describe(scan, nmap_version(nmap)))
        for note in scan.notes:
            out.note(note)
        _Run(scan, out).run()


def nmap_version(path: str) -> str:
    """nmap's version, as python-nmap reads it ("7.93"), or "?"."""
    try:
        major, minor = nmap_module.PortScanner(nmap_search_path=(path,)).nmap_version()
    except (nmap_module.PortScannerError, OSError, ValueError):
        return "?"
    return f"{major}.{minor}"


def describe(scan: Plan, version: str) -> str:
    """What was asked of nmap, in a sentence for the inventory's reader."""
    argv = scan.argv
    kind = "SYN" if "-sS" in argv else "TCP connect"
    ports = argv[argv.index("-p") + 1]
    rate = argv[argv.index("--max-rate") + 1]
    blocks = ", ".join(scan.targets.arguments())
    return (
        f"nmap {version} : scan {kind}, ports {ports}, au plus {rate} paquets/s, sur {blocks} "
        f"({scan.targets.size} adresses) / nmap {version}: {kind} scan, ports {ports}, at most "
        f"{rate} packets/s, on {blocks} ({scan.targets.size} addresses)"
    )


class _Run:
    """One nmap process, read as it writes, stopped at the probe's deadline."""

    def __init__(self, scan: Plan, out: Emitter) -> None:
        self.scan = scan
        self.out = out
        self.tally = _Tally()
        self.stopped = threading.Event()  # set when the deadline stopped nmap
        self.stderr = bytearray()
        self.hosts = 0
        self.broken: str | None = None  # nmap's XML could not be read
        self.failed: str | None = None  # nmap exited in error

    def run(self) -> None:
        try:
            for argv in self.scan.runs:
                if self.stopped.is_set():
                    break
                self._nmap(argv)
        finally:
            self.tally.emit(self.out, partial=self.stopped.is_set() or self.broken is not None)
        self._verdict()

    def _nmap(self, argv: tuple[str, ...]) -> None:
        # An argument list built by plan(), never a shell.
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdout is not None and process.stderr is not None
        readers = [
            threading.Thread(target=self._drain, args=(process.stderr,), daemon=True),
            threading.Thread(target=self._watch, args=(process,), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            for host in hosts_of(process.stdout):
                self._host(host)
        except DefusedXmlException as exc:
            self.broken = f"XML refusé / XML refused: {type(exc).__name__}"
        except ParseError as exc:
            if not self.stopped.is_set():
                self.broken = f"XML illisible / unreadable XML: {exc}"
        finally:
            _stop(process)
        readers[0].join(timeout=5)
        if process.returncode and not self.stopped.is_set() and self.failed is None:
            tail = bytes(self.stderr).decode("utf-8", "replace").strip()[-2000:]
            self.failed = (
                f"nmap a échoué (code {process.returncode}) / nmap failed (exit "
                f"{process.returncode}): {printable(tail, 2000) or '?'}"
            )

    def _verdict(self) -> None:
        if self.stopped.is_set():
            raise NmapFailed(
                f"scan arrêté au délai de la sonde : {self.hosts} hôte(s) gardé(s) / scan "
                f"stopped at the probe's deadline: {self.hosts} host(s) kept"
            )
        # nmap's own message says more than the XML it left unfinished.
        if self.failed is not None:
            raise NmapFailed(self.failed)
        if self.broken is not None:
            raise NmapFailed(self.broken)

    def _host(self, host: Host) -> None:
        scope = self.scan.targets
        network = scope.network_of(host.address)
        if network is None:
            self.out.note(
                f"nmap a rapporté {host.address}, hors du périmètre : ignoré / nmap reported "
                f"{host.address}, outside the scope: ignored"
            )
            return
        self.hosts += 1
        locus = str(network)
        ports: list[JsonValue] = [
            f"{s.port}/{s.protocol}" + (f" {s.name}" if s.name else "") for s in host.services
        ]
        attributes: dict[str, JsonValue] = {"network": locus, "ports": ports}
        if host.name:
            attributes["name"] = host.name
        self.out.observe(Channel.NMAP_HOST, host.address, host.address, attributes)
        for service in host.services:
            instance = _instance(host, service)
            if service.product:
                self.tally.add(locus, Channel.NMAP_SERVICE, service.product, instance)
            for cpe in service.cpes:
                self.tally.add(locus, Channel.NMAP_CPE, cpe, instance)
            if service.server:
                self.tally.add(locus, Channel.HTTP_HEADER, f"server: {service.server}", instance)
            if service.title:
                self.tally.add(locus, Channel.HTTP_TITLE, service.title, instance)

    def _drain(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            if len(self.stderr) < STDERR_MAX:
                self.stderr += line

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        """Stop nmap shortly before the probe's deadline, or when the probe is cancelled."""
        while process.poll() is None:
            left = self.out.remaining()
            if self.out.cancelled.is_set() or (left is not None and left < MARGIN_S):
                self.stopped.set()
                _stop(process)
                return
            time.sleep(0.1)


def _stop(process: subprocess.Popen[Any]) -> None:
    """End nmap and its children (its own session), politely then not."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=3)
    except ProcessLookupError:
        # It exited between poll() and killpg(): reap it, so that its exit code is known.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=3)
    except PermissionError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
