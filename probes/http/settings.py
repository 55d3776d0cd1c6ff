"""How the `http` probe fetches: trust store, bounds and timeouts (`HttpSettings`).

Imports nothing from tiebreak, so that `probes.base.ProbeContext` can hold one without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Bounds of the `http` probe; the defaults suit a collectivité's few public sites."""

    ca_file: Path | None = None
    """PEM certificates to trust instead of the system store (None: the system store, which
    OpenSSL's `SSL_CERT_FILE` and `SSL_CERT_DIR` environment variables override)."""
    max_body: int = 2 * MIB
    """Bytes of a page read at most; the rest is never read (the connection is closed)."""
    max_redirects: int = 5
    """Redirects followed per site, within the scope's domains only."""
    connect_timeout: float = 5.0
    """Seconds for one TCP connection (each address tried gets its own)."""
    read_timeout: float = 10.0
    """Seconds of silence tolerated while waiting for the TLS handshake, headers or body."""
    site_timeout: float = 30.0
    """Seconds for everything about one site (name resolution, redirects, reading, parsing):
    a server trickling bytes is cut at this deadline."""
    concurrency: int = 8
    """Sites fetched at the same time."""
    max_addresses: int = 4
    """Addresses of one host name tried in turn when a connection fails (IPv4 first)."""
    user_agent: str | None = None
    """User-Agent header; None: `tiebreak/<version> (inventaire TIE Break)`."""
