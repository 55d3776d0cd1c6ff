"""Asynchronous DNS client of the DNS probe: many questions in flight, bounded, answers distrusted.

One UDP socket per nameserver carries every question to it, matched to answers by message id and
question; a truncated answer is asked again over TCP. Each question gets `timeout` seconds per try
and `retries` more tries (on the next nameserver when there are several); a semaphore bounds the
questions in flight. Failures (NXDOMAIN, SERVFAIL, REFUSED, timeout, unreachable server) come back
as an `Answer` with a status, never as an exception. Answers are capped (records per answer, CNAME
chain length) and CNAME loops are cut, each with a note.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

MAX_RECORDS = 100
"""Records kept per answer; a name with 1,000 records is noted, not stored whole."""

MAX_CHAIN = 12
"""CNAME hops followed inside one answer before giving up."""

EDNS_PAYLOAD = 1232
"""UDP payload size advertised (the DNS Flag Day 2020 value); bigger answers come over TCP."""

_OPT_RECORD = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, EDNS_PAYLOAD, 0, 0)


class Status(StrEnum):
    """How a question ended."""

    OK = "ok"
    NODATA = "nodata"
    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    ERROR = "error"


TRANSPORT_FAILURES = frozenset({Status.TIMEOUT, Status.UNREACHABLE})
"""Statuses meaning that no server answered at all."""


@dataclass(slots=True)
class Answer:
    """The outcome of one question: status, records of the asked type, CNAME chain and notes."""

    name: str
    rdtype: str
    status: Status
    records: list[dns.rdata.Rdata] = field(default_factory=list)
    chain: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    server: str = ""
    detail: str = ""


def name_text(name: dns.name.Name) -> str:
    """Lower-case text form of a name without the final dot (escapes kept, so always printable)."""
    return name.to_text(omit_final_dot=True).lower()


def server_label(address: str, port: int) -> str:
    """`address:port`, with brackets around IPv6 addresses."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _system_nameservers() -> tuple[str, ...]:
    """The system's resolvers (/etc/resolv.conf), or none when it names none."""
    try:
        return tuple(str(ns) for ns in dns.resolver.Resolver().nameservers)
    except dns.resolver.NoResolverConfiguration:
        return ()


class _Mismatch(ValueError):
    """An answer whose question is not the one asked (stray or spoofed)."""


def _wire_name(name: dns.name.Name) -> bytes:
    wire = name.to_wire()
    assert wire is not None  # to_wire without a file always returns bytes
    return wire


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class _UdpChannel(asyncio.DatagramProtocol):
    """One connected UDP socket to one nameserver, shared by all questions sent to it."""

    def __init__(self) -> None:
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self._random = b""
        self._position = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to send on."""
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """Hand an answer to the question with the same message id; ignore strays."""
        if len(data) < 12:
            return
        future = self.pending.pop(int.from_bytes(data[:2], "big"), None)
        if future is not None and not future.done():
            future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        """ICMP error (port unreachable…): every question to this server fails now, not later."""
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail whatever was still waiting."""
        self.error_received(exc or ConnectionError("socket closed"))

    def new_id(self) -> int:
        """A random message id unused by questions in flight (random ids guard against spoofing)."""
        while True:
            if self._position >= len(self._random):
                self._random, self._position = os.urandom(4096), 0  # one system call, 2,048 ids
            qid = int.from_bytes(self._random[self._position : self._position + 2], "big")
            self._position += 2
            if qid not in self.pending:
                return qid


class AsyncResolver:
    """Asks questions to fixed nameservers with bounded time, tries and questions in flight."""

    def __init__(
        self,
        nameservers: Sequence[str] = (),
        port: int = 53,
        timeout: float = 2.0,
        retries: int = 1,
        max_in_flight: int = 50,
    ) -> None:
        self.nameservers = tuple(nameservers) or _system_nameservers()
        self.port = port
        self.timeout = timeout
        self.retries = max(0, retries)
        self.queries = 0
        self._slots = asyncio.Semaphore(max(1, max_in_flight))
        self._channels: dict[str, _UdpChannel] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._next_server = 0

    @property
    def servers(self) -> list[str]:
        """The nameservers as `address:port`, for messages."""
        return [server_label(ns, self.port) for ns in self.nameservers]

    async def close(self) -> None:
        """Close the sockets."""
        for channel in self._channels.values():
            if channel.transport is not None:
                channel.transport.close()
        self._channels.clear()

    async def query(self, name: str, rdtype: str) -> Answer:
        """Ask `rdtype` for `name`; the outcome is always an Answer, never an exception."""
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, UnicodeError) as exc:
            return Answer(name, rdtype, Status.ERROR, detail=f"nom invalide / invalid name: {exc}")
        qtype = dns.rdatatype.from_text(rdtype)
        async with self._slots:
            return await self._ask(qname, name_text(qname), qtype, rdtype)

    async def _ask(self, qname: dns.name.Name, name: str, qtype: int, rdtype: str) -> Answer:
        if not self.nameservers:
            return Answer(
                name,
                rdtype,
                Status.UNREACHABLE,
                detail="aucun résolveur (config, /etc/resolv.conf) / no resolver configured",
            )
        failures: list[str] = []
        kinds: list[Status] = []
        start = self._next_server
        self._next_server = (start + 1) % len(self.nameservers)
        for attempt in range(self.retries + 1):
            address = self.nameservers[(start + attempt) % len(self.nameservers)]
            label = server_label(address, self.port)
            self.queries += 1
            try:
                rcode, response = await self._exchange(address, qname, qtype)
            except TimeoutError:
                kinds.append(Status.TIMEOUT)
                failures.append(f"{label}: délai dépassé / timed out ({self.timeout:g} s)")
            except OSError as exc:
                kinds.append(Status.UNREACHABLE)
                failures.append(f"{label}: injoignable / unreachable ({exc.strerror or exc})")
            except (dns.exception.DNSException, _Mismatch) as exc:
                kinds.append(Status.ERROR)
                failures.append(f"{label}: réponse invalide / malformed answer ({exc})")
            else:
                return _interpret(rcode, response, qname, name, qtype, rdtype, label)
        if all(kind is Status.UNREACHABLE for kind in kinds):
            status = Status.UNREACHABLE
        elif Status.ERROR in kinds:
            status = Status.ERROR
        else:
            status = Status.TIMEOUT
        return Answer(
            name, rdtype, status, server=", ".join(self.servers), detail="; ".join(failures)
        )

    async def _exchange(
        self, address: str, qname: dns.name.Name, qtype: int
    ) -> tuple[int, dns.message.Message | None]:
        """Send one question; the rcode, and the parsed answer unless it holds no record."""
        channel = await self._channel(address)
        qid = channel.new_id()
        question = _wire_name(qname) + struct.pack("!HH", qtype, dns.rdataclass.IN)
        wire = struct.pack("!HHHHHH", qid, dns.flags.RD, 1, 0, 0, 1) + question + _OPT_RECORD
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        channel.pending[qid] = future
        assert channel.transport is not None
        channel.transport.sendto(wire)
        # A timer handle rather than asyncio.wait_for: cheaper, and this runs for every question.
        timer = loop.call_later(self.timeout, _expire, future)
        try:
            data = await future
        finally:
            timer.cancel()
            channel.pending.pop(qid, None)
        _qid, flags, qdcount, ancount = struct.unpack_from("!HHHH", data)
        # The question is checked on the wire (names compare case-insensitively) before parsing.
        echoed = data[12 : 12 + len(question)]
        if not flags & dns.flags.QR or qdcount != 1 or echoed.lower() != question.lower():
            raise _Mismatch("answer does not match the question")
        if flags & dns.flags.TC:
            query = dns.message.make_query(
                qname, dns.rdatatype.RdataType(qtype), use_edns=0, payload=EDNS_PAYLOAD
            )
            response = await dns.asyncquery.tcp(query, address, self.timeout, self.port)
            return response.rcode(), response
        if ancount == 0:
            # NXDOMAIN, NODATA, SERVFAIL…: the header says it all, nothing else is read.
            return flags & 0xF, None
        response = dns.message.from_wire(data, ignore_trailing=True)
        return response.rcode(), response

    async def _channel(self, address: str) -> _UdpChannel:
        channel = self._channels.get(address)
        if channel is not None and channel.transport is not None:
            return channel
        lock = self._opening.setdefault(address, asyncio.Lock())
        async with lock:
            channel = self._channels.get(address)
            if channel is None or channel.transport is None or channel.transport.is_closing():
                _transport, channel = await asyncio.get_running_loop().create_datagram_endpoint(
                    _UdpChannel, remote_addr=(address, self.port)
                )
                self._channels[address] = channel
        return channel


_RCODE_STATUS: dict[int, Status] = {
    dns.rcode.NXDOMAIN: Status.NXDOMAIN,
    dns.rcode.SERVFAIL: Status.SERVFAIL,
    dns.rcode.REFUSED: Status.REFUSED,
}


def _interpret(
    rcode: int,
    response: dns.message.Message | None,
    qname: dns.name.Name,
    name: str,
    qtype: int,
    rdtype: str,
    server: str,
) -> Answer:
    """Follow the CNAME chain from the question to the records asked, capping and noting abuse."""
    answer = Answer(name, rdtype, Status.OK, server=server)
    if rcode != dns.rcode.NOERROR:
        answer.status = _RCODE_STATUS.get(rcode, Status.ERROR)
        answer.detail = dns.rcode.to_text(dns.rcode.Rcode.make(rcode))
    if response is None:
        return _no_records(answer)
    current = qname
    seen = {qname}
    for _hop in range(MAX_CHAIN + 1):
        rrset = (
            None if qtype == dns.rdatatype.CNAME else _find(response, current, dns.rdatatype.CNAME)
        )
        if rrset is None:
            break
        target = rrset[0].target
        answer.chain.append((name_text(current), name_text(target)))
        if target in seen:
            answer.notes.append(
                "boucle CNAME / CNAME loop: "
                + " → ".join([name, *(hop[1] for hop in answer.chain)])
            )
            return _no_records(answer)
        seen.add(target)
        current = target
    else:
        answer.notes.append(f"chaîne CNAME trop longue / CNAME chain longer than {MAX_CHAIN}")
        return _no_records(answer)
    rrset = _find(response, current, qtype)
    if rrset is not None:
        records = list(rrset)
        if len(records) > MAX_RECORDS:
            answer.notes.append(
                f"{len(records)} enregistrements, {MAX_RECORDS} gardés / "
                f"{len(records)} records, first {MAX_RECORDS} kept"
            )
            records = records[:MAX_RECORDS]
        answer.records = records
    return _no_records(answer) if not answer.records else answer


def _no_records(answer: Answer) -> Answer:
    if answer.status is Status.OK and not answer.records:
        answer.status = Status.NODATA
    return answer


def _find(
    response: dns.message.Message, name: dns.name.Name, rdtype: int
) -> dns.rrset.RRset | None:
    for rrset in response.answer:
        if rrset.rdtype == rdtype and rrset.name == name:
            return rrset
    return None
