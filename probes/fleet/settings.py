"""What the `fleet` probe reads (`FleetSettings`), built by the agent from `[fleet]`.

Imports nothing from tiebreak, so that `probes.base.ProbeContext` can hold one without a cycle.
Secrets (the GLPI tokens, the pseudonym key) are read by the agent before the scan and never
appear in a repr, a note or the inventory; a secret that could not be read is handed over as
`setup_error`, which fails the probe's run with that message while the other probes go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """The fleet sources to read and their bounds."""

    pseudonym_key: bytes = field(default=b"", repr=False)
    """Secret key of the machines' pseudonyms (HMAC-SHA-256); never leaves the agent."""
    locus: str = "parc"
    """Where the fleet's observations and findings are said to be (`[fleet] name`)."""
    folders: tuple[Path, ...] = ()
    glpi_url: str | None = None
    """The GLPI REST API, `https://host/glpi/apirest.php`."""
    app_token: str | None = field(default=None, repr=False)
    user_token: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    """PEM certificates to trust for GLPI instead of the system store."""
    timeout: float = 30.0
    """Seconds for connecting to GLPI and for each answer."""
    page_size: int = 200
    """Rows asked per GLPI page (`range`)."""
    max_machines: int = 100_000
    """Machines read at most, all sources together; the rest is named in a note."""
    max_file_bytes: int = 64 * MIB
    """Bytes of one inventory file read at most, after decompression."""
    setup_error: str | None = None
    """Why the agent could not prepare the sources (a token or key file it could not read)."""
