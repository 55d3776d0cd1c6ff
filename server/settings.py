"""Server settings: where the database is, how big a request may be, how cookies are sent.

The database is PostgreSQL when `--database-url` or TIEBREAK_DATABASE_URL names one, otherwise a
SQLite file in the data directory (`--data-dir`, TIEBREAK_DATA, default ./tiebreak-data).

Inventory size limits. The largest realistic inventory, 5,000 findings and 50,000 observations,
is 10 MB of compact JSON (15 MB indented) and 1 MB once gzip-compressed, as agents send it. The
default limits leave twice that: 8 MB on the wire, 32 MB inflated. Parsing an inventory costs
some 14 times its inflated size in memory (the JSON tree, then the models), and a server process
parses at most two at once (server/ingest.py, INGEST_SLOTS): about 900 MB at the limits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("tiebreak-data")
DEFAULT_MAX_BODY = 8 * 1024 * 1024
DEFAULT_MAX_DECOMPRESSED = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the web application needs to know at start."""

    database_url: str
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED
    secure_cookies: bool = False
    session_hours: int = 12
    login_attempts: int = 5
    login_window_s: int = 900
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto
    are believed (`--trusted-proxy`); none by default, so that no client can forge them."""


def from_environment() -> Settings:
    """Settings passed by `tiebreak server run --workers N` to each worker process."""
    return Settings(
        database_url=os.environ["TIEBREAK_DATABASE_URL"],
        max_body_bytes=int(os.environ.get("TIEBREAK_MAX_BODY", DEFAULT_MAX_BODY)),
        max_decompressed_bytes=int(
            os.environ.get("TIEBREAK_MAX_INFLATED", DEFAULT_MAX_DECOMPRESSED)
        ),
        secure_cookies=os.environ.get("TIEBREAK_SECURE_COOKIES") == "1",
        trusted_proxies=tuple(
            entry for entry in os.environ.get("TIEBREAK_TRUSTED_PROXIES", "").split(",") if entry
        ),
    )


def to_environment(settings: Settings) -> dict[str, str]:
    """The environment variables from which `from_environment` rebuilds `settings`."""
    return {
        "TIEBREAK_DATABASE_URL": settings.database_url,
        "TIEBREAK_MAX_BODY": str(settings.max_body_bytes),
        "TIEBREAK_MAX_INFLATED": str(settings.max_decompressed_bytes),
        "TIEBREAK_SECURE_COOKIES": "1" if settings.secure_cookies else "0",
        "TIEBREAK_TRUSTED_PROXIES": ",".join(settings.trusted_proxies),
    }


def data_dir(explicit: Path | None = None) -> Path:
    """The data directory: `--data-dir`, else TIEBREAK_DATA, else ./tiebreak-data."""
    if explicit is not None:
        return explicit
    return Path(os.environ.get("TIEBREAK_DATA") or DEFAULT_DATA_DIR)


def database_url(explicit: str | None = None, directory: Path | None = None) -> str:
    """The database to use: `--database-url`, else TIEBREAK_DATABASE_URL, else SQLite."""
    url = explicit or os.environ.get("TIEBREAK_DATABASE_URL")
    if url:
        return url
    folder = data_dir(directory)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return f"sqlite:///{(folder / 'tiebreak.sqlite3').resolve()}"
