"""DMARC records (RFC 7489): the policy, and the addresses receiving aggregate and failure reports.

The domains receiving reports name DMARC reporting services (dmarcian, Valimail…); the policy
says how far the collectivité went in protecting its mail.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReportAddress:
    """One `mailto:` URI of a `rua` or `ruf` tag."""

    kind: str  # "rua" or "ruf"
    address: str
    domain: str


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """A parsed DMARC record."""

    policy: str
    subdomain_policy: str | None
    reports: tuple[ReportAddress, ...]
    tags: dict[str, str]


def is_dmarc(text: str) -> bool:
    """Tell whether a TXT string is a DMARC record (starts with `v=DMARC1`)."""
    return text.strip().replace(" ", "").upper().startswith("V=DMARC1")


def parse_dmarc(text: str) -> DmarcRecord | None:
    """Parse a DMARC record, or None when `text` is not one; unknown tags are kept as they are."""
    if not is_dmarc(text):
        return None
    tags: dict[str, str] = {}
    for part in text.split(";"):
        key, separator, value = part.partition("=")
        if separator:
            tags.setdefault(key.strip().lower(), value.strip())
    reports: list[ReportAddress] = []
    for kind in ("rua", "ruf"):
        for uri in tags.get(kind, "").split(","):
            uri = uri.strip()
            if not uri.lower().startswith("mailto:"):
                continue
            # "mailto:dmarc@example.fr!10m": the optional size limit follows a "!".
            address = uri[len("mailto:") :].split("!", 1)[0].strip().lower()
            _local, at, domain = address.rpartition("@")
            if at and domain:
                reports.append(ReportAddress(kind, address, domain.rstrip(".")))
    return DmarcRecord(
        policy=tags.get("p", "").lower(),
        subdomain_policy=tags["sp"].lower() if "sp" in tags else None,
        reports=tuple(reports),
        tags=tags,
    )
