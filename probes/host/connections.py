"""Network activity of the host: listening ports and established outbound connections.

Outbound connections are aggregated per remote address (never per user or process owner) and
named only from what the system already knows, `/etc/hosts`: the probe sends no DNS query, so a
scan reveals nothing to the network. The catalog recognises cloud services from these
addresses (`net.remote`, by prefix) and names (`net.host`, by suffix).
"""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import JsonValue

from inventory.channels import Channel
from probes.base import Emitter
from probes.host.common import read_text

HOSTS_PATH = "etc/hosts"


@dataclass(frozen=True, slots=True)
class Connection:
    """One socket as psutil reports it, reduced to what the probe needs."""

    protocol: str  # tcp or udp
    status: str  # psutil status: LISTEN, ESTABLISHED, NONE…
    local_ip: str
    local_port: int
    remote_ip: str = ""
    remote_port: int = 0
    process: str = ""


@dataclass(slots=True)
class Activity:
    """Listening ports with the processes behind them, and outbound connections by address."""

    listening: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    remotes: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def aggregate(connections: Iterable[Connection]) -> Activity:
    """Listening ports, and established connections to non-loopback peers on non-listening ports."""
    activity = Activity()
    established = []
    for conn in connections:
        if conn.status == "LISTEN" or (conn.protocol == "udp" and not conn.remote_ip):
            activity.listening[f"{conn.protocol}/{conn.local_port}"].add(conn.process)
        elif conn.status == "ESTABLISHED" and conn.remote_ip:
            established.append(conn)
    served = {int(key.split("/")[1]) for key in activity.listening if key.startswith("tcp/")}
    for conn in established:
        remote = _address(conn.remote_ip)
        if remote is None or remote.is_loopback or conn.local_port in served:
            continue  # loopback is local plumbing; a served port means an inbound client
        activity.remotes[str(remote)][conn.remote_port] += 1
    return activity


def parse_hosts(text: str) -> dict[str, str]:
    """Address → first host name, from an /etc/hosts file."""
    names: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        address = _address(words[0]) if len(words) >= 2 else None
        if address is not None:
            names.setdefault(str(address), words[1].lower().rstrip("."))
    return names


def emit(activity: Activity, hosts: dict[str, str], locus: str, out: Emitter) -> None:
    """Observe listening ports (`listen`), remote addresses (`net.remote`), names (`net.host`)."""
    for key, processes in sorted(activity.listening.items()):
        served_by: list[JsonValue] = [p for p in sorted(processes) if p]
        out.observe(Channel.LISTEN, locus, key, {"processes": served_by})
    for address, ports in sorted(activity.remotes.items()):
        port_list: list[JsonValue] = [port for port in sorted(ports)]
        attributes: dict[str, JsonValue] = {"ports": port_list, "count": sum(ports.values())}
        out.observe(Channel.NET_REMOTE, locus, address, attributes)
        if address in hosts:
            out.observe(Channel.NET_HOST, locus, hosts[address], {"address": address, **attributes})


def read_connections(out: Emitter) -> list[Connection] | None:
    """This machine's inet sockets with the name of their process; None when access is denied."""
    import psutil

    try:
        sockets = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        out.note("connexions réseau : accès refusé / network connections: access denied")
        return None
    names: dict[int, str] = {}
    connections = []
    for sock in sockets:
        if sock.pid and sock.pid not in names:
            try:
                names[sock.pid] = psutil.Process(sock.pid).name().lower()
            except psutil.Error:
                names[sock.pid] = ""
        remote = sock.raddr
        connections.append(
            Connection(
                protocol="udp" if sock.type == socket.SOCK_DGRAM else "tcp",
                status=sock.status,
                local_ip=sock.laddr.ip if sock.laddr else "",
                local_port=sock.laddr.port if sock.laddr else 0,
                remote_ip=remote.ip if remote else "",
                remote_port=remote.port if remote else 0,
                process=names.get(sock.pid or 0, ""),
            )
        )
    return connections


def collect(root: Path, locus: str, out: Emitter) -> None:
    """Observe this machine's listening ports and outbound connections."""
    connections = read_connections(out)
    if connections is not None:
        hosts_text = read_text(root / HOSTS_PATH, out)
        emit(aggregate(connections), parse_hosts(hosts_text or ""), locus, out)
