"""The resolver distrusts answers: one to another question is refused; settings reach it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rrset
import pytest

from agent.config import parse_config
from agent.scan import probe_context
from probes.dns.resolver import AsyncResolver, Status


@pytest.fixture
def liar() -> Iterator[tuple[str, int]]:
    """A UDP server answering every question with an A record for another name (spoofing)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.53.0.77", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, address = sock.recvfrom(2048)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            forged = dns.message.make_query("bank.test", "A")
            forged.id = query.id
            response = dns.message.make_response(forged)
            response.answer.append(dns.rrset.from_text("bank.test.", 60, "IN", "A", "192.0.2.66"))
            sock.sendto(response.to_wire(), address)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()
    stop.set()
    thread.join()
    sock.close()


def test_answer_to_another_question_is_refused(liar: tuple[str, int]) -> None:
    async def ask() -> tuple[Status, str, int]:
        resolver = AsyncResolver((liar[0],), liar[1], timeout=0.5, retries=1)
        answer = await resolver.query("commune.test", "A")
        await resolver.close()
        return answer.status, answer.detail, len(answer.records)

    status, detail, records = asyncio.run(ask())
    assert status is Status.ERROR
    assert records == 0
    assert detail.count("does not match the question") == 2  # the first try and the retry


def test_config_reaches_the_probe_context() -> None:
    config = parse_config(
        {
            "organisation": {"name": "Commune"},
            "scope": {"domains": ["commune.test"]},
            "dns": {
                "nameservers": ["127.53.0.1"],
                "port": 5353,
                "timeout": 0.5,
                "retries": 3,
                "dkim_selectors": ["s2048"],
            },
        }
    )
    settings = probe_context(config).dns
    assert settings.nameservers == ("127.53.0.1",)
    assert (settings.port, settings.timeout, settings.retries) == (5353, 0.5, 3)
    assert settings.dkim_selectors == ("s2048",)
