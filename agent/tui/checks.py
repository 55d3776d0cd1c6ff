"""The "test" action of the configuration screen: does each section work, before a scan?

- `[dns]`: each configured resolver answers the SOA question of a scope domain (short timeout);
- `[directory]`: the directory accepts a connection and the configured bind (read-only);
- `[server]`: the server answers and accepts the agent token (`agent.sender.check_server`);
- `[scope]`: the networks minus the exclusions are a sane, scannable target list.

Each check returns (ok, message) and never raises; they run in a worker thread, as they wait on
the network. Secrets are read right before use and never appear in a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent.i18n import t

if TYPE_CHECKING:
    from agent.config import Config

Check = Callable[["Config"], tuple[bool, str]]

DNS_TEST_TIMEOUT = 3.0
"""Longest wait for one resolver's answer in the test, in seconds."""


def check_scope(config: Config) -> tuple[bool, str]:
    """The scope's networks minus exclusions: how many addresses, or what is wrong."""
    from probes.scope import ScopeError, is_public, targets

    scope = config.scope
    domains = ", ".join(scope.domains) or t("aucun", "none")
    if not scope.networks:
        return True, t(
            f"aucun réseau : la sonde réseau ne tournera pas ; domaines : {domains}",
            f"no network: the network probe will not run; domains: {domains}",
        )
    try:
        found = targets(scope.networks, scope.exclude, scope.allow_public)
    except ScopeError as exc:
        return False, str(exc)
    public = [str(block) for block in found.declared if is_public(block)]
    warning = (
        t(
            f" ; ATTENTION réseaux publics autorisés : {', '.join(public)}",
            f"; WARNING public networks allowed: {', '.join(public)}",
        )
        if public
        else ""
    )
    return True, t(
        f"{found.size} adresse(s) en {len(found.blocks)} bloc(s) ; domaines : {domains}{warning}",
        f"{found.size} address(es) in {len(found.blocks)} block(s); domains: {domains}{warning}",
    )


def check_dns(config: Config) -> tuple[bool, str]:
    """Ask each configured resolver for the SOA of the first scope domain."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.resolver

    if not config.scope.domains:
        return False, t(
            "aucun domaine dans [scope] domains : rien à demander",
            "no domain in [scope] domains: nothing to ask",
        )
    domain = config.scope.domains[0]
    servers = list(config.dns.nameservers)
    if not servers:
        try:
            servers = [str(server) for server in dns.resolver.Resolver().nameservers]
        except dns.exception.DNSException as exc:
            return False, t(f"pas de résolveur système ({exc})", f"no system resolver ({exc})")
    timeout = min(config.dns.timeout, DNS_TEST_TIMEOUT)
    lines, ok = [], True
    for server in servers:
        query = dns.message.make_query(domain, dns.rdatatype.SOA)
        started = time.monotonic()
        try:
            answer = dns.query.udp(query, server, timeout=timeout, port=config.dns.port)
        except dns.exception.Timeout:
            ok = False
            lines.append(
                t(
                    f"{server} : pas de réponse en {timeout:g} s",
                    f"{server}: no answer within {timeout:g} s",
                )
            )
            continue
        except (OSError, dns.exception.DNSException) as exc:
            ok = False
            lines.append(f"{server} : {type(exc).__name__}: {exc}")
            continue
        elapsed = (time.monotonic() - started) * 1000
        rcode = dns.rcode.to_text(answer.rcode())
        soa = [rr for rrset in answer.answer for rr in rrset if rr.rdtype == dns.rdatatype.SOA]
        if answer.rcode() != dns.rcode.NOERROR:
            ok = False
            lines.append(f"{server} : {rcode} ({domain})")
        elif soa:
            primary = soa[0].to_text().split()[0]
            lines.append(
                t(
                    f"{server} répond : SOA {domain} {primary} ({elapsed:.0f} ms)",
                    f"{server} answers: SOA {domain} {primary} ({elapsed:.0f} ms)",
                )
            )
        else:
            lines.append(
                t(
                    f"{server} répond, sans SOA pour {domain} ({elapsed:.0f} ms)",
                    f"{server} answers, no SOA for {domain} ({elapsed:.0f} ms)",
                )
            )
    return ok, "\n".join(lines)


def check_directory(config: Config) -> tuple[bool, str]:
    """Connect to the directory and bind with the configured account, read-only, then leave."""
    from agent.scan import probe_context
    from probes.directory.connection import Directory, DirectoryError

    if config.directory is None:
        return False, t("pas de section [directory]", "no [directory] section")
    try:
        settings = probe_context(config).directory
    except OSError as exc:
        key = "password_file" if config.directory.password_file else "password_env"
        return False, f"[directory] {key}: {exc}"
    if settings is None:
        return False, t("pas de section [directory]", "no [directory] section")
    directory = Directory(settings)
    try:
        directory.open()
        directory.bind()
    except DirectoryError as exc:
        return False, str(exc)
    finally:
        directory.close()
    if directory.bound:
        return True, t(
            f"connexion établie et bind accepté pour {settings.bind_dn}",
            f"connected, bind accepted for {settings.bind_dn}",
        )
    return True, t(
        "connexion anonyme établie (pas de bind_dn : rootDSE seulement)",
        "anonymous connection established (no bind_dn: rootDSE only)",
    )


def check_server(config: Config) -> tuple[bool, str]:
    """The server answers and accepts the agent token (`agent.sender.check_server`)."""
    from agent import sender

    if config.server is None:
        return False, t("pas de section [server]", "no [server] section")
    return sender.check_server(config.server)


CHECKS: dict[str, Check] = {
    "scope": check_scope,
    "dns": check_dns,
    "directory": check_directory,
    "server": check_server,
}
"""The test of each testable section."""


def run_check(name: str, config: Config) -> tuple[bool, str]:
    """Run a section's test; an unexpected error is a failed test, never a crash of the UI."""
    check = CHECKS.get(name)
    if check is None:
        return False, t("pas de test pour cette section", "no test for this section")
    try:
        return check(config)
    except Exception as exc:  # noqa: BLE001 - a test reports every failure as its result
        return False, f"{type(exc).__name__}: {exc}"
