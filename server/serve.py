"""The HTTP connection layer of `tiebreak server run`: uvicorn's httptools protocol with the bounds
it lacks, so that one hostile client cannot freeze the server or exhaust its file descriptors.

- **Header size and count**: a request whose request line and headers pass `max_header_bytes`,
  or that has more than `max_headers` headers, is answered 431 and the connection closed; the bytes
  are counted as they arrive, so a header of 128 MB costs at most one read past the limit.
- **Header timeout**: a request's headers must arrive within `header_timeout_s` of its first byte
  (or of the connection for the first request): a client that sends half a header is answered 408.
- **Body timeout**: once the headers are in, the body must keep coming; `body_timeout_s` without a
  byte closes the connection (a `Content-Length` larger than the body waits no longer).
- **Connections**: at `max_connections` open connections, a new one takes the place of the
  connection that has waited longest without a request being served (answered 408 and closed);
  when every connection is busy serving a request, the new one is answered 503 with `Retry-After`
  and closed at once. File descriptors stay available, and slow clients cannot keep others out.
Uvicorn's own keep-alive timeout bounds idle connections between requests.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

# Connections accepted in one pass of the event loop share its time: this count orders them.
_WAITING_ORDER = itertools.count()

_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Bounds of every connection (defaults suit a collectivité's central server)."""

    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000

    def to_environment(self) -> dict[str, str]:
        """For worker processes, which rebuild the limits with `from_environment`."""
        return {
            "TIEBREAK_MAX_HEADER_BYTES": str(self.max_header_bytes),
            "TIEBREAK_MAX_HEADERS": str(self.max_headers),
            "TIEBREAK_HEADER_TIMEOUT": str(self.header_timeout_s),
            "TIEBREAK_BODY_TIMEOUT": str(self.body_timeout_s),
            "TIEBREAK_MAX_CONNECTIONS": str(self.max_connections),
        }

    @classmethod
    def from_environment(cls) -> ConnectionLimits:
        """The limits `tiebreak server run` passed in the environment, else the defaults."""
        default = cls()
        environ = os.environ
        return cls(
            max_header_bytes=int(
                environ.get("TIEBREAK_MAX_HEADER_BYTES", default.max_header_bytes)
            ),
            max_headers=int(environ.get("TIEBREAK_MAX_HEADERS", default.max_headers)),
            header_timeout_s=float(
                environ.get("TIEBREAK_HEADER_TIMEOUT", default.header_timeout_s)
            ),
            body_timeout_s=float(environ.get("TIEBREAK_BODY_TIMEOUT", default.body_timeout_s)),
            max_connections=int(environ.get("TIEBREAK_MAX_CONNECTIONS", default.max_connections)),
        )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded (see the module's docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = ConnectionLimits.from_environment()
        self._timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._header_count = 0
        self._in_headers = True
        self._refusal: tuple[int, str] | None = None
        self._since = 0.0
        self._order = 0  # breaks ties of `_since`: connections accepted in one loop pass

    # --- connections -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections and not self._evict_one():
            self.transport = transport
            self._answer(503, "trop de connexions ouvertes / too many open connections")
            return
        super().connection_made(transport)
        self._since, self._order = self.loop.time(), next(_WAITING_ORDER)
        self._arm(self.limits.header_timeout_s, 408)

    def _waiting(self) -> bool:
        """True while no request of this connection is being served (idle or mid-headers)."""
        return self._in_headers and (self.cycle is None or self.cycle.response_complete)

    def _evict_one(self) -> bool:
        """Make room for a new connection by closing the one that has waited longest without a
        request being served (a client sending half a header, an idle keep-alive): so that
        slow clients cannot keep everyone else out. False when every connection is busy."""
        waiting = [
            other
            for other in self.connections
            if isinstance(other, GuardedHttpToolsProtocol) and other._waiting()
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda other: (other._since, other._order))
        oldest._answer(408, "connexion inactive fermée / idle connection closed")
        self.connections.discard(oldest)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # --- timers ------------------------------------------------------------------------------

    def _arm(self, seconds: float, status: int) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expire, status)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, status: int) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._in_headers:
            self._answer(status, "en-têtes trop lents / headers too slow")
        elif self.cycle is not None and not self.cycle.response_complete:
            # The application may be reading the body: it sees a disconnection and stops.
            self.transport.close()

    # --- parsing -----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if (
            self._in_headers
            and self._header_bytes > self.limits.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._answer(431, "en-têtes trop volumineux / headers too large")
        elif not self._in_headers and self._timer is not None and not self.transport.is_closing():
            self._arm(self.limits.body_timeout_s, 408)

    def on_message_begin(self) -> None:
        first = self.cycle is None
        super().on_message_begin()
        if not first:
            # A later request on a kept-alive connection: it has waited since now. The first
            # request keeps the connection's own time, so that the oldest connection is the
            # first accepted, whatever order the loop reads their first bytes in.
            self._since, self._order = self.loop.time(), next(_WAITING_ORDER)
        self._in_headers = True
        self._header_count = 0
        self._arm(self.limits.header_timeout_s, 408)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = (431, "trop d'en-têtes / too many headers")
            raise ValueError("too many headers")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._header_bytes = 0
        # The body, if any, must keep coming; armed again on every chunk (data_received).
        self._arm(self.limits.body_timeout_s, 408)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        # Whatever comes next on this connection is the next request's headers.
        self._in_headers = True
        self._header_bytes = 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:
            status, reason = self._refusal
            self._answer(status, reason)
            return
        super().send_400_response(msg)

    def _answer(self, status: int, message: str) -> None:
        """Answer the client with a short plain-text error and close the connection."""
        self._disarm()
        body = message.encode("utf-8")
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
        ]
        if status == 503:
            head.append(b"retry-after: 5\r\n")
        self.transport.write(b"".join(head) + b"\r\n" + body)
        self.transport.close()
