"""Send inventories to the central server through the write-ahead spool (agent/spool.py).

`tiebreak scan --send` first writes the inventory to the spool, then sends what waits there,
oldest first, this inventory last, and removes each one the server took; `tiebreak send` sends
what waits without scanning. Killing the agent at any moment (even `kill -9` while the server
does not answer) therefore loses nothing: the next run sends it, and the server answers a resend
as the first time. An inventory goes out gzip-compressed with the agent token read from
`[server] token_file` (never from the command line, never logged), over https:// with the
certificate verified (system store or `[server] ca_bundle`), or http:// to a loopback address.

A transient failure (no connection, no answer in `[server] timeout`, 500, 502, 503, 504, 429) is
tried again up to `[server] retries` times, after a random wait of 0 to
min(retry_cap, retry_base × 2^attempt) seconds ("full jitter": many agents never retry in step).
A 429 or 503 with `Retry-After` (seconds or an HTTP date) waits what the server asks, unless it
asks more than `[server] retry_after_max`: then the run stops, everything stays in the spool, and
the message says when to try again.

One inventory never blocks the others:
- refused for good because of what it contains (400, 409, 413, 415, 422, and 403 when the server
  says the inventory describes another organisation than the token's): it moves to `rejected/` in
  the spool, with the server's reason beside it (`<id>.reason.txt`), and the next ones go;
- a temporary failure of that inventory (500...), once the retries are spent: it stays for the
  next run, and the next ones go;
- a failure that is not about the inventory (server unreachable or silent, certificate refused,
  token refused with 401, server busy with 429/503, a proxy or a redirection answering instead of
  the server): it and the rest stay in the spool, and this run stops there;
- a spool entry that is not a regular file (directory, symbolic link, FIFO...) is skipped with a
  warning, never followed nor read.

The last delivery attempt is remembered beside the scan history (agent/history.py) for
`tiebreak status`.
"""

from __future__ import annotations

import email.utils
import gzip
import random
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from agent.config import ServerConfig, read_secret_file
from agent.i18n import t
from agent.spool import (
    REJECTED,
    SUFFIX,
    Spool,
    SpoolEntry,
    SpoolError,
    SpoolFullError,
    SpoolState,
    Warn,
    limit_bytes,
    open_spool,
    spool_directory,
    spool_state,
    warn,
)

__all__ = [
    "API_PATH",
    "CHECK_PATH",
    "EXIT_NOT_SENT",
    "REJECTED",
    "SUFFIX",
    "Outcome",
    "Pacing",
    "Spool",
    "SpoolEntry",
    "SpoolError",
    "SpoolFullError",
    "SpoolState",
    "check_ready",
    "check_server",
    "deliver",
    "deliver_waiting",
    "open_spool",
    "read_token",
    "report",
    "send",
    "send_inventory",
    "spool_and_deliver",
    "spool_directory",
    "spool_state",
]

API_PATH = "/api/v1/inventories"
CHECK_PATH = "/api/v1/agent"
EXIT_NOT_SENT = 3
"""Exit code when an inventory was written but waits in the spool."""
PERMANENT = frozenset({400, 403, 409, 413, 415, 422})
"""Statuses that a resend of the same inventory would get again (403: only the server's own)."""
NOT_ABOUT_THE_INVENTORY = frozenset(
    {301, 302, 303, 307, 308, 401, 404, 405, 407, 429, 502, 503, 504}
)
"""Statuses every inventory would get now (token, address, proxy, busy server): stop the run."""
TRANSIENT = frozenset({429, 500, 502, 503, 504})
"""Statuses worth another attempt after a wait."""
HONOURS_RETRY_AFTER = frozenset({429, 503})
CONNECT_TIMEOUT = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Pacing:
    """How the sender waits between attempts; tests inject these so that nothing really sleeps."""

    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random
    """A number in [0, 1): the share of the backoff window actually waited."""
    now: Callable[[], datetime] = _utc_now


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one inventory: sent (with the server's receipt) or not, and why."""

    sent: bool
    message: str
    receipt: dict[str, Any] | None = None
    permanent: bool = False
    stop: bool = False
    """The failure is not about this inventory: the ones after it are not tried this time."""
    retry_at: datetime | None = None
    """When the server said to come back (Retry-After), when it did."""
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class _Attempt:
    outcome: Outcome
    transient: bool = False
    retry_after: float | None = None
    """Seconds the server asked to wait (Retry-After on 429 or 503)."""


def read_token(server: ServerConfig) -> str:
    """The agent token from `[server] token_file`."""
    if server.token_file is None:
        raise OSError(
            t(
                "[server] token_file manquant : le fichier du jeton d'agent est nécessaire",
                "[server] token_file missing: the agent token file is needed",
            )
        )
    # Checked again right before use: as root, a file another user can change is refused.
    return read_secret_file(server.token_file)


def _printable(text: str, most: int = 300) -> str:
    """A server's text made safe for a terminal: no control characters, bounded."""
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return cleaned[:most] + ("…" if len(cleaned) > most else "")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (causes, contexts, urllib3 reasons, arguments)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        wrapped.extend(current.args)
        stack.extend(e for e in wrapped if isinstance(e, BaseException))


# OpenSSL's X509_V_ERR_* codes that a person can act on.
_EXPIRED, _NOT_YET_VALID = 10, 9
_WRONG_NAME = frozenset({62, 64})  # host name, IP address
_UNTRUSTED = frozenset({2, 18, 19, 20, 21, 24, 27})


def _certificate_problem(error: ssl.SSLCertVerificationError, server: ServerConfig) -> str:
    code = error.verify_code
    if code == _EXPIRED:
        return t(
            "certificat du serveur expiré : l'équipe du serveur doit le renouveler",
            "the server's certificate has expired: the server's team must renew it",
        )
    if code == _NOT_YET_VALID:
        return t(
            "certificat du serveur pas encore valide : vérifiez l'horloge de cette machine",
            "the server's certificate is not valid yet: check this machine's clock",
        )
    if code in _WRONG_NAME:
        return t(
            "le certificat du serveur ne porte pas le nom de [server] url : corrigez l'adresse",
            "the server's certificate does not carry the name in [server] url: fix the address",
        )
    if code in _UNTRUSTED:
        if server.ca_bundle is not None:
            return t(
                f"certificat non approuvé : l'autorité qui l'a signé n'est pas dans "
                f"[server] ca_bundle ({server.ca_bundle})",
                f"untrusted certificate: the authority that signed it is not in "
                f"[server] ca_bundle ({server.ca_bundle})",
            )
        return t(
            "certificat non approuvé : indiquez l'autorité dans [server] ca_bundle",
            "untrusted certificate: give its authority in [server] ca_bundle",
        )
    return t(
        f"certificat du serveur refusé ({error.verify_message})",
        f"the server's certificate was refused ({error.verify_message})",
    )


def _failure(exc: requests.RequestException, server: ServerConfig) -> tuple[str, bool]:
    """A clear message for a request that got no answer, and whether it is worth retrying."""
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _certificate_problem(cause, server), False
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            reason = getattr(cause, "reason", None) or type(cause).__name__
            if reason == "WRONG_VERSION_NUMBER":
                return t(
                    "le serveur ne parle pas TLS à cette adresse (https:// vers un port http ?)",
                    "the server does not speak TLS at this address (https:// to an http port?)",
                ), False
            return t(f"échec TLS avec le serveur ({reason})", f"TLS failure ({reason})"), False
    host = server.url
    if isinstance(exc, requests.Timeout):
        return t(
            f"serveur injoignable : pas de réponse de {host} dans les délais",
            f"server unreachable: no answer from {host} in time",
        ), True
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return t(
                f"serveur injoignable : connexion refusée par {host} (serveur arrêté ?)",
                f"server unreachable: connection refused by {host} (server stopped?)",
            ), True
        if "NameResolutionError" in type(cause).__name__ or "gaierror" in type(cause).__name__:
            return t(
                f"serveur injoignable : nom introuvable ({host})",
                f"server unreachable: name not found ({host})",
            ), True
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return t(
            f"réponse de {host} interrompue en route",
            f"the answer from {host} was cut off on the way",
        ), True
    if isinstance(exc, requests.ConnectionError):
        return t(
            f"serveur injoignable : {host} ({type(exc).__name__})",
            f"server unreachable: {host} ({type(exc).__name__})",
        ), True
    # Only the kind of failure: enough to act on, and it cannot carry the token.
    return t(
        f"serveur injoignable ({type(exc).__name__})", f"server unreachable ({type(exc).__name__})"
    ), False


def _verify(server: ServerConfig) -> bool | str:
    """What requests checks the certificate against; OSError when ca_bundle is missing."""
    if server.ca_bundle is None:
        return True
    if not server.ca_bundle.is_file():
        raise OSError(
            t(
                f"[server] ca_bundle : fichier introuvable : {server.ca_bundle}",
                f"[server] ca_bundle: file not found: {server.ca_bundle}",
            )
        )
    return str(server.ca_bundle)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds asked by a `Retry-After` header (delta-seconds or HTTP date); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value) if len(value) < 10 else 1e9
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept-Language": t("fr", "en")}


def _post(body: bytes, server: ServerConfig, token: str, timeout: float, now: datetime) -> _Attempt:
    """One POST of a compressed inventory."""
    try:
        answer = requests.post(
            server.url.rstrip("/") + API_PATH,
            data=body,
            headers=_headers(token)
            | {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            timeout=(CONNECT_TIMEOUT, timeout),
            verify=_verify(server),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        message, transient = _failure(exc, server)
        # No answer at all: the next inventories would fare no better.
        return _Attempt(Outcome(False, message, stop=True), transient=transient)
    try:
        data = answer.json()
    except ValueError:
        data = None
    status = answer.status_code
    if status in (200, 201) and isinstance(data, dict):
        return _Attempt(Outcome(True, t("envoyé", "sent"), data))
    ours = isinstance(data, dict) and "detail" in data
    detail = _printable(str(data["detail"]) if ours and isinstance(data, dict) else answer.text)
    # A 403 is about the inventory only when the server itself says so (another organisation);
    # from a proxy in between, it is about everything.
    permanent = status in PERMANENT and (status != 403 or ours)
    stop = status in NOT_ABOUT_THE_INVENTORY or (status == 403 and not ours)
    message = f"HTTP {status}: {detail}"
    if status == 401:
        message = t(
            f"HTTP 401: jeton refusé par le serveur ({detail}) : vérifiez [server] token_file, "
            "ou demandez un nouveau jeton à l'équipe centrale",
            f"HTTP 401: token refused by the server ({detail}): check [server] token_file, "
            "or ask the central team for a new token",
        )
    elif 300 <= status < 400:
        where = _printable(answer.headers.get("location", ""), 200)
        message = t(
            f"HTTP {status}: le serveur redirige vers {where} : corrigez [server] url",
            f"HTTP {status}: the server redirects to {where}: fix [server] url",
        )
    wait = None
    if status in HONOURS_RETRY_AFTER:
        wait = retry_after(answer.headers.get("retry-after"), now)
    outcome = Outcome(False, message, permanent=permanent, stop=stop)
    return _Attempt(outcome, transient=status in TRANSIENT, retry_after=wait)


def _come_back(outcome: Outcome, wait: float, pacing: Pacing, attempts: int) -> Outcome:
    """Stop here: the server asks to wait `wait` seconds, more than this run may."""
    when = pacing.now() + timedelta(seconds=min(wait, 1e9))
    moment = when.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    return replace(
        outcome,
        message=t(
            f"{outcome.message} — le serveur demande d'attendre {wait:.0f} s, plus que "
            f"[server] retry_after_max : réessayez après {moment}",
            f"{outcome.message} — the server asks to wait {wait:.0f} s, more than "
            f"[server] retry_after_max: try again after {moment}",
        ),
        stop=True,
        retry_at=when,
        attempts=attempts,
    )


def send(
    document: bytes,
    server: ServerConfig,
    token: str,
    timeout: float | None = None,
    pacing: Pacing | None = None,
) -> Outcome:
    """POST one inventory (JSON bytes), trying again on transient failures."""
    pacing = pacing or Pacing()
    body = gzip.compress(document, compresslevel=6)
    attempt = 0
    while True:
        try:
            result = _post(body, server, token, timeout or server.timeout, pacing.now())
        except OSError as exc:  # ca_bundle gone
            return Outcome(False, str(exc), stop=True, attempts=attempt + 1)
        outcome = replace(result.outcome, attempts=attempt + 1)
        if outcome.sent or not result.transient:
            return outcome
        wait = result.retry_after
        if wait is not None and wait > server.retry_after_max:
            return _come_back(outcome, wait, pacing, attempt + 1)
        if attempt >= server.retries:
            if attempt:
                outcome = replace(
                    outcome,
                    message=t(
                        f"{outcome.message} ({attempt + 1} tentatives)",
                        f"{outcome.message} ({attempt + 1} attempts)",
                    ),
                )
            if wait is not None:
                outcome = replace(outcome, retry_at=pacing.now() + timedelta(seconds=wait))
            return outcome
        if wait is None:
            window = min(server.retry_cap, server.retry_base * 2**attempt)
            wait = pacing.random() * window
        pacing.sleep(wait)
        attempt += 1


def _send_waiting(
    spool: Spool,
    server: ServerConfig,
    token: str,
    pacing: Pacing | None,
    last: tuple[str, bytes] | None = None,
) -> list[tuple[str, Outcome]]:
    """Send what waits, oldest first, and `last` (name, document) at the end."""
    names = [name for name in spool.waiting() if last is None or name != last[0]]
    if last is not None:
        names.append(last[0])
    outcomes: list[tuple[str, Outcome]] = []
    for name in names:
        body = last[1] if last is not None and name == last[0] else spool.read(name)
        if body is None:
            continue
        outcome = send(body, server, token, pacing=pacing)
        if outcome.sent:
            spool.remove(name)
        elif outcome.permanent and not spool.reject(name, outcome.message):
            outcome = replace(outcome, permanent=False)  # left in the spool, said so
        outcomes.append((name, outcome))
        if outcome.stop:
            if last is not None and name != last[0]:
                outcomes.append((last[0], replace(outcome, attempts=0)))
            break
    return outcomes


def deliver(
    document: bytes,
    inventory_id: str,
    server: ServerConfig,
    directory: Path,
    *,
    pacing: Pacing | None = None,
    warn: Warn = warn,
) -> list[tuple[str, Outcome]]:
    """Spool this inventory (unless it already waits there), then send the waiting ones (oldest
    first) and this one last.

    The last outcome is this inventory's. Raises SpoolError (untrusted spool, nothing sent),
    SpoolFullError (disk full) or OSError (token unreadable: the inventory waits).
    """
    with open_spool(directory, warn) as spool:
        spooled = spool.read(inventory_id) if spool.has(inventory_id) else None
        if spooled is None:
            spooled = spool.put(inventory_id, document, limit_bytes(server))
        token = read_token(server)
        return _send_waiting(spool, server, token, pacing, (inventory_id, spooled))


def _remember(
    server: ServerConfig, outcomes: list[tuple[str, Outcome]], problem: str | None = None
) -> None:
    """Record this delivery attempt for `tiebreak status`; a failure is only a warning."""
    from agent.history import DeliveryItem, DeliveryRecord, record_delivery

    base = server.url.rstrip("/")
    items = tuple(
        DeliveryItem(
            inventory_id=name,
            sent=outcome.sent,
            rejected=outcome.permanent,
            message=outcome.message,
            page=base + _page(outcome.receipt) if outcome.receipt else None,
        )
        for name, outcome in outcomes
    )
    try:
        record_delivery(DeliveryRecord(datetime.now(UTC), base, items, problem))
    except OSError as exc:
        warn(
            t(
                f"dernier envoi non enregistré ({exc})",
                f"last delivery not recorded ({exc})",
            )
        )


def spool_and_deliver(
    document: bytes,
    inventory_id: str,
    server: ServerConfig,
    *,
    pacing: Pacing | None = None,
    warn: Warn = warn,
) -> list[tuple[str, Outcome]]:
    """Spool one inventory in the spool directory, deliver the waiting ones and it, and remember
    the attempt; the last outcome is this inventory's. Raises as `deliver` does."""
    try:
        outcomes = deliver(
            document, inventory_id, server, spool_directory(), pacing=pacing, warn=warn
        )
    except SpoolError:
        raise
    except OSError as exc:
        _remember(server, [], str(exc))
        raise
    _remember(server, outcomes)
    return outcomes


def deliver_waiting(
    server: ServerConfig,
    directory: Path | None = None,
    *,
    pacing: Pacing | None = None,
    warn: Warn = warn,
) -> list[tuple[str, Outcome]]:
    """Send what waits in the spool, oldest first, and remember the attempt (nothing is read
    when nothing waits). Raises SpoolError, or OSError when the token cannot be read."""
    with open_spool(directory or spool_directory(), warn) as spool:
        if not spool.waiting():
            return []
        try:
            token = read_token(server)
        except OSError as exc:
            _remember(server, [], str(exc))
            raise
        outcomes = _send_waiting(spool, server, token, pacing)
    _remember(server, outcomes)
    return outcomes


def check_server(server: ServerConfig) -> tuple[bool, str]:
    """Whether the server answers and accepts the token (nothing is sent), and a message."""
    try:
        token = read_token(server)
        verify = _verify(server)
    except OSError as exc:
        return False, str(exc)
    try:
        answer = requests.get(
            server.url.rstrip("/") + CHECK_PATH,
            headers=_headers(token),
            timeout=(CONNECT_TIMEOUT, min(server.timeout, 30.0)),
            verify=verify,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return False, _failure(exc, server)[0]
    try:
        data = answer.json()
    except ValueError:
        data = None
    organisation = data.get("organisation") if isinstance(data, dict) else None
    if answer.status_code == 200 and isinstance(organisation, dict):
        name = _printable(str(organisation.get("name", "?")), 200)
        return True, t(
            f"serveur joignable, jeton accepté (organisation : {name})",
            f"server reachable, token accepted (organisation: {name})",
        )
    detail = data.get("detail") if isinstance(data, dict) else None
    detail = _printable(str(detail if detail is not None else answer.text), 200)
    if answer.status_code == 401:
        return False, t(
            f"jeton refusé par le serveur ({detail}) : vérifiez [server] token_file, ou "
            "demandez un nouveau jeton à l'équipe centrale",
            f"token refused by the server ({detail}): check [server] token_file, or ask the "
            "central team for a new token",
        )
    if answer.status_code == 404:
        return False, t(
            f"{server.url} n'est pas un serveur tiebreak, ou une version trop ancienne "
            f"(pas de {CHECK_PATH})",
            f"{server.url} is not a tiebreak server, or too old a version (no {CHECK_PATH})",
        )
    return False, t(
        f"réponse inattendue du serveur : HTTP {answer.status_code}: {detail}",
        f"unexpected answer from the server: HTTP {answer.status_code}: {detail}",
    )


def check_ready(server: ServerConfig | None) -> ServerConfig:
    """Fail before scanning when `--send` cannot work: no [server] section, no readable token,
    or a spool directory that cannot be trusted (SpoolError)."""
    if server is None:
        raise OSError(
            t(
                "--send demande une section [server] (url, token_file) dans la configuration",
                "--send needs a [server] section (url, token_file) in the configuration",
            )
        )
    read_token(server)
    open_spool(spool_directory()).close()
    return server


def report(
    outcomes: list[tuple[str, Outcome]], server: ServerConfig, directory: Path, quiet: bool
) -> None:
    """Print what happened to each inventory: sent ones on stdout (unless quiet), the others on
    stderr."""
    base = server.url.rstrip("/")
    for name, outcome in outcomes:
        if outcome.sent and outcome.receipt is not None:
            if not quiet:
                print(
                    t(
                        f"Inventaire {name} envoyé, à valider sur {base}{_page(outcome.receipt)}",
                        f"Inventory {name} sent, to review at {base}{_page(outcome.receipt)}",
                    )
                )
        elif outcome.permanent:
            print(
                t(
                    f"tiebreak: inventaire {name} refusé par le serveur ({outcome.message}) ; "
                    f"gardé dans {directory / REJECTED}",
                    f"tiebreak: inventory {name} refused by the server ({outcome.message}); "
                    f"kept in {directory / REJECTED}",
                ),
                file=sys.stderr,
            )
        else:
            print(
                t(
                    f"tiebreak: inventaire {name} non envoyé ({outcome.message}) ; "
                    f"en attente dans {directory}, renvoyé par « tiebreak send » ou le "
                    "prochain scan --send",
                    f"tiebreak: inventory {name} not sent ({outcome.message}); "
                    f"waiting in {directory}, resent by 'tiebreak send' or the next scan --send",
                ),
                file=sys.stderr,
            )


def send_inventory(
    document: bytes,
    inventory_id: str,
    server: ServerConfig,
    quiet: bool,
    output: Path | None = None,
    pacing: Pacing | None = None,
) -> bool:
    """Spool and deliver this inventory (and the waiting ones), print what happened; True if it
    was sent. `output` is where the inventory was written too (named when it cannot be spooled).
    Raises SpoolError when the spool directory cannot be trusted (nothing sent)."""
    directory = spool_directory()
    try:
        outcomes = spool_and_deliver(document, inventory_id, server, pacing=pacing)
    except SpoolError:
        raise
    except SpoolFullError as exc:
        kept = ""
        if output is not None:
            kept = t(
                f" ; l'inventaire reste dans {output} : une fois de la place libérée, "
                f"« tiebreak send {output} » l'enverra",
                f"; the inventory stays in {output}: once space is freed, "
                f"'tiebreak send {output}' sends it",
            )
        print(f"tiebreak: {exc.strerror}{kept}", file=sys.stderr)
        return False
    except OSError as exc:
        # The token file went away: the inventory waits in the spool.
        print(f"tiebreak: {exc}", file=sys.stderr)
        return False
    report(outcomes, server, directory, quiet)
    return outcomes[-1][1].sent


def _page(receipt: dict[str, Any]) -> str:
    """Where people review the inventory: its web page (older servers: its API address)."""
    page = receipt.get("page") or receipt.get("url") or ""
    return _printable(str(page), 500)
