"""The configuration form: each section's fields, how a field shows its value and reads it back.

One `Field` per key of `agent.config` that a person sets by hand; tables of their own
(`[probes.timeouts]`) are edited in the TOML tab. A field reads what was typed into the Python
value the TOML gets (a list from commas, a number when it is one); anything else is kept as typed
so that validation names the mistake beside the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agent.i18n import t

Kind = Literal["text", "list", "ports", "number", "bool", "choice"]


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a section as the form edits it."""

    section: str
    key: str
    kind: Kind
    french: str
    english: str
    required: bool = False
    choices: tuple[str, ...] = ()
    placeholder: str = ""
    default: Any = None
    """What `agent.config` uses when the key is absent (booleans and choices)."""

    @property
    def label(self) -> str:
        """The field's name as a person reads it."""
        return t(self.french, self.english)

    @property
    def ident(self) -> str:
        """A widget id for the field."""
        return f"field-{self.section}-{self.key}"

    def shown(self, value: Any) -> str:
        """The value as the input shows it."""
        if value is None:
            return ""
        if self.kind in ("list", "ports") and isinstance(value, list):
            return ", ".join(str(item) for item in value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def read(self, text: str) -> Any | None:
        """What was typed, as the TOML value (None: remove the key)."""
        text = text.strip()
        if self.kind in ("list", "ports"):
            items = [item.strip() for item in text.split(",") if item.strip()]
            if self.kind == "ports":
                return [int(item) if item.isdigit() else item for item in items] if text else None
            return items
        if not text:
            return "" if self.required else None
        if self.kind == "number":
            for convert in (int, float):
                try:
                    return convert(text)
                except ValueError:
                    continue
        return text


@dataclass(frozen=True, slots=True)
class Section:
    """A section of the configuration and its fields."""

    name: str
    french: str
    english: str
    fields: tuple[Field, ...]
    testable: bool = False

    @property
    def label(self) -> str:
        """The section's name as a person reads it."""
        return t(self.french, self.english)


def _f(section: str, key: str, kind: Kind, french: str, english: str, **extra: Any) -> Field:
    return Field(section, key, kind, french, english, **extra)


SECTIONS: tuple[Section, ...] = (
    Section(
        "organisation",
        "Organisation",
        "Organisation",
        (
            _f("organisation", "name", "text", "nom", "name", required=True),
            _f("organisation", "siren", "text", "SIREN", "SIREN", placeholder="213105554"),
            _f(
                "organisation",
                "type",
                "choice",
                "type",
                "type",
                choices=("commune", "epci", "departement", "region", "other"),
                default="commune",
            ),
        ),
    ),
    Section(
        "scope",
        "Périmètre",
        "Scope",
        (
            _f("scope", "domains", "list", "domaines", "domains", placeholder="exemple.fr"),
            _f("scope", "networks", "list", "réseaux", "networks", placeholder="127.0.0.1/32"),
            _f("scope", "exclude", "list", "exclusions", "excluded", placeholder="127.0.0.9/32"),
            _f(
                "scope",
                "allow_public",
                "bool",
                "réseaux publics",
                "public networks",
                default=False,
            ),
        ),
        testable=True,
    ),
    Section(
        "dns",
        "DNS",
        "DNS",
        (
            _f("dns", "nameservers", "list", "résolveurs", "resolvers", placeholder="127.0.0.1"),
            _f("dns", "port", "number", "port", "port", placeholder="53"),
            _f("dns", "timeout", "number", "délai (s)", "timeout (s)", placeholder="2.0"),
            _f("dns", "retries", "number", "tentatives", "retries", placeholder="1"),
            _f("dns", "dkim_selectors", "list", "sélecteurs DKIM", "DKIM selectors"),
        ),
        testable=True,
    ),
    Section(
        "directory",
        "Annuaire",
        "Directory",
        (
            _f("directory", "url", "text", "URL", "URL", placeholder="ldaps://127.0.0.1"),
            _f("directory", "bind_dn", "text", "compte (bind_dn)", "account (bind_dn)"),
            _f("directory", "password_file", "text", "fichier mot de passe", "password file"),
            _f(
                "directory",
                "password_env",
                "text",
                "variable mot de passe",
                "password variable",
            ),
            _f("directory", "starttls", "bool", "StartTLS", "StartTLS", default=True),
            _f("directory", "ca_file", "text", "autorité (CA)", "CA file"),
            _f(
                "directory",
                "insecure",
                "bool",
                "sans vérification",
                "no verification",
                default=False,
            ),
            _f("directory", "page_size", "number", "taille de page", "page size"),
            _f("directory", "timeout", "number", "délai (s)", "timeout (s)"),
        ),
        testable=True,
    ),
    Section(
        "server",
        "Serveur",
        "Server",
        (
            _f("server", "url", "text", "URL", "URL", placeholder="https://tiebreak.exemple.fr"),
            _f("server", "token_file", "text", "fichier du jeton", "token file"),
            _f("server", "ca_bundle", "text", "autorités (CA)", "CA bundle"),
            _f("server", "spool_max_mb", "number", "attente max (Mo)", "spool max (MB)"),
            _f("server", "retries", "number", "nouvelles tentatives", "retries"),
            _f("server", "timeout", "number", "délai (s)", "timeout (s)"),
        ),
        testable=True,
    ),
    Section(
        "probes",
        "Sondes",
        "Probes",
        (
            _f("probes", "enable", "list", "activer", "enable", placeholder="local, dns"),
            _f("probes", "disable", "list", "désactiver", "disable"),
            _f("probes", "timeout", "number", "délai (s)", "timeout (s)", placeholder="300"),
        ),
    ),
    Section(
        "nmap",
        "nmap",
        "nmap",
        (
            _f("nmap", "tcp_ports", "ports", "ports TCP", "TCP ports", placeholder="22, 8000-8100"),
            _f("nmap", "udp_ports", "ports", "ports UDP", "UDP ports"),
            _f("nmap", "max_rate", "number", "paquets/s", "packets/s", placeholder="300"),
            _f("nmap", "host_timeout", "number", "délai/hôte (s)", "host timeout (s)"),
            _f(
                "nmap",
                "scan_type",
                "choice",
                "type",
                "type",
                choices=("syn", "connect"),
                default="syn",
            ),
            _f("nmap", "version_intensity", "number", "intensité", "intensity"),
            _f("nmap", "reverse_dns", "bool", "DNS inverse", "reverse DNS", default=False),
        ),
    ),
    Section(
        "http",
        "Web",
        "Web",
        (
            _f("http", "ca_file", "text", "autorités (CA)", "CA file"),
            _f("http", "timeout", "number", "délai/site (s)", "site timeout (s)"),
            _f("http", "concurrency", "number", "sites en parallèle", "sites at once"),
        ),
    ),
)
"""The form, section by section, in the order of the example configuration."""

KNOWN: frozenset[tuple[str, str]] = frozenset(
    (field.section, field.key) for section in SECTIONS for field in section.fields
)
"""Every (section, key) the form shows: problems about them are shown beside the field."""


def section(name: str) -> Section:
    """The section called `name`."""
    return next(s for s in SECTIONS if s.name == name)
