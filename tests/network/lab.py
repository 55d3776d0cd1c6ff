"""A network lab for the nmap probe's tests and benchmark: real servers in a network namespace.

`start_lab(workdir)` creates the namespace `tiebreak-lab-<pid>` (only `lo` in it, up), assigns
the lab's addresses of 127.70.0.0/24 to `lo` inside it and starts, each bound to its own address
only and run in the foreground with its configuration, keys and logs under `workdir`:

- 127.70.0.9   nginx (Debian's nginx-light): HTTP on 80, HTTPS on 443 (self-signed certificate);
- 127.70.0.10  OpenSSH sshd on 22;
- 127.70.0.11  OpenLDAP slapd on 389 (empty MDB directory, tests/directory/slapd_server.py);
- 127.70.0.12  Samba smbd on 445 and 139 (standalone server, one guest share);
- 127.70.0.13  Exim 4 on 25 (greets, refuses every recipient);
- 127.70.0.14  an emulated Microsoft IIS 10 (HTTP on 80: its headers and default page);
- 127.70.0.15  an emulated Microsoft Exchange SMTP service on 25 (its greeting, EHLO, QUIT);
- 127.70.0.16  an emulated Cisco IOS SSH server on 22 (`SSH-2.0-Cisco-1.25`, then a KEXINIT);
- 127.70.0.2, .3, .20, .21, .30  decoys answering on 22 and 80 (a scope test must not reach them).

The emulated servers are this file run as a script (`python3 lab.py serve <role> <address>…`,
one process per emulated host and one for all the decoys): everything imported at the top is the
standard library, and Debian's python3 runs it. What nmap 7.93 reports for each service is in
`EXPECTED_SERVICES` (recorded from real runs in the lab; tests/network/test_lab.py checks it).

Nothing here talks to any address outside 127.0.0.0/8: the namespace has no interface but `lo`,
and /etc/netns/<netns>/resolv.conf points at 127.0.0.1 inside the namespace (where nothing
answers DNS), so no resolver outside is ever asked. Loopback specifics worth knowing:

- in a fresh namespace, `lo` routes all of 127.0.0.0/8 locally (`local 127.0.0.0/8 ... src
  127.0.0.1`): binding any 127.x address works without assigning it, but Samba's `interfaces`
  wants an address configured on an interface, so every lab address is added as a /32;
- assigning an address adds the local route `local <address> ... src <address>`: the kernel
  then picks the address itself as the source of any connection to it, and nmap (which follows
  the kernel's route, SYN and connect scans alike) run as root puts every host with a source
  address of its own in a host group of its own: it scanned the /24 in 71 s instead of 12.6 s.
  So the lab rewrites those routes with `src 127.0.0.1` (SCANNER_SOURCE): like a LAN seen from a
  scanner's one address (start_lab(shared_source=False) keeps the kernel's default);
- nmap marks every loopback target up without sending any probe (reason `localhost-response`):
  `nmap -sn` on a loopback range sends no packet at all; a port scan is needed to see traffic;
- tcpdump on `lo` writes link type 1 (Ethernet, 14-byte header with zero MAC addresses) and
  writes each packet once while its "received by filter" count is about twice that (the kernel
  hands each loopback packet to packet sockets as outgoing and incoming; libpcap drops the
  outgoing copy). Lab.capture runs it in immediate mode with a short snapshot length and a large
  buffer: with tcpdump's defaults, a SYN scan's burst overflows the ring (Capture.dropped).

Used by tests/network/conftest.py (the `lab` fixture) and the nmap benchmark, which load this
file with importlib under the module name `tiebreak_test_network_lab`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import http.server
import importlib.util
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar


def _shared_netns() -> Any:
    """tests/tiebreak_netns.py, the namespace helpers the fixtures share (tests are not a
    package, and putting tests/ on sys.path would let tests/agent shadow the agent package)."""
    name = "tiebreak_test_netns"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "tiebreak_netns.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


tiebreak_netns = _shared_netns()
_namespace_pids = tiebreak_netns.namespace_pids
_remove_namespace = tiebreak_netns.remove_namespace

NAMESPACE_PREFIX = "tiebreak-lab-"
DEFAULT_SUBNET = "127.70.0.0/24"
# The source address of every connection to a lab host made inside the namespace (nmap's too),
# unless start_lab(shared_source=False).
SCANNER_SOURCE = "127.0.0.1"
NMAP = "/usr/bin/nmap"
SSHD = "/usr/sbin/sshd"
SSHD_PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it
NGINX_DEFAULT_PAGE = Path("/usr/share/nginx/html/index.html")

# Tool -> Debian package providing it: everything start_lab() and Lab.capture() run.
REQUIRED_TOOLS: dict[str, str] = {
    "ip": "iproute2",
    "nmap": "nmap",
    "tcpdump": "tcpdump",
    "nginx": "nginx-light",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "slapd": "slapd",
    "slapadd": "slapd",
    "smbd": "samba",
    "exim4": "exim4-daemon-light",
    "openssl": "openssl",
}
TOOL_DIRECTORIES = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")

# Host offsets in the lab's subnet: offset -> (name, role, TCP ports). The names resolve inside
# the namespace only (/etc/netns/<netns>/hosts).
HOST_LAYOUT: dict[int, tuple[str, str, tuple[int, ...]]] = {
    9: ("web.mairie.test", "nginx", (80, 443)),
    10: ("ssh.mairie.test", "openssh", (22,)),
    11: ("ldap.mairie.test", "openldap", (389,)),
    12: ("files.mairie.test", "samba", (139, 445)),
    13: ("mx.mairie.test", "exim", (25,)),
    14: ("iis.mairie.test", "iis-emulated", (80,)),
    15: ("MAIL01.mairie.test", "exchange-emulated", (25,)),
    16: ("switch01.mairie.test", "cisco-ssh-emulated", (22,)),
}
DECOY_OFFSETS = (2, 3, 20, 21, 30)
DECOY_PORTS = (22, 80)
# Every TCP port the lab listens on (decoys included).
LAB_PORTS: tuple[int, ...] = tuple(
    sorted({port for _, _, ports in HOST_LAYOUT.values() for port in ports} | set(DECOY_PORTS))
)

EXCHANGE_HOSTNAME = "MAIL01.mairie.test"
CISCO_SSH_BANNER = b"SSH-2.0-Cisco-1.25\r\n"
DECOY_SSH_BANNER = b"SSH-2.0-TiebreakDecoy_1.0\r\n"
DECOY_SERVER = "tiebreak-decoy"
IIS_SERVER = "Microsoft-IIS/10.0"


T = TypeVar("T")


# --- What nmap 7.93 reports ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NmapService:
    """One port as nmap's XML output (-oX) describes it: <port>, <service> and <script>s."""

    address: str
    port: int
    protocol: str
    state: str
    name: str
    product: str = ""
    version: str = ""
    extrainfo: str = ""
    ostype: str = ""
    hostname: str = ""
    tunnel: str = ""
    cpes: tuple[str, ...] = ()
    scripts: tuple[tuple[str, str], ...] = ()  # (script id, output), sorted by id


# Recorded in the lab (Debian bookworm: nmap 7.93, nginx 1.22.1, OpenSSH 9.2p1, slapd 2.5.13,
# Samba 4.17.12, Exim 4.96), one run per port, as root:
#   nmap -n -sV --version-light -p <port> <address>
# and for the HTTP ports again with `--script http-title,http-server-header` (same service
# fields, plus the scripts' outputs, kept here). A single run over every port of every lab
# address, SYN (-sS, root's default) or connect (-sT), with or without the scripts, reports the
# same. Samba's "4.6.2" and OpenLDAP's "2.2.X - 2.3.X" are nmap's guesses (its probes'
# fingerprints), not the servers' versions; Exchange's match line has no version. Addresses are
# the default subnet's: expected_services(subnet) moves them.
EXPECTED_SERVICES: tuple[NmapService, ...] = (
    NmapService(
        address="127.70.0.9",
        port=80,
        protocol="tcp",
        state="open",
        name="http",
        product="nginx",
        version="1.22.1",
        cpes=("cpe:/a:igor_sysoev:nginx:1.22.1",),
        scripts=(("http-server-header", "nginx/1.22.1"), ("http-title", "Welcome to nginx!")),
    ),
    NmapService(
        address="127.70.0.9",
        port=443,
        protocol="tcp",
        state="open",
        name="http",
        product="nginx",
        version="1.22.1",
        tunnel="ssl",
        cpes=("cpe:/a:igor_sysoev:nginx:1.22.1",),
        scripts=(("http-server-header", "nginx/1.22.1"), ("http-title", "Welcome to nginx!")),
    ),
    NmapService(
        address="127.70.0.10",
        port=22,
        protocol="tcp",
        state="open",
        name="ssh",
        product="OpenSSH",
        version="9.2p1 Debian 2+deb12u10",  # Debian's revision: see VERSION_PATTERNS
        extrainfo="protocol 2.0",
        ostype="Linux",
        cpes=("cpe:/a:openbsd:openssh:9.2p1", "cpe:/o:linux:linux_kernel"),
    ),
    NmapService(
        address="127.70.0.11",
        port=389,
        protocol="tcp",
        state="open",
        name="ldap",
        product="OpenLDAP",
        version="2.2.X - 2.3.X",
        cpes=("cpe:/a:openldap:openldap",),
    ),
    NmapService(
        address="127.70.0.12",
        port=139,
        protocol="tcp",
        state="open",
        name="netbios-ssn",
        product="Samba smbd",
        version="4.6.2",
        cpes=("cpe:/a:samba:samba:4.6.2",),
    ),
    NmapService(
        address="127.70.0.12",
        port=445,
        protocol="tcp",
        state="open",
        name="netbios-ssn",
        product="Samba smbd",
        version="4.6.2",
        cpes=("cpe:/a:samba:samba:4.6.2",),
    ),
    NmapService(
        address="127.70.0.13",
        port=25,
        protocol="tcp",
        state="open",
        name="smtp",
        product="Exim smtpd",
        version="4.96",
        hostname="mx.mairie.test",
        cpes=("cpe:/a:exim:exim:4.96",),
    ),
    NmapService(
        address="127.70.0.14",
        port=80,
        protocol="tcp",
        state="open",
        name="http",
        product="Microsoft IIS httpd",
        version="10.0",
        ostype="Windows",
        cpes=("cpe:/a:microsoft:internet_information_services:10.0", "cpe:/o:microsoft:windows"),
        scripts=(
            ("http-server-header", "Microsoft-IIS/10.0"),
            ("http-title", "IIS Windows Server"),
        ),
    ),
    NmapService(
        address="127.70.0.15",
        port=25,
        protocol="tcp",
        state="open",
        name="smtp",
        product="Microsoft Exchange smtpd",
        ostype="Windows",
        hostname="MAIL01.mairie.test",
        cpes=("cpe:/a:microsoft:exchange_server", "cpe:/o:microsoft:windows"),
    ),
    NmapService(
        address="127.70.0.16",
        port=22,
        protocol="tcp",
        state="open",
        name="ssh",
        product="Cisco SSH",
        version="1.25",
        extrainfo="protocol 2.0",
        ostype="IOS",
        cpes=("cpe:/a:cisco:ssh:1.25", "cpe:/o:cisco:ios"),
    ),
)
# Versions that follow Debian's security updates rather than the lab: product -> the pattern
# the reported version must match (differences() compares the other fields exactly).
VERSION_PATTERNS: dict[str, str] = {"OpenSSH": r"9\.2p1 Debian 2\+deb12u\d+"}
HTTP_SCRIPTS = "http-title,http-server-header"


def expected_services(subnet: str = DEFAULT_SUBNET) -> tuple[NmapService, ...]:
    """EXPECTED_SERVICES with the addresses moved to `subnet` (same host offsets)."""
    default = ipaddress.IPv4Network(DEFAULT_SUBNET)
    target = ipaddress.IPv4Network(subnet)
    moved = []
    for service in EXPECTED_SERVICES:
        offset = int(ipaddress.IPv4Address(service.address)) - int(default.network_address)
        address = str(target.network_address + offset)
        moved.append(dataclasses.replace(service, address=address))
    return tuple(moved)


def differences(expected: Sequence[NmapService], actual: Sequence[NmapService]) -> list[str]:
    """What differs between two lists of services (matched by address, protocol and port):
    missing and unexpected ports, and each differing field. Empty when they agree."""
    by_key = {(s.address, s.protocol, s.port): s for s in actual}
    found = []
    for want in expected:
        key = (want.address, want.protocol, want.port)
        got = by_key.pop(key, None)
        if got is None:
            found.append(f"{want.address}:{want.port}/{want.protocol}: not reported")
            continue
        for name in (f.name for f in dataclasses.fields(NmapService)):
            wanted, seen = getattr(want, name), getattr(got, name)
            pattern = VERSION_PATTERNS.get(want.product) if name == "version" else None
            same = re.fullmatch(pattern, seen) is not None if pattern else wanted == seen
            if not same:
                found.append(
                    f"{want.address}:{want.port}/{want.protocol} {name}: {seen!r}, "
                    f"expected {wanted!r}"
                )
    found += [f"{a}:{p}/{proto}: unexpected ({s.name})" for (a, proto, p), s in by_key.items()]
    return found


def parse_nmap_xml(text: str, *, open_only: bool = True) -> list[NmapService]:
    """Every port of nmap's XML report (`-oX -`), open ones only by default."""
    root = ElementTree.fromstring(text)
    services = []
    for host in root.iter("host"):
        address_element = host.find("address[@addrtype='ipv4']")
        if address_element is None:
            address_element = host.find("address")
        address = address_element.get("addr", "") if address_element is not None else ""
        for port in host.iter("port"):
            state_element = port.find("state")
            state = state_element.get("state", "") if state_element is not None else ""
            if open_only and state != "open":
                continue
            service = port.find("service")
            attributes = service.attrib if service is not None else {}
            cpes = tuple(c.text or "" for c in service.iter("cpe")) if service is not None else ()
            scripts = tuple(
                sorted((s.get("id", ""), s.get("output", "")) for s in port.iter("script"))
            )
            services.append(
                NmapService(
                    address=address,
                    port=int(port.get("portid", "0")),
                    protocol=port.get("protocol", ""),
                    state=state,
                    name=attributes.get("name", ""),
                    product=attributes.get("product", ""),
                    version=attributes.get("version", ""),
                    extrainfo=attributes.get("extrainfo", ""),
                    ostype=attributes.get("ostype", ""),
                    hostname=attributes.get("hostname", ""),
                    tunnel=attributes.get("tunnel", ""),
                    cpes=cpes,
                    scripts=scripts,
                )
            )
    return services


# --- Captures --------------------------------------------------------------------------------

PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", False),  # microseconds, little-endian
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", True),
}
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = (0x8100, 0x88A8)


@dataclass(frozen=True, slots=True)
class PcapPacket:
    """One packet of a capture: its link type and the bytes from the network layer on."""

    timestamp: float
    linktype: int
    ethertype: int | None  # None when the link type carries IP only (raw IP)
    network: bytes


def read_pcap(path: Path) -> tuple[int, list[PcapPacket]]:
    """(link type, packets) of a classic pcap file, as `tcpdump -w` writes it (not pcapng)."""
    data = path.read_bytes()
    if len(data) < 24:
        raise ValueError(f"{path}: {len(data)} bytes, shorter than a pcap header")
    if data[:4] not in PCAP_MAGIC:
        raise ValueError(f"{path}: not a pcap file (magic {data[:4].hex()}; pcapng is not read)")
    order, nanoseconds = PCAP_MAGIC[data[:4]]
    linktype = struct.unpack_from(f"{order}I", data, 20)[0] & 0x0FFFFFFF
    packets = []
    offset = 24
    divisor = 1e9 if nanoseconds else 1e6
    while offset + 16 <= len(data):
        seconds, fraction, captured, _original = struct.unpack_from(f"{order}IIII", data, offset)
        offset += 16
        frame = data[offset : offset + captured]
        offset += captured
        ethertype, network = _network_layer(linktype, frame)
        packets.append(PcapPacket(seconds + fraction / divisor, linktype, ethertype, network))
    return linktype, packets


def _network_layer(linktype: int, frame: bytes) -> tuple[int | None, bytes]:
    """(EtherType or None, bytes from the IP header on) of one frame of `linktype`."""
    if linktype == LINKTYPE_ETHERNET:
        ethertype, offset = struct.unpack_from("!H", frame, 12)[0], 14
        while ethertype in ETHERTYPE_VLAN and len(frame) >= offset + 4:
            ethertype, offset = struct.unpack_from("!H", frame, offset + 2)[0], offset + 4
        return ethertype, frame[offset:]
    if linktype == LINKTYPE_LINUX_SLL:
        return struct.unpack_from("!H", frame, 14)[0], frame[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        return struct.unpack_from("!H", frame, 0)[0], frame[20:]
    if linktype == LINKTYPE_NULL:
        family = struct.unpack_from("=I", frame, 0)[0]
        return (ETHERTYPE_IPV4 if family == socket.AF_INET else ETHERTYPE_IPV6), frame[4:]
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return None, frame
    raise ValueError(f"link type {linktype} is not handled")


def _destination(packet: PcapPacket) -> str:
    """The packet's destination IP address, or `ethertype:0x….` for a non-IP frame."""
    network = packet.network
    version = network[0] >> 4 if network else 0
    if packet.ethertype in (ETHERTYPE_IPV4, None) and version == 4 and len(network) >= 20:
        return str(ipaddress.IPv4Address(network[16:20]))
    if packet.ethertype in (ETHERTYPE_IPV6, None) and version == 6 and len(network) >= 40:
        return str(ipaddress.IPv6Address(network[24:40]))
    return f"ethertype:0x{packet.ethertype or 0:04x}"


def destinations(pcap: Path) -> Counter[str]:
    """Destination IP address of every packet of a capture -> how many packets went there.

    Frames that carry no IP packet count under `ethertype:0x<type>`, so nothing goes unseen.
    """
    _, packets = read_pcap(pcap)
    return Counter(_destination(packet) for packet in packets)


@dataclass(slots=True)
class Capture:
    """A running (then finished) `tcpdump -i lo -w path` inside the lab's namespace."""

    path: Path
    process: subprocess.Popen[str]
    stderr_lines: list[str] = field(default_factory=list)
    captured: int | None = None  # tcpdump's counts at exit
    received: int | None = None
    dropped: int | None = None
    _reader: threading.Thread | None = None

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def destinations(self) -> Counter[str]:
        """destinations(self.path): read it once the capture is over."""
        return destinations(self.path)

    def linktype(self) -> int:
        return read_pcap(self.path)[0]

    def _settle(self, quiet_s: float = 0.2, deadline_s: float = 3.0) -> None:
        """Wait until the file has not grown for `quiet_s`: tcpdump has written what it read."""
        deadline = time.monotonic() + deadline_s
        size = -1
        while time.monotonic() < deadline:
            current = self.path.stat().st_size if self.path.exists() else 0
            if current == size:
                return
            size = current
            time.sleep(quiet_s)

    def stop(self) -> None:
        """SIGINT (tcpdump writes its counts and exits), then wait; kill if it lingers."""
        if self.process.poll() is None:
            self._settle()
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        for name in ("captured", "received", "dropped"):
            pattern = {
                "captured": r"(\d+) packets? captured",
                "received": r"(\d+) packets? received by filter",
                "dropped": r"(\d+) packets? dropped by kernel",
            }[name]
            match = re.search(pattern, self.stderr)
            setattr(self, name, int(match.group(1)) if match else None)


# --- The lab ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabHost:
    """One address of the lab: its name (inside the namespace), role and TCP ports."""

    address: str
    name: str
    role: str
    ports: tuple[int, ...]

    @property
    def decoy(self) -> bool:
        return self.role == "decoy"


@dataclass(slots=True)
class Lab:
    """The running lab: namespace `netns`, its hosts (address -> LabHost) and processes."""

    netns: str
    workdir: Path
    subnet: str
    hosts: dict[str, LabHost]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    shared_source: bool = True  # see start_lab()
    etc_netns: Path | None = None  # /etc/netns/<netns>, when created
    _executor: ThreadPoolExecutor | None = field(default=None, repr=False)

    @property
    def nmap_wrapper(self) -> Path:
        """An executable `nmap` that runs /usr/bin/nmap inside the namespace (for python-nmap:
        `nmap.PortScanner(nmap_search_path=(str(lab.nmap_wrapper),))`, or put its directory
        first in PATH)."""
        return self.workdir / "bin" / "nmap"

    @property
    def services(self) -> dict[str, LabHost]:
        """The hosts that are not decoys."""
        return {address: host for address, host in self.hosts.items() if not host.decoy}

    @property
    def decoys(self) -> dict[str, LabHost]:
        return {address: host for address, host in self.hosts.items() if host.decoy}

    def address(self, role: str) -> str:
        """The address of the (first) host with `role` (e.g. "nginx", "exchange-emulated")."""
        for address, host in self.hosts.items():
            if host.role == role:
                return address
        raise KeyError(role)

    def log(self, name: str) -> Path:
        """The standard output and error of process `name` (see Lab.processes)."""
        return self.workdir / "logs" / f"{name}.log"

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 120,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside the namespace (`env` is added to this process's environment)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *argv],
            input=stdin,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """subprocess.Popen of `argv` inside the namespace (`ip netns exec` execs `argv`: the
        Popen's pid is the program's own)."""
        return subprocess.Popen(["ip", "netns", "exec", self.netns, *argv], **kwargs)

    def nmap(
        self, *args: str, timeout: float = 300
    ) -> tuple[subprocess.CompletedProcess[str], list[NmapService]]:
        """`nmap -n -oX - <args>` inside the namespace: the run and its open ports."""
        result = self.run([NMAP, "-n", "-oX", "-", *args], timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"nmap {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result, parse_nmap_xml(result.stdout)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Call `function(*args)` in a thread that has joined the namespace: sockets it creates
        live in the namespace (and keep working from any thread afterwards)."""
        if self._executor is None:
            raise RuntimeError("the lab is stopped")
        return self._executor.submit(function, *args).result()

    def connect(self, address: str, port: int, timeout: float = 5.0) -> socket.socket:
        """A TCP connection to address:port made inside the namespace."""
        return self.call(socket.create_connection, (address, port), timeout)

    def pids(self) -> list[int]:
        """Every process living in the namespace."""
        return _namespace_pids(self.netns)

    @contextlib.contextmanager
    def capture(
        self,
        path: Path,
        *,
        snaplen: int = 2048,
        buffer_kib: int = 65536,
        ready_timeout: float = 10.0,
    ) -> Iterator[Capture]:
        """`tcpdump -i lo -n -U --immediate-mode -w path` inside the namespace, capturing when
        the block starts (tcpdump said "listening on"), stopped (SIGINT) when it ends.

        Immediate mode hands each packet over at once (else the last second of packets would be
        lost at SIGINT), but then each ring slot is `snaplen` bytes: with tcpdump's defaults
        (262,144 bytes, 2 MiB) a SYN scan's burst overflows it. Capture.dropped tells."""
        path.parent.mkdir(parents=True, exist_ok=True)
        argv = ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-s", str(snaplen)]
        # -Z root: Debian's tcpdump would otherwise write the file as user tcpdump.
        argv += ["-B", str(buffer_kib), "-Z", "root", "-w", str(path)]
        process: subprocess.Popen[str] = self.popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=tiebreak_netns.die_with_parent,
        )
        capture = Capture(path=path, process=process)
        listening = threading.Event()

        def read_stderr() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                capture.stderr_lines.append(line)
                if "listening on" in line:
                    listening.set()
            listening.set()  # tcpdump exited: stop waiting

        capture._reader = threading.Thread(target=read_stderr, daemon=True)
        capture._reader.start()
        try:
            if not listening.wait(ready_timeout) or process.poll() is not None:
                raise RuntimeError(f"tcpdump did not start capturing: {capture.stderr[-2000:]}")
            yield capture
        finally:
            capture.stop()

    def stop(self) -> None:
        """Stop every process (TERM, then KILL), delete the namespace and /etc/netns/<netns>."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
        deadline = time.monotonic() + 5
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        _remove_namespace(self.netns)
        for process in self.processes.values():  # reap what the namespace sweep killed
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


# --- Namespace -------------------------------------------------------------------------------


def _create_namespace(lab: Lab) -> None:
    subprocess.run(["ip", "netns", "add", lab.netns], check=True, capture_output=True)
    etc = Path("/etc/netns") / lab.netns
    etc.mkdir(parents=True, exist_ok=True)
    lab.etc_netns = etc
    names = "".join(f"{address}\t{host.name}\n" for address, host in lab.services.items())
    (etc / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n{names}")
    # Nothing answers DNS inside the namespace: lookups fail at once, and stay inside.
    (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    commands = [["ip", "link", "set", "lo", "up"]]
    for address in lab.hosts:
        commands.append(["ip", "address", "add", f"{address}/32", "dev", "lo"])
        if lab.shared_source:
            # The /32's local route says `src <address>`: make it 127.0.0.1, like the rest of
            # 127.0.0.0/8, so that the scanner has one source address for every lab host.
            commands.append(
                ["ip", "route", "replace", "local", address, "dev", "lo", "table", "local",
                 "proto", "kernel", "scope", "host", "src", SCANNER_SOURCE]
            )  # fmt: skip
    batch = "".join(" ".join(command[1:]) + "\n" for command in commands)
    result = lab.run(["ip", "-batch", "-"], stdin=batch, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"configuring lo in {lab.netns} failed: {result.stderr}")
    lab._executor = ThreadPoolExecutor(
        max_workers=1, initializer=tiebreak_netns.joiner(Path("/run/netns") / lab.netns)
    )


# --- Daemons ---------------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for directory in TOOL_DIRECTORIES:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    raise FileNotFoundError(f"{name} missing: apt-get install {REQUIRED_TOOLS.get(name, name)}")


def missing_tools() -> list[str]:
    """`tool (apt-get install package)` for every tool of REQUIRED_TOOLS that is missing."""
    missing = []
    for tool, package in REQUIRED_TOOLS.items():
        try:
            _tool(tool)
        except FileNotFoundError:
            missing.append(f"{tool} (apt-get install {package})")
    return missing


def _checked(argv: Sequence[str | Path], what: str) -> None:
    result = subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr[-2000:]}")


def _spawn(lab: Lab, name: str, argv: Sequence[str | Path]) -> None:
    """Start `argv` inside the namespace; its output goes to lab.log(name)."""
    log_path = lab.log(name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        lab.processes[name] = subprocess.Popen(
            ["ip", "netns", "exec", lab.netns, *(str(arg) for arg in argv)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=tiebreak_netns.die_with_parent,  # only prctl(): safe enough after fork
        )


def _write_nginx(lab: Lab, address: str) -> list[str | Path]:
    directory = lab.workdir / "nginx"
    html = directory / "html"
    html.mkdir(parents=True, exist_ok=True)
    page = NGINX_DEFAULT_PAGE.read_text() if NGINX_DEFAULT_PAGE.exists() else _NGINX_PAGE
    (html / "index.html").write_text(page)
    key, certificate = directory / "server.key", directory / "server.crt"
    _checked(
        [
            _tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj",
            f"/CN={lab.hosts[address].name}", "-addext",
            f"subjectAltName=DNS:{lab.hosts[address].name},IP:{address}",
            "-keyout", key, "-out", certificate,
        ],
        "openssl req (nginx certificate)",
    )  # fmt: skip
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = directory / "nginx.conf"
    config.write_text(
        f"""# Generated by tests/network/lab.py
daemon off;
master_process on;
worker_processes 1;
# Workers as root: the work directory sits below pytest's mode-0700 base directory.
user root root;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} notice;
events {{
    worker_connections 256;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {directory / "access.log"};
{temp}
    server {{
        listen {address}:80 default_server;
        listen {address}:443 ssl default_server;
        server_name {lab.hosts[address].name};
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        root {html};
        index index.html;
    }}
}}
"""
    )
    return [
        _tool("nginx"), "-p", directory, "-c", config, "-e", directory / "error.log",
    ]  # fmt: skip


def _write_sshd(lab: Lab, address: str) -> list[str | Path]:
    directory = lab.workdir / "sshd"
    directory.mkdir(parents=True, exist_ok=True)
    host_key = directory / "ssh_host_ed25519_key"
    _checked(
        [_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "lab", "-f", host_key],
        "ssh-keygen (sshd host key)",
    )
    SSHD_PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    config = directory / "sshd_config"
    config.write_text(
        f"""# Generated by tests/network/lab.py
ListenAddress {address}
Port 22
HostKey {host_key}
PidFile {directory / "sshd.pid"}
UsePAM no
UseDNS no
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication no
AuthorizedKeysFile none
PrintMotd no
"""
    )
    return [SSHD, "-D", "-e", "-f", config, "-h", host_key]


def _write_slapd(lab: Lab, address: str) -> list[str | Path]:
    slapd_server = _slapd_server()
    directory = lab.workdir / "slapd"
    directory.mkdir(parents=True, exist_ok=True)
    config = slapd_server.write_config(directory, secrets.token_urlsafe(18), None)
    slapd_server.populate(config, secrets.token_urlsafe(18))
    return [str(slapd_server.SLAPD), "-d", "none", "-f", config, "-h", f"ldap://{address}/"]


def _slapd_server() -> Any:
    """tests/directory/slapd_server.py, shared with the directory tests (imports ldap3)."""
    name = "tiebreak_test_slapd_server"
    if name in sys.modules:
        return sys.modules[name]
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "directory" / "slapd_server.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _write_smbd(lab: Lab, address: str) -> list[str | Path]:
    directory = lab.workdir / "samba"
    share = directory / "share"
    for sub in ("private", "lock", "state", "cache", "run", "log", "run/ncalrpc"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    share.mkdir(exist_ok=True)
    (share / "LISEZMOI.txt").write_text("Partage de test du laboratoire réseau de tiebreak.\n")
    config = directory / "smb.conf"
    config.write_text(
        f"""# Generated by tests/network/lab.py
[global]
\tnetbios name = FILES01
\tworkgroup = MAIRIE
\tserver string = Serveur de fichiers
\tserver role = standalone server
\tinterfaces = {address}
\tbind interfaces only = yes
\tsmb ports = 445 139
\tprivate dir = {directory / "private"}
\tlock directory = {directory / "lock"}
\tstate directory = {directory / "state"}
\tcache directory = {directory / "cache"}
\tpid directory = {directory / "run"}
\tncalrpc dir = {directory / "run" / "ncalrpc"}
\tpassdb backend = tdbsam:{directory / "private" / "passdb.tdb"}
\tlog file = {directory / "log" / "log.%m"}
\tlog level = 1
\tmap to guest = Bad User
\tload printers = no
\tprinting = bsd
\tprintcap name = /dev/null
\tdisable spoolss = yes
\tdns proxy = no

[public]
\tpath = {share}
\tread only = yes
\tguest ok = yes
"""
    )
    return [_tool("smbd"), "-F", "--debug-stdout", "-s", config]


def _write_exim(lab: Lab, address: str) -> list[str | Path]:
    directory = lab.workdir / "exim"
    for sub in ("spool", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    config = directory / "exim.conf"
    config.write_text(
        f"""# Generated by tests/network/lab.py: greets, refuses every recipient, delivers nothing.
primary_hostname = {lab.hosts[address].name}
# root: the spool and logs sit below pytest's mode-0700 base directory, where Debian-exim
# cannot go (Debian's exim4 only forbids root as a delivery user: never_users = 0).
exim_user = root
exim_group = root
keep_environment =
local_interfaces = {address}
daemon_smtp_ports = 25
spool_directory = {directory / "spool"}
log_file_path = {directory / "log"}/%slog
pid_file_path = {directory / "exim.pid"}
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
acl_smtp_rcpt = refuse_all

begin acl
refuse_all:
  deny message = relay not permitted

begin routers

begin transports
"""
    )
    return [_tool("exim4"), "-bdf", "-q30m", "-C", config]  # -bdf: in the foreground


def _python_server(lab: Lab, role: str, addresses: Sequence[str]) -> list[str | Path]:
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    return [python, "-I", "-B", Path(__file__).resolve(), "serve", role, *addresses]


def _wait_ready(lab: Lab, endpoints: dict[str, list[tuple[str, int]]], deadline_s: float) -> None:
    """Wait until every process's endpoints accept TCP connections inside the namespace."""
    deadline = time.monotonic() + deadline_s
    pending = {name: list(points) for name, points in endpoints.items()}

    def accepts(address: str, port: int) -> bool:
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return True
        except OSError:
            return False

    while pending:
        for name in list(pending):
            process = lab.processes[name]
            if process.poll() is not None:
                log = lab.log(name).read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited ({process.returncode}): {log}")
            pending[name] = [p for p in pending[name] if not lab.call(accepts, *p)]
            if not pending[name]:
                lab.timings[f"ready:{name}"] = time.monotonic() - lab.timings["_started"]
                del pending[name]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not listening after {deadline_s} s: {pending} (see {lab.workdir})")
        time.sleep(0.05)


def _host_address(network: ipaddress.IPv4Network, offset: int) -> str:
    return str(network.network_address + offset)


def start_lab(
    workdir: Path,
    *,
    subnet: str = DEFAULT_SUBNET,
    decoys: bool = True,
    shared_source: bool = True,
    ready_timeout: float = 30.0,
) -> Lab:
    """Start the lab in a new namespace (see the module's docstring); on failure, clean all.

    `subnet` must lie in 127.0.0.0/8 and hold offsets up to 30 (a /27 or larger). `decoys`:
    start the decoy listeners. `shared_source`: every lab address is reached from SCANNER_SOURCE
    (127.0.0.1), as hosts of a LAN are from a scanner's one address; False keeps the kernel's
    default for an assigned address (itself as the source), which makes nmap (as root) put each
    lab host in a host group of its own and scan them one after the other. Call it from a
    thread that outlives the lab: the daemons get SIGKILL when the starting thread exits.
    """
    network = ipaddress.IPv4Network(subnet)
    if not network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
        raise ValueError(f"{subnet}: the lab lives in 127.0.0.0/8 only")
    if network.num_addresses < 32:
        raise ValueError(f"{subnet}: too small, the lab uses offsets up to 30")
    missing = missing_tools()
    if missing:
        raise FileNotFoundError(f"missing: {', '.join(missing)}")
    remove_stale_namespaces()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    hosts = {
        _host_address(network, offset): LabHost(_host_address(network, offset), *layout)
        for offset, layout in HOST_LAYOUT.items()
    }
    if decoys:
        for offset in DECOY_OFFSETS:
            address = _host_address(network, offset)
            hosts[address] = LabHost(address, f"decoy{offset}.mairie.test", "decoy", DECOY_PORTS)
    hosts = dict(sorted(hosts.items(), key=lambda item: ipaddress.IPv4Address(item[0])))
    lab = Lab(
        netns=_namespace_name(),
        workdir=workdir,
        subnet=str(network),
        hosts=hosts,
        shared_source=shared_source,
    )
    lab.timings["_started"] = started
    try:
        _create_namespace(lab)
        wrapper = lab.nmap_wrapper
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(f'#!/bin/sh\nexec {_tool("ip")} netns exec {lab.netns} {NMAP} "$@"\n')
        wrapper.chmod(0o755)
        lab.timings["namespace"] = time.monotonic() - started
        writers = {
            "nginx": _write_nginx,
            "openssh": _write_sshd,
            "openldap": _write_slapd,
            "samba": _write_smbd,
            "exim": _write_exim,
        }
        endpoints: dict[str, list[tuple[str, int]]] = {}
        for address, host in lab.hosts.items():
            if host.decoy:
                continue
            if host.role in writers:
                argv = writers[host.role](lab, address)
            else:
                argv = _python_server(lab, host.role, [address])
            _spawn(lab, host.role, argv)
            endpoints[host.role] = [(address, port) for port in host.ports]
        if lab.decoys:
            _spawn(lab, "decoys", _python_server(lab, "decoy", list(lab.decoys)))
            endpoints["decoys"] = [
                (address, port) for address, host in lab.decoys.items() for port in host.ports
            ]
        lab.timings["configure"] = time.monotonic() - started - lab.timings["namespace"]
        _wait_ready(lab, endpoints, ready_timeout)
    except BaseException:
        lab.stop()
        raise
    lab.timings["total"] = time.monotonic() - started
    del lab.timings["_started"]
    return lab


_NGINX_PAGE = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------------
# Below: the emulated servers, run as `python3 lab.py serve <role> <address>...` inside the
# namespace. Standard library only.

IIS_PAGE = b"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" \
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1" />
<title>IIS Windows Server</title>
<style type="text/css">
<!--
body {
\tcolor:#000000;
\tbackground-color:#0072C6;
\tmargin:0;
}

#container {
\tmargin-left:auto;
\tmargin-right:auto;
\ttext-align:center;
\t}

a img {
\tborder:none;
}

-->
</style>
</head>
<body>
<div id="container">
<a href="http://go.microsoft.com/fwlink/?linkid=66138&amp;clcid=0x409"><img src="iisstart.png" \
alt="IIS" width="960" height="600" /></a>
</div>
</body>
</html>"""
IIS_NOT_FOUND = b"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" \
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>404 - File or directory not found.</title>
</head>
<body>
<div id="header"><h1>Server Error</h1></div>
<div id="content">
 <div class="content-container"><fieldset>
  <h2>404 - File or directory not found.</h2>
  <h3>The resource you are looking for might have been removed, had its name changed, or is \
temporarily unavailable.</h3>
 </fieldset></div>
</div>
</body>
</html>
"""
IIS_LAST_MODIFIED = "Sat, 15 Jun 2024 09:12:40 GMT"
IIS_ETAG = '"8e5b2a9c0bfda1:0"'


class _IISHandler(http.server.BaseHTTPRequestHandler):
    """Microsoft IIS 10's answers to GET/HEAD/OPTIONS (the default site: iisstart.htm)."""

    protocol_version = "HTTP/1.1"
    server_version = IIS_SERVER

    def version_string(self) -> str:
        return IIS_SERVER  # no " Python/3.x"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/iisstart.htm"):
            status, content, extra = 200, IIS_PAGE, True
        else:
            status, content, extra = 404, IIS_NOT_FOUND, False
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        if extra:
            self.send_header("Last-Modified", IIS_LAST_MODIFIED)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", IIS_ETAG)
        self.send_header("X-Powered-By", "ASP.NET")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if body:
            self.wfile.write(content)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_POST(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD, OPTIONS, TRACE")
        self.send_header("Content-Type", "text/html")
        self.send_header("X-Powered-By", "ASP.NET")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_OPTIONS(self) -> None:
        self.send_response(200)
        self.send_header("Allow", "OPTIONS, TRACE, GET, HEAD, POST")
        self.send_header("Public", "OPTIONS, TRACE, GET, HEAD, POST")
        self.send_header("X-Powered-By", "ASP.NET")
        self.send_header("Content-Length", "0")
        self.end_headers()


class _ExchangeSMTPHandler(socketserver.StreamRequestHandler):
    """Microsoft Exchange 2016/2019's front-end SMTP: greeting, EHLO/HELO, refusals, QUIT."""

    timeout = 300

    def _send(self, text: str) -> None:
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        client = self.client_address[0]
        now = email.utils.formatdate(localtime=True)
        self._send(f"220 {EXCHANGE_HOSTNAME} Microsoft ESMTP MAIL Service ready at {now}")
        greeted = False
        while True:
            try:
                line = self.rfile.readline(4096)
            except OSError:
                return
            if not line:
                return
            command = line.decode("latin-1").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                greeted = True
                extensions = (
                    "SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "AUTH NTLM",
                    "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8",
                )  # fmt: skip
                lines = [f"{EXCHANGE_HOSTNAME} Hello [{client}]", *extensions]
                reply = "\r\n".join(f"250-{text}" for text in lines[:-1])
                self._send(f"{reply}\r\n250 {lines[-1]}")
            elif verb == "HELO":
                greeted = True
                self._send(f"250 {EXCHANGE_HOSTNAME} Hello [{client}]")
            elif verb == "MAIL":
                self._send("250 2.1.0 Sender OK" if greeted else "503 5.5.2 Send hello first")
            elif verb == "RCPT":
                self._send("550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain")
            elif verb in ("DATA", "BDAT"):
                self._send("503 5.5.1 Need rcpt command")
            elif verb == "RSET":
                self._send("250 2.0.0 Resetting")
            elif verb == "NOOP":
                self._send("250 2.0.0 OK")
            elif verb == "STARTTLS":
                self._send("454 4.7.0 TLS not available due to temporary reason")
            elif verb == "QUIT":
                self._send("221 2.0.0 Service closing transmission channel")
                return
            else:
                self._send(f"500 5.3.3 Unrecognized command '{verb or 'unknown'}'")


def _ssh_packet(payload: bytes) -> bytes:
    """An unencrypted SSH binary packet (RFC 4253 section 6), block size 8."""
    padding = 8 - (len(payload) + 5) % 8
    if padding < 4:
        padding += 8
    return struct.pack("!IB", len(payload) + padding + 1, padding) + payload + bytes(padding)


def _name_list(*names: str) -> bytes:
    text = ",".join(names).encode("ascii")
    return struct.pack("!I", len(text)) + text


def cisco_kexinit() -> bytes:
    """SSH_MSG_KEXINIT with the algorithms of Cisco IOS 15's SSH server."""
    ciphers = _name_list(
        "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-cbc", "3des-cbc", "aes192-cbc",
        "aes256-cbc",
    )  # fmt: skip
    macs = _name_list("hmac-sha1", "hmac-sha1-96")
    payload = (
        bytes([20])
        + secrets.token_bytes(16)
        + _name_list(
            "diffie-hellman-group-exchange-sha1",
            "diffie-hellman-group14-sha1",
            "diffie-hellman-group1-sha1",
        )
        + _name_list("ssh-rsa")
        + ciphers
        + ciphers
        + macs
        + macs
        + _name_list("none")
        + _name_list("none")
        + _name_list()
        + _name_list()
        + b"\x00"
        + struct.pack("!I", 0)
    )
    return _ssh_packet(payload)


class _CiscoSSHHandler(socketserver.BaseRequestHandler):
    """Cisco IOS's SSH server up to the key exchange: banner, then KEXINIT, then it hangs up."""

    def handle(self) -> None:
        connection: socket.socket = self.request
        connection.settimeout(30)
        try:
            connection.sendall(CISCO_SSH_BANNER)
            received = b""
            while b"\n" not in received and len(received) < 255:
                chunk = connection.recv(255)
                if not chunk:
                    return
                received += chunk
            if not received.startswith(b"SSH-"):
                connection.sendall(b"Protocol mismatch.\n")
                return
            connection.sendall(cisco_kexinit())
            connection.recv(65536)  # the client's KEXINIT; no key exchange follows
        except OSError:
            return


class _DecoyHandler(socketserver.BaseRequestHandler):
    """A decoy: an SSH banner on 22, a small HTTP answer on anything else; named so on sight."""

    def handle(self) -> None:
        connection: socket.socket = self.request
        connection.settimeout(10)
        address, port = connection.getsockname()[:2]
        try:
            if port == 22:
                connection.sendall(DECOY_SSH_BANNER)
                connection.recv(1024)
                return
            connection.recv(4096)
            body = f"decoy {address}: a scan of the lab's scope must never reach it\n".encode()
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nServer: " + DECOY_SERVER.encode() + b"\r\n"
                b"Content-Type: text/plain\r\nConnection: close\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
        except OSError:
            return


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128  # nmap opens many connections at once


class _HTTPServer(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


SERVE_ROLES: dict[str, tuple[int, ...]] = {
    "iis-emulated": (80,),
    "exchange-emulated": (25,),
    "cisco-ssh-emulated": (22,),
    "decoy": DECOY_PORTS,
}


def serve(role: str, addresses: Sequence[str]) -> None:  # pragma: no cover
    """Run the emulated servers of `role` on each address (one thread per listening socket)."""
    servers: list[socketserver.BaseServer] = []
    for address in addresses:
        for port in SERVE_ROLES[role]:
            if role == "iis-emulated":
                servers.append(_HTTPServer((address, port), _IISHandler))
            elif role == "exchange-emulated":
                servers.append(_TCPServer((address, port), _ExchangeSMTPHandler))
            elif role == "cisco-ssh-emulated":
                servers.append(_TCPServer((address, port), _CiscoSSHHandler))
            else:
                servers.append(_TCPServer((address, port), _DecoyHandler))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"serving {role} on {', '.join(addresses)}", flush=True)
    stop.wait()  # then exit: the serving threads are daemons, the kernel closes the sockets


def _main(argv: list[str], stream: IO[str]) -> int:  # pragma: no cover
    if len(argv) >= 3 and argv[0] == "serve" and argv[1] in SERVE_ROLES:
        serve(argv[1], argv[2:])
        return 0
    stream.write(f"usage: lab.py serve {{{','.join(SERVE_ROLES)}}} ADDRESS...\n")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main(sys.argv[1:], sys.stderr))


def _namespace_name() -> str:
    return tiebreak_netns.free_name(NAMESPACE_PREFIX)


def remove_stale_namespaces() -> list[str]:
    """Delete the namespaces of fixtures whose pytest process died (SIGKILL, crash)."""
    return tiebreak_netns.remove_stale_namespaces(NAMESPACE_PREFIX)
