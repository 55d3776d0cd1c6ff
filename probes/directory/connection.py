"""Connecting to the directory: TLS that verifies by default, errors a person can act on, and
paged, streamed searches that stop cleanly at the probe's deadline.

The password is handed to ldap3 and nowhere else: it is never logged, never in an error, never in
an observation. Every error names the server (the configured URL, which holds no credential).
"""

from __future__ import annotations

import contextlib
import math
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from ldap3 import ANONYMOUS, BASE, LEVEL, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core import exceptions as ldap_errors

from probes.base import DirectorySettings

PAGED_RESULTS = "1.2.840.113556.1.4.319"
"""OID of the simple paged results control (RFC 2696)."""

PAGE_SIZE_MAX = 1000
SCOPES: dict[str, Literal["BASE", "LEVEL", "SUBTREE"]] = {
    "base": BASE,
    "one": LEVEL,
    "sub": SUBTREE,
}

# LDAP result codes that deserve their own sentence (RFC 4511, 4.1.9).
_RESULT_HINTS = {
    8: (
        "le serveur exige une connexion protégée (strongerAuthRequired) : utilisez ldaps:// ou "
        "StartTLS",
        "the server requires a protected connection (strongerAuthRequired): use ldaps:// or "
        "StartTLS",
    ),
    49: (
        "identifiants refusés (invalidCredentials) : vérifiez bind_dn et le mot de passe",
        "credentials refused (invalidCredentials): check bind_dn and the password",
    ),
    50: (
        "droits insuffisants (insufficientAccessRights) pour ce compte",
        "insufficient access rights (insufficientAccessRights) for this account",
    ),
    51: ("serveur occupé (busy)", "server busy"),
    52: ("serveur indisponible (unavailable)", "server unavailable"),
}


class DirectoryError(Exception):
    """Something a person can act on, in French then English, naming the server."""

    def __init__(self, server: str, french: str, english: str) -> None:
        self.server = server
        super().__init__(f"annuaire {server} : {french} / directory {server}: {english}")


class SearchInterrupted(DirectoryError):
    """A search stopped before its end (timeout, connection lost): what was read stands."""


class SearchRefused(DirectoryError):
    """The server refused one search (rights, limits): the others may still work."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the directory is and how the connection is protected."""

    url: str  # as configured, without credentials
    host: str
    port: int
    tls: str  # "ldaps", "starttls" or "none"
    verified: bool  # whether the server's certificate is checked
    base: str | None  # base DN from the URL's path (RFC 4516), else the server's naming context

    @classmethod
    def from_settings(cls, settings: DirectorySettings) -> Endpoint:
        parts = urlsplit(settings.url)
        ldaps = parts.scheme.lower() == "ldaps"
        host = (parts.hostname or "").lower()
        port = parts.port or (636 if ldaps else 389)
        tls = "ldaps" if ldaps else ("starttls" if settings.starttls else "none")
        base = unquote(parts.path.lstrip("/")) or None
        return cls(settings.url, host, port, tls, tls != "none" and not settings.insecure, base)

    @property
    def locus(self) -> str:
        """Where the findings are: the directory server's host name."""
        return self.host


def _tls(settings: DirectorySettings) -> Tls:
    if settings.insecure:
        return Tls(validate=ssl.CERT_NONE)
    return Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=str(settings.ca_file) if settings.ca_file else None,
        version=None,  # the default context: modern protocol versions only
    )


def _certificate_hint(endpoint: Endpoint, exc: BaseException) -> DirectoryError:
    text = str(exc)
    if "doesn't match" in text or "hostname" in text.lower():
        return DirectoryError(
            endpoint.url,
            f"le certificat ne porte pas le nom {endpoint.host} : connectez-vous par le nom que "
            "porte le certificat",
            f"the certificate does not name {endpoint.host}: connect with the name it carries",
        )
    return DirectoryError(
        endpoint.url,
        "certificat non approuvé : indiquez l'autorité de l'annuaire dans [directory] ca_file "
        f"({_short(text)})",
        f"untrusted certificate: give the directory's CA in [directory] ca_file ({_short(text)})",
    )


def _short(text: str, most: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1] + "…"


def _is_certificate_problem(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError | ldap_errors.LDAPCertificateError):
            return True
        text = str(seen)
        if "CERTIFICATE_VERIFY_FAILED" in text or "doesn't match any name" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Directory:
    """An open connection to the directory, anonymous or bound."""

    def __init__(
        self,
        settings: DirectorySettings,
        remaining: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.endpoint = Endpoint.from_settings(settings)
        self._remaining = remaining
        self.bound = False
        timeout = self._timeout()
        self._server = Server(
            self.endpoint.host,
            port=self.endpoint.port,
            use_ssl=self.endpoint.tls == "ldaps",
            tls=_tls(settings),
            get_info=NONE,
            connect_timeout=timeout,
        )
        self._connection = Connection(
            self._server,
            authentication=ANONYMOUS,
            read_only=True,
            raise_exceptions=False,
            receive_timeout=timeout,
            auto_referrals=False,
            return_empty_attributes=False,
        )

    # -- connecting ------------------------------------------------------------------------------

    def _timeout(self) -> int:
        """Whole seconds (ldap3 packs them into SO_RCVTIMEO), within the probe's deadline."""
        left = self._remaining()
        timeout = self.settings.timeout
        if left is not None:
            timeout = min(timeout, left - 1.0)
        return max(1, math.ceil(timeout))

    def _fail(self, french: str, english: str) -> DirectoryError:
        return DirectoryError(self.endpoint.url, french, english)

    def open(self) -> None:
        """Connect, and protect the connection with StartTLS when configured."""
        try:
            self._connection.open()
            if self.endpoint.tls == "starttls" and not self._connection.start_tls():
                raise self._fail(
                    "StartTLS refusé par le serveur : utilisez ldaps:// ou starttls = false pour "
                    "une lecture anonyme",
                    "StartTLS refused by the server: use ldaps:// or starttls = false for an "
                    "anonymous read",
                )
        except DirectoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - ldap3 wraps socket and TLS errors in many classes
            if _is_certificate_problem(exc):
                raise _certificate_hint(self.endpoint, exc) from None
            if isinstance(exc, ldap_errors.LDAPStartTLSError):
                raise self._fail(
                    f"StartTLS impossible ({_short(str(exc))})",
                    f"StartTLS failed ({_short(str(exc))})",
                ) from None
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: BaseException) -> DirectoryError:
        cause = exc
        while cause.__cause__ or cause.__context__:
            cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
        if isinstance(cause, socket.gaierror):
            return self._fail(
                f"nom {self.endpoint.host} inconnu du résolveur ({cause.strerror})",
                f"name {self.endpoint.host} unknown to the resolver ({cause.strerror})",
            )
        detail = _short(str(exc)) or type(exc).__name__
        return self._fail(
            f"injoignable sur le port {self.endpoint.port} ({detail})",
            f"unreachable on port {self.endpoint.port} ({detail})",
        )

    def bind(self) -> None:
        """Bind with the configured account (simple bind, over the protected connection)."""
        settings = self.settings
        if settings.bind_dn is None or settings.password is None:
            return
        connection = self._connection
        connection.authentication = SIMPLE
        connection.user = settings.bind_dn
        connection.password = settings.password
        try:
            ok = connection.bind()
        except Exception as exc:  # noqa: BLE001 - socket errors during the bind
            raise self._unreachable(exc) from None
        finally:
            connection.password = None  # the password stays in ldap3's bind request only
        if not ok:
            raise self._result_error(connection.result, "bind")
        self.bound = True

    def _result_error(self, result: dict[str, Any] | None, operation: str) -> DirectoryError:
        code = int((result or {}).get("result", -1))
        description = (result or {}).get("description") or "?"
        french, english = _RESULT_HINTS.get(
            code, (f"{operation} refusé ({description})", f"{operation} refused ({description})")
        )
        return self._fail(french, english)

    def close(self) -> None:
        """Unbind and close; never raises."""
        with contextlib.suppress(Exception):  # closing a dead connection is not an error
            self._connection.unbind()

    # -- reading ---------------------------------------------------------------------------------

    def read_entry(self, dn: str, attributes: Sequence[str]) -> dict[str, list[bytes]] | None:
        """One entry's raw attribute values, or None when it does not exist or is unreadable."""
        for entry in self.search(dn, "(objectClass=*)", attributes, scope="base", paged=False):
            return entry
        return None

    def search(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        scope: str = "sub",
        paged: bool = True,
    ) -> Iterator[dict[str, list[bytes]]]:
        """Entries' raw attribute values (lower-case names), page by page, never all at once.

        A missing base gives nothing. A search cut short (timeout, connection lost, the probe's
        deadline) raises SearchInterrupted after the entries already read were yielded.
        """
        connection = self._connection
        page_size = min(max(1, self.settings.page_size), PAGE_SIZE_MAX)
        cookie: bytes | None = None
        while True:
            left = self._remaining()
            if left is not None and left < 2.0:
                raise SearchInterrupted(
                    self.endpoint.url,
                    "délai de la sonde atteint, lecture incomplète",
                    "the probe's time is up, read incomplete",
                )
            try:
                connection.search(
                    base,
                    search_filter,
                    search_scope=SCOPES[scope],
                    attributes=list(attributes) or ["1.1"],
                    paged_size=page_size if paged else None,
                    paged_cookie=cookie,
                    time_limit=int(self.settings.timeout),
                )
            except ldap_errors.LDAPException as exc:
                raise SearchInterrupted(
                    self.endpoint.url,
                    f"lecture interrompue ({_short(str(exc)) or type(exc).__name__})",
                    f"read interrupted ({_short(str(exc)) or type(exc).__name__})",
                ) from None
            result = connection.result or {}
            code = int(result.get("result", -1))
            if code == 32:  # noSuchObject: the container does not exist here
                return
            if code == 10:  # referral: another partition or server, not followed
                return
            if code not in (0, 4):  # success, sizeLimitExceeded (entries still came)
                description = result.get("description") or code
                raise SearchRefused(
                    self.endpoint.url,
                    f"lecture de {_short(base, 120)} refusée ({description})",
                    f"reading {_short(base, 120)} refused ({description})",
                )
            for response in connection.response or ():
                if response.get("type") == "searchResEntry":
                    raw = response.get("raw_attributes") or {}
                    yield {name.lower(): list(values) for name, values in raw.items()}
            if not paged:
                return
            controls = result.get("controls") or {}
            cookie = controls.get(PAGED_RESULTS, {}).get("value", {}).get("cookie")
            if not cookie:
                return
