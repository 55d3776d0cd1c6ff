"""The `http` probe: the software, hosting and certificate authority behind the scope's web sites.

For each domain of `[scope] domains`, the apex and `www.` (and, through `scan_sites`, any extra
host name of the scope, such as the CNAME owners the DNS probe found) are fetched by
`probes.http.fetch.SiteFetch`, `concurrency` sites at a time, each within its own deadline and the
probe's. Reports are emitted by the probe's thread as sites finish, so a probe stopped at its
deadline keeps every site already done. Nothing a server does fails the probe: it becomes a note
naming the site; only a programming error does.

Observations (locus: the host name that answered):
- `http.url` (informational, locus: the site fetched): the final URL (no query), with status,
  redirect chain, addresses, TLS version, certificate validity, subject names and issuer;
- `http.address`: each address a host name resolved to;
- `http.header`: `name: value` of the headers in `probes.http.headers.HEADERS`;
- `http.cookie`: cookie names, never values;
- `http.title`, `http.generator`, `http.path`: the page's title, `<meta name="generator">`, and
  the CMS and site-builder markers of `probes.http.page`;
- `http.redirect`: the host name of a redirect leaving the scope (not followed);
- `tls.issuer`: the organisation of a verified certificate's issuer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Sequence
from typing import ClassVar

from inventory.channels import Channel
from probes.base import DnsSettings, Emitter, Probe, ProbeContext
from probes.http.fetch import Fetcher, Scope, SiteFetch, SiteReport, normalise_host, valid_host
from probes.http.settings import HttpSettings
from probes.text import printable

MARGIN_S = 1.0
"""Each site's deadline ends this long before the probe's."""

MIN_SITE_S = 1.0
"""A site is not started with less time than this left."""

CHANNELS: frozenset[Channel] = frozenset(
    {
        Channel.HTTP_URL,
        Channel.HTTP_ADDRESS,
        Channel.HTTP_HEADER,
        Channel.HTTP_COOKIE,
        Channel.HTTP_TITLE,
        Channel.HTTP_GENERATOR,
        Channel.HTTP_PATH,
        Channel.HTTP_REDIRECT,
        Channel.TLS_ISSUER,
    }
)


def site_hosts(
    domains: Iterable[str], extra_hosts: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """(host names to fetch, extra names refused): the apex and `www.` of each domain, then the
    extra names that are valid host names of the scope; duplicates once, in that order."""
    scope = Scope(list(domains))
    hosts: dict[str, None] = {}
    for domain in scope.domains:
        hosts[domain] = None
        if not domain.startswith("www."):
            hosts[f"www.{domain}"] = None
    refused: list[str] = []
    for extra in extra_hosts:
        host = normalise_host(extra)
        if valid_host(host) and scope.allows(host):
            hosts.setdefault(host, None)
        else:
            refused.append(printable(extra, 253) or "?")
    return list(hosts), refused


def scan_sites(
    domains: Sequence[str],
    out: Emitter,
    *,
    extra_hosts: Iterable[str] = (),
    dns: DnsSettings | None = None,
    settings: HttpSettings | None = None,
) -> list[SiteReport]:
    """Fetch the sites of `domains` (apex and www) and `extra_hosts` (names below those domains,
    e.g. the CNAME owners the DNS probe found; others are refused with a note), emitting into
    `out`; returns the reports emitted. Redirects are followed only within `domains`. Stops
    waiting at `out.deadline`; sites left unstarted then get a note."""
    settings = settings or HttpSettings()
    scope = Scope(list(domains))
    hosts, refused = site_hosts(scope.domains, extra_hosts)
    for name in refused:
        out.note(
            f"{name} : hors des domaines du périmètre ou invalide, non visité / {name}: outside "
            "the scope's domains or invalid, not visited"
        )
    if not hosts:
        return []
    fetcher = Fetcher.make(scope, dns or DnsSettings(), settings)
    pending: queue.SimpleQueue[str] = queue.SimpleQueue()
    for host in hosts:
        pending.put(host)
    results: queue.SimpleQueue[SiteReport | BaseException] = queue.SimpleQueue()

    def work() -> None:
        while True:
            try:
                host = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results.put(_fetch_site(fetcher, host, out))
            except BaseException as exc:  # noqa: BLE001 - a programming error, re-raised below
                results.put(exc)
                return

    workers = [
        threading.Thread(target=work, name=f"http-site-{n}", daemon=True)
        for n in range(max(1, min(settings.concurrency, len(hosts))))
    ]
    for worker in workers:
        worker.start()
    reports: list[SiteReport] = []
    while len(reports) < len(hosts):
        left = out.remaining()
        if out.cancelled.is_set() or (left is not None and left <= 0):
            break
        try:
            result = results.get(timeout=0.5 if left is None else max(0.01, min(0.5, left)))
        except queue.Empty:
            if not any(worker.is_alive() for worker in workers) and results.empty():
                break
            continue
        if isinstance(result, BaseException):
            raise result
        emit(result, out)
        reports.append(result)
    done = {report.host for report in reports}
    for host in hosts:
        if host not in done:
            out.note(
                f"{host} : non terminé au délai de la sonde / {host}: not finished at the "
                "probe's deadline"
            )
    return reports


def _fetch_site(fetcher: Fetcher, host: str, out: Emitter) -> SiteReport:
    deadline = time.monotonic() + fetcher.settings.site_timeout
    if out.deadline is not None:
        deadline = min(deadline, out.deadline - MARGIN_S)
    if deadline - time.monotonic() < MIN_SITE_S or out.cancelled.is_set():
        report = SiteReport(host)
        report.notes.append(
            f"{host} : non visité, le délai de la sonde est atteint / {host}: not visited, the "
            "probe's deadline is reached"
        )
        return report
    return SiteFetch(fetcher, host, deadline).run()


def emit(report: SiteReport, out: Emitter) -> None:
    """Make a site's observations and notes."""
    for fact in report.facts:
        out.observe(fact.channel, fact.locus, fact.value, fact.attributes)
    for text in report.notes:
        out.note(text)


class HttpProbe(Probe):
    """Fetches the home page of each web site of `[scope] domains`."""

    name: ClassVar[str] = "http"
    tags: ClassVar[frozenset[str]] = frozenset({"http", "network", "web"})
    channels: ClassVar[frozenset[Channel]] = CHANNELS
    summary: ClassVar[str] = (
        "Sites web des domaines déclarés : serveur, CMS, hébergeur, certificat / web sites of "
        "the declared domains: server, CMS, hosting, certificate"
    )
    default_timeout: ClassVar[float] = 300.0

    def __init__(self, settings: HttpSettings | None = None) -> None:
        self.settings = settings

    def unavailable(self, ctx: ProbeContext) -> str | None:
        """Nothing to do without domains in scope."""
        if not ctx.domains:
            return "aucun domaine dans [scope] domains / no domain in [scope] domains"
        return None

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        """Fetch the apex and www of every domain in scope."""
        scan_sites(ctx.domains, out, dns=ctx.dns, settings=self._settings(ctx))

    def _settings(self, ctx: ProbeContext) -> HttpSettings:
        """The settings given to the probe, else the context's (`[http]`)."""
        return self.settings if self.settings is not None else ctx.http
