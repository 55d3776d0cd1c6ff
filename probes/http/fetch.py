"""Fetching one site's home page: name resolution, TLS, redirects within the scope, bounded reads.

`SiteFetch(host, …).run()` returns a `SiteReport`: the observations to make (`Fact`) and the notes
for a person; it never raises for anything a server or a resolver does (no answer, garbage, a
redirect loop, a huge page, an invalid certificate), only for a programming error.

- The host name is resolved to A and AAAA records with dnspython, through the configured
  nameservers (`DnsSettings`; none: the system's, from /etc/resolv.conf). The probe connects only
  to those addresses, IPv4 first, at most `max_addresses` of them, and sends the host name in the
  TLS handshake (SNI) and the Host header; the certificate is checked for that name.
- `https://<host>/` first; when no TLS connection can be made (refused, timed out, handshake
  failure), `http://<host>/`. One GET per URL, never any other method, no cookie sent back.
- An invalid certificate (self-signed, expired, unknown authority, wrong name) is reported (a note
  and the `certificate` attribute), then the page is read once more over an unverified connection
  to record its headers, title and markers, each marked `tls_verified: false`; nothing else is
  taken from that answer: its redirect is not followed, its certificate's contents are not read.
- Redirects (301, 302, 303, 307, 308) are followed up to `max_redirects`, only to hosts of the
  scope's domains; a redirect leaving the scope is recorded (`http.redirect`), never followed. A
  loop, a bad Location, a failure along the way end the chain with a note.
- Bounds: `connect_timeout` per connection, `read_timeout` per wait for data, and one deadline for
  the whole site (`site_timeout`, never beyond the probe's own deadline), enforced by a watchdog
  that shuts the socket down: a server trickling bytes cannot hold the probe. Headers are read by
  `http.client` (at most 100 header lines of 64 KiB each); a page's body is read only when it is
  HTML, `max_body` bytes at most, then the connection is closed without reading further.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import dns.exception
import dns.resolver
from pydantic import JsonValue

from inventory.channels import Channel
from probes.base import DnsSettings
from probes.http.headers import cookie_name, header_value
from probes.http.page import URL_MAX, PageFacts, charset_of, read_page, strip_query
from probes.http.settings import HttpSettings
from probes.text import printable

REDIRECTS = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")
ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
ACCEPT_LANGUAGE = "fr, en;q=0.5"
CHUNK = 65536
CNAME_HOPS = 8
"""CNAMEs chased when the resolver answers with the alias only."""
ADDRESSES_MAX = 16
"""Addresses of one name recorded (`http.address`)."""
HEADERS_MAX = 100
COOKIES_MAX = 50
SUBJECT_NAMES_MAX = 50
URL_TEXT_MAX = 512
REASON_MAX = 300

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


def valid_host(host: str) -> bool:
    """A host name of letters, digits and hyphens (IDNs in their xn-- form), two labels or more."""
    labels = host.split(".")
    return len(host) <= 253 and len(labels) >= 2 and all(_HOST_LABEL.match(x) for x in labels)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def normalise_host(host: str) -> str:
    """Lower case, no final dot."""
    return host.strip().rstrip(".").lower()


class Scope:
    """The scope's domains: a host belongs when it is one of them or lies below one."""

    def __init__(self, domains: tuple[str, ...] | list[str]) -> None:
        self.domains = tuple(dict.fromkeys(normalise_host(d) for d in domains if d.strip()))

    def allows(self, host: str) -> bool:
        """Whether `host` is a domain of the scope or a name below one."""
        host = normalise_host(host)
        return any(host == d or host.endswith("." + d) for d in self.domains)


@dataclass(frozen=True, slots=True)
class Fact:
    """One observation to make."""

    channel: Channel
    locus: str
    value: str
    attributes: dict[str, JsonValue] = field(default_factory=dict)


@dataclass(slots=True)
class SiteReport:
    """What one site gave: observations to make and notes for a person."""

    host: str
    facts: list[Fact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Target:
    """One URL to GET: scheme, host name, port and request target (path and query)."""

    scheme: str
    host: str
    port: int
    path: str = "/"

    @classmethod
    def home(cls, scheme: str, host: str) -> Target:
        """The home page of `host` over `scheme`."""
        return cls(scheme, host, 443 if scheme == "https" else 80, "/")

    @property
    def default_port(self) -> bool:
        return self.port == (443 if self.scheme == "https" else 80)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.default_port else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.path}"

    @property
    def shown(self) -> str:
        """The URL as recorded: printable, without query."""
        return printable(strip_query(self.url), URL_TEXT_MAX) or self.host


def next_target(base: str, location: str) -> Target | str:
    """Where a Location header points, relative to URL `base`; a reason when it points nowhere
    the probe could go (another scheme, no host, a bad port or name)."""
    raw = location.strip()[:URL_MAX]
    try:
        parts = urlsplit(urljoin(base, raw))
        port = parts.port
    except ValueError as exc:
        return f"Location invalide / invalid Location ({exc})"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return f"Location vers / Location to {printable(scheme, 20) or '?'}:"
    host = normalise_host(parts.hostname or "")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return f"nom d'hôte invalide / invalid host name {printable(host, 100)!r}"
    if not host:
        return "Location sans hôte / Location without a host"
    if not valid_host(host) and not _is_address(host):
        return f"nom d'hôte invalide / invalid host name {printable(host, 100)!r}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    if parts.query:
        path += "?" + quote(parts.query, safe=_QUERY_SAFE)
    default = 443 if scheme == "https" else 80
    return Target(scheme, host, port or default, path)


# -- name resolution ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolution:
    """A host name's addresses (IPv4 first), its canonical name when a CNAME led elsewhere, or
    why it has none."""

    host: str
    addresses: tuple[str, ...] = ()
    canonical: str | None = None
    error: str | None = None


def resolve(host: str, settings: DnsSettings, deadline: float) -> Resolution:
    """A and AAAA of `host` through the configured nameservers (none: /etc/resolv.conf's)."""
    try:
        resolver = dns.resolver.Resolver(configure=not settings.nameservers)
    except dns.resolver.NoResolverConfiguration:
        return Resolution(host, error="aucun résolveur configuré / no resolver configured")
    if settings.nameservers:
        resolver.nameservers = list(settings.nameservers)
    resolver.port = settings.port
    resolver.timeout = settings.timeout
    addresses: list[str] = []
    canonical: str | None = None
    for rdtype in ("A", "AAAA"):
        name = host
        for _hop in range(CNAME_HOPS):
            left = deadline - time.monotonic()
            if left <= 0:
                return Resolution(host, error="délai dépassé / timed out")
            resolver.lifetime = min(settings.timeout * (settings.retries + 1), left)
            try:
                answer = resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
            except dns.resolver.NXDOMAIN:
                return Resolution(host, error="le nom n'existe pas / no such name (NXDOMAIN)")
            except dns.resolver.NoNameservers:
                return Resolution(
                    host,
                    error="aucun serveur DNS n'a répondu correctement / no DNS server answered "
                    "correctly (SERVFAIL, REFUSED)",
                )
            except dns.exception.Timeout:
                return Resolution(host, error="pas de réponse DNS / DNS timed out")
            except dns.exception.DNSException as exc:
                return Resolution(host, error=printable(f"DNS: {exc}", REASON_MAX))
            target = answer.canonical_name.to_text(omit_final_dot=True).lower()
            if target != host and canonical is None:
                canonical = printable(target, 253)
            if answer.rrset is not None:
                for record in answer.rrset:
                    address = str(record.address)
                    if address not in addresses and len(addresses) < ADDRESSES_MAX:
                        addresses.append(address)
                break
            if target == name:
                break  # no record of this type
            # A CNAME without its target's records (an authoritative server answering for
            # another zone's name): ask for the target, as a recursive resolver would.
            name = target
    if not addresses:
        return Resolution(host, canonical=canonical, error="aucune adresse / no address")
    return Resolution(host, tuple(addresses), canonical)


class Names:
    """Resolutions of one scan, each host name asked once."""

    def __init__(self, settings: DnsSettings) -> None:
        self.settings = settings
        self._known: dict[str, Resolution] = {}
        self._lock = threading.Lock()

    def get(self, host: str, deadline: float) -> Resolution:
        """The resolution of `host` (asked once per scan, failures included)."""
        with self._lock:
            known = self._known.get(host)
        if known is not None:
            return known
        resolution = resolve(host, self.settings, deadline)
        with self._lock:
            return self._known.setdefault(host, resolution)


# -- one exchange ------------------------------------------------------------------------------


class _Failure(Exception):
    """A site failed in a way worth a note; `reason` is bilingual and printable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = printable(reason, REASON_MAX) or "?"


class _NoConnection(_Failure):
    """No TCP connection or no TLS handshake: HTTPS falls back to HTTP."""


class _BadCertificate(_Failure):
    """The TLS certificate did not verify."""


@dataclass(slots=True)
class Tls:
    """The TLS side of an exchange."""

    version: str | None
    cipher: str | None
    verified: bool
    certificate: dict[str, Any]  # ssl.SSLSocket.getpeercert(); empty when not verified


@dataclass(slots=True)
class Response:
    """One answer: status, headers and the (bounded) body when it was read."""

    target: Target
    address: str
    status: int
    headers: list[tuple[str, str]]
    tls: Tls | None
    body: bytes = b""
    body_bytes: int = 0  # bytes of body taken from the connection
    truncated: bool = False  # the body was longer than max_body: the rest was never read
    body_error: str | None = None  # the body's reading stopped early (timeout, reset…)

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((value for key, value in self.headers if key.lower() == lower), None)

    @property
    def verified(self) -> bool:
        """False only for an answer read over TLS without a valid certificate."""
        return self.tls is None or self.tls.verified

    def is_html(self) -> bool:
        content_type = (self.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        return not content_type or content_type in HTML_TYPES


class _Watchdog:
    """Shuts the current socket down at the site's deadline, waking any blocked read."""

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            # The plain socket's shutdown, also for an SSLSocket: it acts on the descriptor
            # only, leaving the TLS object to the thread reading.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:
                self._shutdown()

    def cancel(self) -> None:
        self._timer.cancel()


def _os_reason(exc: BaseException) -> str:
    """The system's or OpenSSL's words for a connection failure (English, as they come)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _header_text(value: str) -> str:
    """A header value as http.client decoded it (ISO-8859-1), read again as UTF-8 when it is."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _when(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromtimestamp(ssl.cert_time_to_seconds(text), UTC).isoformat()
    except ValueError:
        return None


def _name_fields(name: object) -> dict[str, str]:
    """The first value of each field of a certificate name, as getpeercert() gives it."""
    fields: dict[str, str] = {}
    if isinstance(name, tuple):
        for rdn in name:
            for pair in rdn if isinstance(rdn, tuple) else ():
                if isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], str):
                    fields.setdefault(str(pair[0]), pair[1])
    return fields


def certificate_facts(certificate: dict[str, Any]) -> dict[str, JsonValue]:
    """Validity dates, subject names and issuer of a verified certificate."""
    subject = _name_fields(certificate.get("subject"))
    issuer = _name_fields(certificate.get("issuer"))
    names: list[JsonValue] = []
    common = printable(subject.get("commonName"), 253)
    if common:
        names.append(common)
    for kind, value in certificate.get("subjectAltName", ()) or ():
        if kind == "DNS" and len(names) < SUBJECT_NAMES_MAX:
            text = printable(str(value), 253)
            if text and text not in names:
                names.append(text)
    facts: dict[str, JsonValue] = {"certificate_subject": names}
    for key, source in (
        ("certificate_not_before", "notBefore"),
        ("certificate_not_after", "notAfter"),
    ):
        when = _when(certificate.get(source))
        if when:
            facts[key] = when
    issuer_name = printable(issuer.get("organizationName") or issuer.get("commonName"), 200)
    if issuer_name:
        facts["certificate_issuer"] = issuer_name
    return facts


def issuer_organisation(certificate: dict[str, Any]) -> str | None:
    """The issuer's organisation (O=), else its common name (CN=)."""
    issuer = _name_fields(certificate.get("issuer"))
    return printable(issuer.get("organizationName") or issuer.get("commonName"), 200)


def default_user_agent() -> str:
    """`tiebreak/<version> (inventaire TIE Break)`."""
    try:
        from agent import __version__ as version
    except ImportError:  # pragma: no cover - the agent package ships with the probes
        version = "?"
    return f"tiebreak/{version} (inventaire TIE Break)"


def tls_contexts(settings: HttpSettings) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(verifying, not verifying) client contexts; the first trusts `ca_file` when set, else the
    system store. Made once per trust store and process: loading the system store costs about
    25 ms of CPU, which the external mode would pay once per organisation."""
    return _tls_contexts(str(settings.ca_file) if settings.ca_file is not None else None)


@functools.lru_cache(maxsize=4)
def _tls_contexts(cafile: str | None) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    verifying = ssl.create_default_context(cafile=cafile)
    verifying.set_alpn_protocols(["http/1.1"])
    lax = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    lax.check_hostname = False
    lax.verify_mode = ssl.CERT_NONE
    lax.set_alpn_protocols(["http/1.1"])
    return verifying, lax


@dataclass(slots=True)
class Fetcher:
    """What every site of a scan shares: scope, resolver, settings, TLS contexts."""

    scope: Scope
    names: Names
    settings: HttpSettings
    user_agent: str
    verifying: ssl.SSLContext
    lax: ssl.SSLContext

    @classmethod
    def make(cls, scope: Scope, dns_settings: DnsSettings, settings: HttpSettings) -> Fetcher:
        verifying, lax = tls_contexts(settings)
        return cls(
            scope,
            Names(dns_settings),
            settings,
            settings.user_agent or default_user_agent(),
            verifying,
            lax,
        )


def _label(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _ordered(addresses: tuple[str, ...]) -> list[str]:
    return sorted(addresses, key=lambda a: ipaddress.ip_address(a).version)


class SiteFetch:
    """One site: its home page, the redirects it leads to, what they show."""

    def __init__(self, fetcher: Fetcher, host: str, deadline: float) -> None:
        self.fetcher = fetcher
        self.settings = fetcher.settings
        self.host = host
        self.deadline = deadline
        self.budget = max(0.0, round(deadline - time.monotonic(), 1))  # seconds, for messages
        self.report = SiteReport(host)
        self.resolutions: dict[str, Resolution] = {}
        self.certificate_problems: dict[str, str] = {}
        self._watchdog: _Watchdog | None = None
        # Whether the last socket timeout set was the site's deadline rather than a setting: a
        # timeout then means the deadline, even when it fires before the watchdog does.
        self._deadline_bound = False

    # -- notes and facts -----------------------------------------------------------------------

    def note(self, host: str, french: str, english: str) -> None:
        self.report.notes.append(f"{host} : {french} / {host}: {english}")

    def fail(self, host: str, what: str, reason: str) -> None:
        """A note `host : quoi (raison) / host: what (reason)`; `what` and `reason` are bilingual
        as `français / English` (a reason without ` / `, such as an OpenSSL message, is shown
        in both halves)."""
        french, _, english = what.partition(" / ")
        reason_fr, _, reason_en = reason.partition(" / ")
        self.note(
            host, f"{french} ({reason_fr})", f"{english or french} ({reason_en or reason_fr})"
        )

    def fact(
        self, channel: Channel, locus: str, value: str | None, attributes: dict[str, JsonValue]
    ) -> None:
        if value:
            self.report.facts.append(Fact(channel, locus, value, attributes))

    # -- the site ------------------------------------------------------------------------------

    def run(self) -> SiteReport:
        """Fetch the site; everything that went wrong is a note of the report."""
        self._watchdog = _Watchdog(self.deadline)
        try:
            self._run()
        finally:
            self._watchdog.cancel()
        return self.report

    def _left(self) -> float:
        return self.deadline - time.monotonic()

    def _addresses(self, host: str) -> bool:
        if host in self.resolutions:
            return bool(self.resolutions[host].addresses)
        resolution = self.fetcher.names.get(host, self.deadline)
        self.resolutions[host] = resolution
        if resolution.error:
            self.fail(host, "nom non résolu / name not resolved", resolution.error)
        attributes: dict[str, JsonValue] = {}
        if resolution.canonical:
            attributes["cname"] = resolution.canonical
        for address in resolution.addresses:
            self.fact(Channel.HTTP_ADDRESS, host, address, dict(attributes))
        return bool(resolution.addresses)

    def _run(self) -> None:
        host = self.host
        if not self._addresses(host):
            return
        target = Target.home("https", host)
        https_error: str | None = None
        try:
            response = self._get(target)
        except _NoConnection as exc:
            https_error = exc.reason
            target = Target.home("http", host)
            try:
                response = self._get(target)
            except _Failure as again:
                self.note(
                    host,
                    f"site injoignable : HTTPS ({https_error}), HTTP ({again.reason})",
                    f"site unreachable: HTTPS ({https_error}), HTTP ({again.reason})",
                )
                return
        except _Failure as exc:
            self.fail(host, f"{target.shown} sans réponse / {target.shown} failed", exc.reason)
            return
        attributes: dict[str, JsonValue] = {}
        if https_error:
            attributes["https_error"] = https_error
        chain: list[JsonValue] = []
        seen = {target}
        while True:
            self._record(response)
            location = response.header("Location") if response.status in REDIRECTS else None
            if location is None:
                break
            following = self._redirect(response, location, seen, len(chain), attributes)
            if following is None:
                break
            try:
                answer = self._get(following)
            except _Failure as exc:
                attributes["redirect_error"] = exc.reason
                self.fail(
                    host,
                    f"la redirection vers {following.shown} a échoué / the redirect to "
                    f"{following.shown} failed",
                    exc.reason,
                )
                break
            chain.append(response.target.shown)
            seen.add(following)
            response = answer
        self._summary(response, chain, attributes)

    def _redirect(
        self,
        response: Response,
        location: str,
        seen: set[Target],
        hops: int,
        attributes: dict[str, JsonValue],
    ) -> Target | None:
        """The target to follow, or None after recording why not."""
        here = response.target
        following = next_target(here.url, location)
        if isinstance(following, str):
            attributes["redirect_error"] = following
            self.fail(here.host, "redirection illisible / unreadable redirect", following)
            return None
        if not response.verified:
            attributes["location"] = following.shown
            self.note(
                here.host,
                f"redirection vers {following.shown} non suivie : certificat invalide",
                f"redirect to {following.shown} not followed: invalid certificate",
            )
            return None
        if not self.fetcher.scope.allows(following.host):
            attributes["redirect_off_scope"] = following.host
            self.fact(
                Channel.HTTP_REDIRECT,
                here.host,
                following.host,
                {"from": here.shown, "to": following.shown, "status": response.status},
            )
            return None
        if following in seen:
            attributes["redirect_error"] = "loop"
            self.note(
                here.host,
                f"boucle de redirections ({following.shown})",
                f"redirect loop ({following.shown})",
            )
            return None
        if hops >= self.settings.max_redirects:
            attributes["redirect_error"] = "too many"
            self.note(
                here.host,
                f"plus de {self.settings.max_redirects} redirections, arrêt à {following.shown}",
                f"more than {self.settings.max_redirects} redirects, stopped at {following.shown}",
            )
            return None
        if not self._addresses(following.host):
            attributes["redirect_error"] = "name not resolved"
            return None
        return following

    def _get(self, target: Target) -> Response:
        """One GET, verifying the certificate; an invalid one is reported, then the page is read
        again without verification (marked so, and trusted for nothing else)."""
        try:
            return self._exchange(target, verify=True)
        except _BadCertificate as exc:
            self.certificate_problems[target.host] = exc.reason
            self.note(
                target.host,
                f"certificat TLS invalide ({exc.reason}) : page lue sans vérification, rien "
                "d'autre n'en est tiré",
                f"invalid TLS certificate ({exc.reason}): page read unverified, nothing else "
                "taken from it",
            )
            return self._exchange(target, verify=False)

    # -- the exchange --------------------------------------------------------------------------

    def _timeout(self, most: float) -> float:
        left = self._left()
        if left <= 0:
            raise _Failure(self._deadline_reason())
        self._deadline_bound = left < most
        return min(most, left)

    def _deadline_reason(self) -> str:
        return (
            f"délai du site dépassé ({self.budget:g} s) / site deadline reached ({self.budget:g} s)"
        )

    def _connect(self, target: Target) -> tuple[socket.socket, str]:
        resolution = self.resolutions[target.host]
        errors: list[str] = []
        for address in _ordered(resolution.addresses)[: max(1, self.settings.max_addresses)]:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self._timeout(self.settings.connect_timeout))
                sock.connect((address, target.port))
            except _Failure:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                if isinstance(exc, TimeoutError) and self._deadline_bound:
                    raise _Failure(self._deadline_reason()) from None
                errors.append(f"{_label(address, target.port)} {_os_reason(exc)}")
                continue
            return sock, address
        raise _NoConnection("; ".join(errors) or "aucune adresse / no address")

    def _exchange(self, target: Target, verify: bool) -> Response:
        assert self._watchdog is not None
        sock, address = self._connect(target)
        self._watchdog.watch(sock)
        connection: http.client.HTTPConnection | None = None
        try:
            tls: Tls | None = None
            if target.scheme == "https":
                sock.settimeout(self._timeout(self.settings.read_timeout))
                context = self.fetcher.verifying if verify else self.fetcher.lax
                try:
                    sock = context.wrap_socket(sock, server_hostname=target.host)
                except ssl.SSLCertVerificationError as exc:
                    raise _BadCertificate(exc.verify_message or str(exc)) from None
                except OSError as exc:  # ssl.SSLError is an OSError
                    if self._watchdog.fired or (
                        isinstance(exc, TimeoutError) and self._deadline_bound
                    ):
                        raise _Failure(self._deadline_reason()) from None
                    reason = _os_reason(exc)
                    if not isinstance(exc, ssl.SSLError):
                        reason = f"TLS handshake: {reason}"
                    raise _NoConnection(f"{_label(address, target.port)} {reason}") from None
                self._watchdog.watch(sock)
                assert isinstance(sock, ssl.SSLSocket)
                cipher = sock.cipher()
                tls = Tls(
                    version=sock.version(),
                    cipher=cipher[0] if cipher else None,
                    verified=verify,
                    certificate=dict(sock.getpeercert() or {}) if verify else {},
                )
            connection = http.client.HTTPConnection(target.host, target.port)
            connection.sock = sock
            try:
                return self._request(connection, sock, target, address, tls)
            except (OSError, http.client.HTTPException) as exc:
                raise _Failure(self._exchange_reason(exc)) from None
        finally:
            self._watchdog.watch(None)
            if connection is not None:
                connection.close()
            sock.close()

    def _exchange_reason(self, exc: BaseException) -> str:
        assert self._watchdog is not None
        if self._watchdog.fired:
            return self._deadline_reason()
        if isinstance(exc, TimeoutError):
            if self._deadline_bound or self._left() <= 0:
                return self._deadline_reason()
            return (
                f"pas de réponse en {self.settings.read_timeout:g} s / no answer within "
                f"{self.settings.read_timeout:g} s"
            )
        if isinstance(exc, http.client.RemoteDisconnected):
            return "connexion fermée sans réponse / connection closed without an answer"
        if isinstance(exc, http.client.LineTooLong):
            return f"ligne d'en-tête trop longue / header line too long ({exc})"
        if isinstance(exc, http.client.BadStatusLine):
            return f"ce n'est pas une réponse HTTP / not an HTTP answer: {printable(str(exc), 80)}"
        if isinstance(exc, http.client.HTTPException):
            return f"réponse HTTP invalide / invalid HTTP answer: {exc}"
        return f"connexion interrompue / connection failed: {_os_reason(exc)}"

    def _request(
        self,
        connection: http.client.HTTPConnection,
        sock: socket.socket,
        target: Target,
        address: str,
        tls: Tls | None,
    ) -> Response:
        sock.settimeout(self._timeout(self.settings.read_timeout))
        connection.putrequest("GET", target.path, skip_host=True)
        connection.putheader("Host", target.host_header)
        connection.putheader("User-Agent", self.fetcher.user_agent)
        connection.putheader("Accept", ACCEPT)
        connection.putheader("Accept-Language", ACCEPT_LANGUAGE)
        connection.putheader("Connection", "close")
        connection.endheaders()
        answer = connection.getresponse()
        assert self._watchdog is not None
        if self._watchdog.fired:
            # The watchdog's shutdown ends the headers early: what came is not an answer.
            raise _Failure(self._deadline_reason())
        headers = [(name, _header_text(value)) for name, value in answer.getheaders()]
        response = Response(target, address, answer.status, headers[:HEADERS_MAX], tls)
        if response.status in REDIRECTS and response.header("Location") is not None:
            return response
        if response.is_html():
            self._read_body(answer, sock, response)
        return response

    def _read_body(
        self, answer: http.client.HTTPResponse, sock: socket.socket, response: Response
    ) -> None:
        """Read at most max_body bytes of the body (decompressed when gzip or deflate), then
        stop: what lies beyond is never read."""
        limit = max(0, self.settings.max_body)
        encoding = (response.header("Content-Encoding") or "identity").strip().lower()
        decoder: Any = None
        if encoding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            decoder = zlib.decompressobj()
        elif encoding != "identity":
            response.body_error = f"encodage {encoding} non lu / encoding {encoding} not read"
            return
        pieces: list[bytes] = []
        kept = 0
        try:
            ended = False
            while response.body_bytes < limit and kept < limit:
                if answer.isclosed():  # the whole body was read: http.client closed it
                    ended = True
                    break
                sock.settimeout(self._timeout(self.settings.read_timeout))
                data = answer.read(min(CHUNK, limit - response.body_bytes))
                if not data:
                    ended = True
                    break
                response.body_bytes += len(data)
                if decoder is not None:
                    data = decoder.decompress(data, limit - kept)
                    response.truncated = response.truncated or bool(decoder.unconsumed_tail)
                pieces.append(data)
                kept += len(data)
            if not ended and not response.truncated and not answer.isclosed():
                # One byte more tells whether the page goes on; nothing further is read.
                sock.settimeout(self._timeout(self.settings.read_timeout))
                response.truncated = bool(answer.read(1))
        except http.client.IncompleteRead as exc:
            pieces.append(exc.partial[: max(0, limit - kept)])
            response.body_error = "page incomplète / incomplete page"
        except (OSError, http.client.HTTPException, zlib.error, _Failure) as exc:
            response.body_error = (
                exc.reason if isinstance(exc, _Failure) else self._exchange_reason(exc)
            )
        response.body = b"".join(pieces)[:limit]

    # -- recording -----------------------------------------------------------------------------

    def _base_attributes(self, response: Response) -> dict[str, JsonValue]:
        attributes: dict[str, JsonValue] = {"url": response.target.shown}
        if not response.verified:
            attributes["tls_verified"] = False
        return attributes

    def _record(self, response: Response) -> None:
        """Headers, cookie names and the certificate's issuer of one answer."""
        host = response.target.host
        cookies = 0
        for name, value in response.headers:
            if name.strip().lower() == "set-cookie":
                cookie = cookie_name(value)
                if cookie and cookies < COOKIES_MAX:
                    cookies += 1
                    self.fact(Channel.HTTP_COOKIE, host, cookie, self._base_attributes(response))
                continue
            self.fact(
                Channel.HTTP_HEADER,
                host,
                header_value(name, value),
                self._base_attributes(response),
            )
        if response.tls is not None and response.tls.verified:
            certificate = response.tls.certificate
            details = certificate_facts(certificate)
            self.fact(
                Channel.TLS_ISSUER,
                host,
                issuer_organisation(certificate),
                {
                    key: value
                    for key, value in details.items()
                    if key in ("certificate_subject", "certificate_not_after")
                },
            )

    def _page(self, response: Response, attributes: dict[str, JsonValue]) -> None:
        if not response.body:
            return
        text = response.body.decode(
            charset_of(response.header("Content-Type"), response.body), "replace"
        )
        facts: PageFacts = read_page(text, response.target.url, self.fetcher.scope.allows)
        host = response.target.host
        if not facts.complete:
            attributes["html_incomplete"] = True
        self.fact(Channel.HTTP_TITLE, host, facts.title, self._base_attributes(response))
        for generator in facts.generators:
            self.fact(Channel.HTTP_GENERATOR, host, generator, self._base_attributes(response))
        for marker, example in facts.markers.items():
            self.fact(
                Channel.HTTP_PATH,
                host,
                marker,
                {**self._base_attributes(response), "example": example},
            )
        if facts.refresh:
            following = next_target(response.target.url, facts.refresh)
            if isinstance(following, Target):
                # Recorded, never followed (like any redirect that leaves the scope).
                attributes["meta_refresh"] = following.shown
                if response.verified and not self.fetcher.scope.allows(following.host):
                    self.fact(
                        Channel.HTTP_REDIRECT,
                        host,
                        following.host,
                        {"from": response.target.shown, "to": following.shown, "kind": "meta"},
                    )

    def _summary(
        self, response: Response, chain: list[JsonValue], attributes: dict[str, JsonValue]
    ) -> None:
        """`http.url` of the site: where it ended, how, over what."""
        self._page(response, attributes)
        target = response.target
        summary: dict[str, JsonValue] = {
            "status": response.status,
            "address": response.address,
            "addresses": list(self.resolutions[target.host].addresses),
        }
        if chain:
            summary["redirects"] = chain
        tls = response.tls
        if tls is not None:
            summary["tls_version"] = tls.version
            summary["tls_cipher"] = tls.cipher
            summary["tls_verified"] = tls.verified
            if tls.verified:
                summary["certificate"] = "valid"
                summary.update(certificate_facts(tls.certificate))
            else:
                problem = self.certificate_problems.get(target.host, "?")
                summary["certificate"] = f"invalid: {problem}"
        content_type = printable(response.header("Content-Type"), 100)
        if content_type:
            summary["content_type"] = content_type
        if response.body_bytes:
            summary["body_bytes"] = response.body_bytes
        if response.truncated:
            summary["truncated"] = True
            self.note(
                target.host,
                f"page de plus de {self.settings.max_body} octets : seuls les "
                f"{self.settings.max_body} premiers sont lus",
                f"page larger than {self.settings.max_body} bytes: only the first "
                f"{self.settings.max_body} read",
            )
        if response.body_error:
            summary["body_error"] = response.body_error
            self.fail(
                target.host,
                "lecture de la page interrompue / page read cut short",
                response.body_error,
            )
        summary.update(attributes)
        self.fact(Channel.HTTP_URL, self.host, target.shown, summary)
