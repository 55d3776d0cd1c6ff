"""The `dns` probe: runs `scan_domain` on every domain of `[scope] domains`.

It first asks one question to check that a resolver answers at all: when none does, the probe fails
at once with a message naming the servers tried, instead of timing out question after question.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext
from probes.dns.queries import DEFAULT_DKIM_SELECTORS, scan_domain
from probes.dns.resolver import TRANSPORT_FAILURES, AsyncResolver


class ResolverUnreachable(Exception):
    """No configured nameserver answered."""


class DnsProbe(Probe):
    """Mail, DNS hosting, cloud services and certificate authorities seen in DNS."""

    name: ClassVar[str] = "dns"
    tags: ClassVar[frozenset[str]] = frozenset({"dns", "network"})
    channels: ClassVar[frozenset[Channel]] = frozenset(
        channel for channel in Channel if channel.value.startswith("dns.")
    )
    summary: ClassVar[str] = (
        "Messagerie, hébergement DNS et cloud vus dans le DNS / mail, DNS and cloud seen in DNS"
    )
    default_timeout: ClassVar[float] = 120.0

    def unavailable(self, ctx: ProbeContext) -> str | None:
        """Nothing to do without domains in scope."""
        if not ctx.domains:
            return "aucun domaine dans [scope] domains / no domain in [scope] domains"
        return None

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        """Scan every domain in scope; raise ResolverUnreachable when no resolver answers."""
        asyncio.run(self._run(ctx, out))

    async def _run(self, ctx: ProbeContext, out: Emitter) -> None:
        resolver = AsyncResolver(
            ctx.dns.nameservers, ctx.dns.port, ctx.dns.timeout, ctx.dns.retries
        )
        try:
            probe = await resolver.query(ctx.domains[0], "SOA")
            if probe.status in TRANSPORT_FAILURES:
                raise ResolverUnreachable(
                    f"résolveur DNS injoignable / DNS resolver unreachable: {probe.detail}"
                )
            selectors = ctx.dns.dkim_selectors or DEFAULT_DKIM_SELECTORS
            scans = await asyncio.gather(
                *(scan_domain(resolver, domain, out, selectors) for domain in ctx.domains)
            )
            lost = [scan.domain for scan in scans if scan.unreachable]
            if lost:
                raise ResolverUnreachable(
                    "le résolveur a cessé de répondre pour / the resolver stopped answering for "
                    + ", ".join(lost)
                    + f" ({', '.join(resolver.servers)})"
                )
        finally:
            await resolver.close()
