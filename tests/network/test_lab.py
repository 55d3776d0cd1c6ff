"""The network lab works: every service answers nmap as recorded, captures see every packet's
destination, and stop() leaves nothing behind.

Every client runs inside the lab's namespace (`Lab.run`, `Lab.nmap`, `Lab.connect`). The pcap
reader's tests at the end use synthetic files and need neither root nor the lab.
"""

from __future__ import annotations

import ipaddress
import os
import struct
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

network_lab = sys.modules["tiebreak_test_network_lab"]
Lab = network_lab.Lab
NmapService = network_lab.NmapService
LabFactory = Any

PORTS = ",".join(str(port) for port in network_lab.LAB_PORTS)


def _scope(lab: Lab) -> ipaddress.IPv4Network:
    """The /29 at offset 8 of the lab's subnet: .8-.15, between the decoys .3 and .20."""
    network = ipaddress.IPv4Network(lab.subnet)
    return ipaddress.IPv4Network(f"{network.network_address + 8}/29")


def _read_all(connection: Any, limit: int = 1 << 20) -> bytes:
    data = b""
    while len(data) < limit:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _read_line(connection: Any) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def _smtp_reply(connection: Any) -> list[bytes]:
    """The lines of one SMTP reply (until `NNN ` rather than `NNN-`)."""
    lines = []
    while True:
        line = _read_line(connection)
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            return lines


# --- Services --------------------------------------------------------------------------------


@pytest.mark.root
@pytest.mark.service
@pytest.mark.slow
def test_each_service_answers_as_recorded(lab: Lab) -> None:
    """The recorded command, one port at a time (run side by side): EXPECTED_SERVICES holds."""
    expected = network_lab.expected_services(lab.subnet)

    def scan(service: Any) -> list[Any]:
        args = ["-sV", "--version-light", "-p", str(service.port), service.address]
        if service.name == "http":
            args += ["--script", network_lab.HTTP_SCRIPTS]
        return list(lab.nmap(*args)[1])

    with ThreadPoolExecutor(max_workers=len(expected)) as pool:
        results = list(pool.map(scan, expected))
    problems = [
        problem
        for service, found in zip(expected, results, strict=True)
        for problem in network_lab.differences([service], found)
    ]
    assert problems == []


@pytest.mark.root
@pytest.mark.service
@pytest.mark.slow
def test_one_scan_of_every_port_reports_the_same(lab: Lab) -> None:
    """One nmap over every lab port of the service addresses (.9-.16): the same ten services,
    and nothing else open there."""
    ordered = sorted(lab.services, key=ipaddress.IPv4Address)
    target = f"{ordered[0]}-{ordered[-1].rsplit('.', 1)[1]}"
    _, found = lab.nmap(
        "-sV", "--version-light", "--script", network_lab.HTTP_SCRIPTS, "-p", PORTS, target
    )
    assert network_lab.differences(network_lab.expected_services(lab.subnet), found) == []


@pytest.mark.root
@pytest.mark.service
def test_each_daemon_listens_on_its_own_address_only(lab: Lab) -> None:
    tcp = lab.run(["ss", "-ltnH"])
    udp = lab.run(["ss", "-lunH"])
    assert tcp.returncode == 0 and udp.returncode == 0, tcp.stderr + udp.stderr
    listening = set()
    for line in tcp.stdout.splitlines():
        address, port = line.split()[3].rsplit(":", 1)
        listening.add((address, int(port)))
    expected = {(address, port) for address, host in lab.hosts.items() for port in host.ports}
    assert listening == expected
    assert udp.stdout.strip() == ""


@pytest.mark.root
@pytest.mark.service
def test_emulated_iis(lab: Lab) -> None:
    address = lab.address("iis-emulated")
    with lab.connect(address, 80) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: iis.mairie.test\r\nConnection: close\r\n\r\n")
        response = _read_all(connection)
    head, body = response.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert lines[0] == "HTTP/1.1 200 OK"
    assert headers["Server"] == "Microsoft-IIS/10.0"
    assert headers["X-Powered-By"] == "ASP.NET"
    assert int(headers["Content-Length"]) == len(body)
    assert b"<title>IIS Windows Server</title>" in body


@pytest.mark.root
@pytest.mark.service
def test_emulated_exchange_smtp(lab: Lab) -> None:
    address = lab.address("exchange-emulated")
    with lab.connect(address, 25) as connection:
        greeting = _smtp_reply(connection)
        connection.sendall(b"EHLO scanner.mairie.test\r\n")
        ehlo = _smtp_reply(connection)
        connection.sendall(b"RCPT TO:<someone@example.org>\r\n")
        rcpt = _smtp_reply(connection)
        connection.sendall(b"QUIT\r\n")
        quit_reply = _smtp_reply(connection)
        assert connection.recv(1) == b""  # closed after QUIT
    # nmap's match line for Exchange's smtpd (nmap-service-probes).
    assert len(greeting) == 1
    assert greeting[0].startswith(b"220 MAIL01.mairie.test Microsoft ESMTP MAIL Service ready at ")
    assert ehlo[0] == f"250-MAIL01.mairie.test Hello [{network_lab.SCANNER_SOURCE}]\r\n".encode()
    assert b"250-ENHANCEDSTATUSCODES\r\n" in ehlo and ehlo[-1] == b"250 SMTPUTF8\r\n"
    assert rcpt[0].startswith(b"550 5.7.54 ")
    assert quit_reply == [b"221 2.0.0 Service closing transmission channel\r\n"]


@pytest.mark.root
@pytest.mark.service
def test_emulated_cisco_ssh(lab: Lab) -> None:
    address = lab.address("cisco-ssh-emulated")
    with lab.connect(address, 22) as connection:
        banner = _read_line(connection)
        connection.sendall(b"SSH-2.0-OpenSSH_9.2p1 tiebreak-test\r\n")
        length = struct.unpack("!I", _read_exactly(connection, 4))[0]
        packet = _read_exactly(connection, length)
    assert banner == b"SSH-2.0-Cisco-1.25\r\n"
    padding, message = packet[0], packet[1]
    assert message == 20  # SSH_MSG_KEXINIT
    assert (length + 4) % 8 == 0 and padding >= 4
    assert b"diffie-hellman-group14-sha1" in packet and b"ssh-rsa" in packet


def _read_exactly(connection: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        assert chunk, f"closed after {len(data)} of {size} bytes"
        data += chunk
    return data


@pytest.mark.root
@pytest.mark.service
def test_decoys_answer(lab: Lab) -> None:
    for address in lab.decoys:
        with lab.connect(address, 22) as connection:
            assert _read_line(connection) == network_lab.DECOY_SSH_BANNER
        with lab.connect(address, 80) as connection:
            connection.sendall(b"GET / HTTP/1.0\r\n\r\n")
            response = _read_all(connection)
        assert f"Server: {network_lab.DECOY_SERVER}\r\n".encode() in response
        assert f"decoy {address}".encode() in response


@pytest.mark.root
@pytest.mark.service
def test_names_and_source_address_inside_the_namespace(lab: Lab) -> None:
    exchange = lab.address("exchange-emulated")
    hosts = lab.run(["getent", "hosts", "MAIL01.mairie.test"])
    assert hosts.stdout.split() == [exchange, "MAIL01.mairie.test"]
    route = lab.run(["ip", "route", "get", exchange])
    assert f" src {network_lab.SCANNER_SOURCE} " in route.stdout
    with lab.connect(exchange, 25) as connection:
        assert connection.getsockname()[0] == network_lab.SCANNER_SOURCE
    addresses = lab.run(["ip", "-4", "-o", "address", "show", "dev", "lo"]).stdout
    for address in lab.hosts:
        assert f" {address}/32 " in addresses


@pytest.mark.root
@pytest.mark.service
def test_nmap_wrapper_drives_python_nmap(lab: Lab) -> None:
    """The wrapper lets the probe's python-nmap scan the lab from outside the namespace."""
    import nmap

    scanner = nmap.PortScanner(nmap_search_path=(str(lab.nmap_wrapper),))
    address = lab.address("cisco-ssh-emulated")
    result = scanner.scan(address, "22", arguments="-n -sV --version-light")
    port = result["scan"][address]["tcp"][22]
    assert (port["state"], port["product"], port["version"]) == ("open", "Cisco SSH", "1.25")


# --- Captures --------------------------------------------------------------------------------


def _tcpdump_destinations(pcap: Path) -> Counter[str]:
    """The destinations as `tcpdump -r -n` prints them (`IP a.b.c.d.port > e.f.g.h.port: …`)."""
    result = subprocess.run(
        ["tcpdump", "-r", str(pcap), "-n"], capture_output=True, text=True, check=True
    )
    found: Counter[str] = Counter()
    for line in result.stdout.splitlines():
        fields = line.split()
        target = fields[fields.index(">") + 1].rstrip(":")
        found[".".join(target.split(".")[:4])] += 1
    return found


@pytest.mark.root
@pytest.mark.service
def test_capture_of_a_scan_stays_in_its_scope(lab: Lab, tmp_path: Path) -> None:
    """SYN and connect scans of the /29 .8-.15 inside the populated /24: every packet goes to
    the /29 or back to the scanner's source address (127.0.0.1), none to .16 or a decoy."""
    scope = _scope(lab)
    with lab.capture(tmp_path / "scope.pcap") as capture:
        lab.nmap("-sS", "-p", PORTS, str(scope))
        lab.nmap("-sT", "-p", PORTS, str(scope))
    found = capture.destinations()
    outside = {
        address
        for address in found
        if address != network_lab.SCANNER_SOURCE and ipaddress.ip_address(address) not in scope
    }
    assert outside == set()
    assert {str(address) for address in scope} <= set(found)
    assert found[network_lab.SCANNER_SOURCE] > 0  # the replies
    assert capture.linktype() == network_lab.LINKTYPE_ETHERNET
    assert capture.dropped == 0
    assert capture.captured == sum(found.values())
    assert _tcpdump_destinations(capture.path) == found


@pytest.mark.root
@pytest.mark.service
def test_capture_sees_a_scan_beyond_the_scope(lab: Lab, tmp_path: Path) -> None:
    """The control: scanning the /27 does reach the decoys, and the capture shows it."""
    network = ipaddress.IPv4Network(lab.subnet)
    wider = f"{network.network_address}/27"
    with lab.capture(tmp_path / "wide.pcap") as capture:
        lab.nmap("-sS", "-p", "22,80", wider)
    found = capture.destinations()
    assert set(lab.decoys) <= set(found)
    assert lab.address("cisco-ssh-emulated") in found


@pytest.mark.root
@pytest.mark.service
def test_ping_scan_of_loopback_sends_no_packet(lab: Lab, tmp_path: Path) -> None:
    """nmap marks loopback targets up without probing them (reason localhost-response): a
    `-sn` of the /29 puts nothing on the wire, so scope tests need a port scan."""
    with lab.capture(tmp_path / "ping.pcap") as capture:
        result, _ = lab.nmap("-sn", str(_scope(lab)))
    assert result.stdout.count('reason="localhost-response"') == 8
    assert capture.captured == 0
    assert capture.destinations() == Counter()


# --- Lifecycle -------------------------------------------------------------------------------


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            pids.append(int(entry.name))
    return pids


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.root
@pytest.mark.service
def test_stop_leaves_nothing(lab_factory: LabFactory) -> None:
    started = lab_factory()
    pids = started.pids()
    assert len(pids) >= len(started.processes)  # nginx, smbd, ... have children
    assert started.netns != ""
    started.stop()
    assert started.netns not in network_lab.tiebreak_netns.namespaces()
    assert not (Path("/run/netns") / started.netns).exists()
    assert not (Path("/etc/netns") / started.netns).exists()
    assert [pid for pid in pids if _alive(pid)] == []
    assert all(process.poll() is not None for process in started.processes.values())
    assert _processes_mentioning(str(started.workdir)) == []
    started.stop()  # a second stop() is harmless


@pytest.mark.root
@pytest.mark.service
def test_own_source_addresses_option(lab_factory: LabFactory) -> None:
    """shared_source=False: each assigned address is its own source, as the kernel does."""
    started = lab_factory(shared_source=False, decoys=False)
    address = started.address("nginx")
    assert started.decoys == {}
    route = started.run(["ip", "route", "get", address])
    assert f" src {address} " in route.stdout
    with started.connect(address, 80) as connection:
        assert connection.getsockname()[0] == address


@pytest.mark.root
@pytest.mark.service
def test_stale_namespaces_are_removed() -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    assert not Path(f"/proc/{finished.pid}").exists()
    netns = f"{network_lab.NAMESPACE_PREFIX}{finished.pid}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    leftover = subprocess.Popen(["ip", "netns", "exec", netns, "sleep", "300"])
    try:
        assert network_lab.remove_stale_namespaces() == [netns]
        assert leftover.wait(timeout=10) == -9
        assert netns not in network_lab.tiebreak_netns.namespaces()
    finally:
        if leftover.poll() is None:
            leftover.kill()
        subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)


# --- pcap reader (synthetic files: no root, no lab) ------------------------------------------


def _ipv4(source: str, destination: str) -> bytes:
    header = struct.pack("!BBHHHBBH", 0x45, 0, 40, 0, 0, 64, 6, 0)
    return header + ipaddress.IPv4Address(source).packed + ipaddress.IPv4Address(destination).packed


def _ipv6(destination: str) -> bytes:
    header = struct.pack("!IHBB", 6 << 28, 0, 6, 64)
    return header + ipaddress.IPv6Address("::1").packed + ipaddress.IPv6Address(destination).packed


def _pcap(path: Path, linktype: int, frames: list[bytes], big_endian: bool = False) -> Path:
    order = ">" if big_endian else "<"
    data = struct.pack(f"{order}IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    for frame in frames:
        data += struct.pack(f"{order}IIII", 1, 2, len(frame), len(frame)) + frame
    path.write_bytes(data)
    return path


def test_destinations_ethernet(tmp_path: Path) -> None:
    ethernet = bytes(12)
    frames = [
        ethernet + b"\x08\x00" + _ipv4("127.0.0.1", "127.70.0.9"),
        ethernet + b"\x08\x00" + _ipv4("127.70.0.9", "127.0.0.1"),
        ethernet + b"\x08\x00" + _ipv4("127.0.0.1", "127.70.0.9"),
        ethernet + b"\x86\xdd" + _ipv6("::1"),
        ethernet + b"\x81\x00\x00\x05\x08\x00" + _ipv4("127.0.0.1", "127.70.0.10"),  # VLAN
        ethernet + b"\x08\x06" + bytes(28),  # ARP
    ]
    for big_endian in (False, True):
        pcap = _pcap(tmp_path / f"eth-{big_endian}.pcap", 1, frames, big_endian)
        assert network_lab.destinations(pcap) == Counter(
            {"127.70.0.9": 2, "127.0.0.1": 1, "::1": 1, "127.70.0.10": 1, "ethertype:0x0806": 1}
        )


def test_destinations_cooked_and_raw(tmp_path: Path) -> None:
    packet = _ipv4("127.0.0.1", "127.70.0.11")
    sll = bytes(14) + b"\x08\x00" + packet
    sll2 = b"\x08\x00" + bytes(18) + packet
    for name, linktype, frame in (
        ("sll", 113, sll),
        ("sll2", 276, sll2),
        ("raw", 101, packet),
        ("null", 0, struct.pack("=I", 2) + packet),
    ):
        pcap = _pcap(tmp_path / f"{name}.pcap", linktype, [frame])
        assert network_lab.destinations(pcap) == Counter({"127.70.0.11": 1}), name


def test_read_pcap_refuses_other_formats(tmp_path: Path) -> None:
    pcapng = tmp_path / "capture.pcapng"
    pcapng.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(ValueError, match="not a pcap file"):
        network_lab.read_pcap(pcapng)
    short = tmp_path / "short.pcap"
    short.write_bytes(b"\xd4\xc3\xb2\xa1")
    with pytest.raises(ValueError, match="shorter than a pcap header"):
        network_lab.read_pcap(short)
