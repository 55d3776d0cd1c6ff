"""The `dns` probe: runs `scan_domain` on every domain of `[scope] domains`.

It first asks one question to check that a resolver answers at all: when none does, the probe fails
at once with a message naming the servers tried, instead of timing out question after question.

`run` (what the orchestrator calls, in a thread) wraps the asynchronous `run_async`. The external
mode calls `run_async` directly, once per organisation, with one resolver shared by the whole run:
its semaphore bounds the questions in flight across every organisation, and the caller checks it
once with `check_resolver` before the first organisation, instead of once per organisation.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext
from probes.dns.queries import DEFAULT_DKIM_SELECTORS, scan_domain
from probes.dns.resolver import TRANSPORT_FAILURES, AsyncResolver


class ResolverUnreachable(Exception):
    """No configured nameserver answered; `detail` says which servers were tried and how."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


async def check_resolver(resolver: AsyncResolver, domain: str) -> None:
    """Ask one question (`domain` SOA); raise ResolverUnreachable when no server answers at all.

    Any answer counts, NXDOMAIN or SERVFAIL included: the servers are there, the domain is not.
    """
    answer = await resolver.query(domain, "SOA")
    if answer.status in TRANSPORT_FAILURES:
        raise ResolverUnreachable(
            f"résolveur DNS injoignable / DNS resolver unreachable: {answer.detail}",
            answer.detail,
        )


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
        asyncio.run(self.run_async(ctx, out))

    async def run_async(
        self, ctx: ProbeContext, out: Emitter, resolver: AsyncResolver | None = None
    ) -> None:
        """Scan every domain in scope, all at once (the resolver bounds the questions in flight).

        Without `resolver`, the probe opens its own from `ctx.dns`, checks it with a first
        question and closes it. With one, the caller owns it: it was checked (`check_resolver`)
        and will be closed by the caller, and its bound is shared with whatever else uses it.

        Every domain is scanned to the end even when one of them raises: the others'
        observations are complete, each failure is a note naming its domain, and the first one is
        raised afterwards. Domains that no server answered at all raise ResolverUnreachable.
        """
        own = resolver is None
        if resolver is None:
            resolver = AsyncResolver(
                ctx.dns.nameservers, ctx.dns.port, ctx.dns.timeout, ctx.dns.retries
            )
        try:
            if own:
                await check_resolver(resolver, ctx.domains[0])
            selectors = ctx.dns.dkim_selectors or DEFAULT_DKIM_SELECTORS
            scans = await asyncio.gather(
                *(scan_domain(resolver, domain, out, selectors) for domain in ctx.domains),
                return_exceptions=True,
            )
            errors: list[BaseException] = []
            lost: list[str] = []
            for domain, scan in zip(ctx.domains, scans, strict=True):
                if isinstance(scan, BaseException):
                    if not isinstance(scan, Exception):
                        raise scan  # cancellation and the like are not a domain's failure
                    errors.append(scan)
                    out.note(f"{domain}: {type(scan).__name__}: {scan}")
                elif scan.unreachable:
                    lost.append(scan.domain)
            if errors:
                raise errors[0]
            if lost:
                raise ResolverUnreachable(
                    "le résolveur a cessé de répondre pour / the resolver stopped answering for "
                    + ", ".join(lost)
                    + f" ({', '.join(resolver.servers)})"
                )
        finally:
            if own:
                await resolver.close()
