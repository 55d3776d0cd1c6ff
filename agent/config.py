"""Load and validate the agent's TOML configuration.

Every error names the file, the key and what is wrong, in French then English, so that a tired
sysadmin fixes it in one go: all problems of a file are reported together.

Run as root, the agent reads no file (configuration, token, password, CA bundle) that another user
owns or can change, directly or through a directory above it: a planted ./tiebreak.toml would
otherwise send the real token to another server (the class of GLPI Agent CVE-2024-28240).
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import reprlib
import stat
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from inventory import OrganisationType, siren_is_valid
from inventory.limits import ORGANISATION_NAME_MAX

if TYPE_CHECKING:
    from probes.fleet.settings import FleetSettings

DEFAULT_PATHS = (Path("tiebreak.toml"), Path("/etc/tiebreak/agent.toml"))
DNS_TIMEOUT_MAX: Final = 60.0
"""Longest wait for one DNS answer, in seconds."""
PROBE_TIMEOUT_MAX: Final = 86_400.0
"""Longest time a probe may run, in seconds (a day)."""


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = str(path) if path else "configuration"
        super().__init__("\n".join(f"{where}: {p}" for p in problems))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _show(value: Any) -> str:
    """A short repr of a configuration value for an error message."""
    return reprlib.repr(value)


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    """Accept `scheme://host[:port][/path]` only: nothing that could carry a secret.

    The value of the error never echoes a URL that may hold one. An LDAP URL's query holds
    attributes, scope, filter and extensions (RFC 4516), and an extension such as X-BINDPW can
    carry the bind password; the directory URL is copied into the inventory.
    """
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(
            "espace ou caractère de contrôle dans l'URL / "
            "whitespace or control character in the URL"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(
            f"URL invalide / invalid URL: attendu / expected {' or '.join(schemes)}://host[:port]"
        ) from None
    if parts.password:
        raise ValueError("pas de mot de passe dans l'URL / no password in the URL")
    if "@" in parts.netloc:
        raise ValueError(
            "pas d'identifiant dans l'URL (« user@ ») / no user name in the URL ('user@')"
        )
    if "?" in value:
        raise ValueError(
            "pas de « ? » dans l'URL : une requête, ou les attributs, portée, filtre et "
            "extensions LDAP (RFC 4516), peuvent porter un mot de passe (X-BINDPW) / no '?' in "
            "the URL: a query, or LDAP attributes, scope, filter and extensions (RFC 4516), can "
            "carry a password (X-BINDPW)"
        )
    if "#" in value:
        raise ValueError("pas de fragment « # » dans l'URL / no fragment '#' in the URL")
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(
            f"URL invalide / invalid URL {value!r}: attendu / expected {' or '.join(schemes)}://host"
        )
    return value


def _seconds(most: float) -> Callable[[Any], float]:
    """Validator of a duration: a finite number of seconds, above 0 and at most `most`."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(
                f"nombre de secondes attendu / number of seconds expected, pas / not {_show(value)}"
            )
        if not math.isfinite(value) or not 0 < value <= most:
            raise ValueError(
                f"durée invalide / invalid duration {_show(value)}: plus de 0 et au plus "
                f"{most:g} secondes / more than 0 and at most {most:g} seconds"
            )
        return float(value)

    return check


def _integer(least: int, most: int) -> Callable[[Any], int]:
    """Validator of a whole number from `least` to `most` (a boolean is not one)."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(
                f"nombre entier attendu / whole number expected, pas / not {_show(value)}"
            )
        if not least <= value <= most:
            raise ValueError(f"{value} hors de / out of {least}..{most}")
        return value

    return check


def _check_cidr(value: str) -> str:
    from probes.scope import ScopeError, parse_network

    if not isinstance(value, str):
        raise ValueError(f"CIDR attendu / CIDR expected, pas / not {_show(value)}")
    try:
        return str(parse_network(value, "CIDR"))
    except ScopeError as exc:
        raise ValueError(
            f"CIDR invalide / invalid CIDR {value!r} (ex. 127.0.0.0/8, ::1/128) — {exc}"
        ) from None


class OrganisationConfig(_Section):
    """`[organisation]`: who is scanned."""

    name: str = Field(min_length=1, max_length=ORGANISATION_NAME_MAX)
    siren: str | None = None
    type: OrganisationType = OrganisationType.COMMUNE

    @field_validator("siren")
    @classmethod
    def _siren(cls, value: str | None) -> str | None:
        if value is not None and not siren_is_valid(value.replace(" ", "")):
            raise ValueError(
                f"SIREN invalide / invalid SIREN {value!r}: 9 chiffres, clé de Luhn / "
                "9 digits with a valid Luhn key"
            )
        return value.replace(" ", "") if value else None


def _check_domain(value: str) -> str:
    name = value.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(valid_label(label) for label in labels):
        raise ValueError(f"nom de domaine invalide / invalid domain name {value!r}")
    return name


def _check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"adresse IP invalide / invalid IP address {value!r}") from None
    return value


def _check_label(value: str) -> str:
    if not valid_label(value):
        raise ValueError(f"sélecteur DKIM invalide / invalid DKIM selector {value!r}")
    return value


Cidr = Annotated[str, AfterValidator(_check_cidr)]
DnsLabel = Annotated[str, AfterValidator(_check_label)]
DomainName = Annotated[str, AfterValidator(_check_domain)]
IpAddress = Annotated[str, AfterValidator(_check_ip)]
DnsTimeout = Annotated[float, BeforeValidator(_seconds(DNS_TIMEOUT_MAX))]
ProbeTimeout = Annotated[float, BeforeValidator(_seconds(PROBE_TIMEOUT_MAX))]
Port = Annotated[int, BeforeValidator(_integer(1, 65535))]
Retries = Annotated[int, BeforeValidator(_integer(0, 5))]
PageSize = Annotated[int, BeforeValidator(_integer(1, 1000))]
DirectoryTimeout = Annotated[float, BeforeValidator(_seconds(300.0))]


class ScopeConfig(_Section):
    """`[scope]`: the only domains and networks the agent may look at."""

    domains: list[DomainName] = Field(default_factory=list)
    networks: list[Cidr] = Field(default_factory=list)
    exclude: list[Cidr] = Field(default_factory=list)
    allow_public: bool = False

    @model_validator(mode="after")
    def _targets(self) -> ScopeConfig:
        from probes.scope import ScopeError, targets

        if self.networks:
            try:
                targets(self.networks, self.exclude, self.allow_public, limit=None)
            except ScopeError as exc:
                raise ValueError(str(exc)) from None
        return self


PortRange = Annotated[str | int, AfterValidator(lambda value: _check_ports(value))]


def _check_ports(value: str | int) -> str:
    """A port (22) or a range ("8000-8100") of 1 to 65535, as nmap's -p reads it."""
    text = str(value)
    low, _, high = text.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise ValueError(
            f'port ou plage attendu (22, "8000-8100") / port or range expected, pas / not '
            f"{_show(value)}"
        ) from None
    if isinstance(value, bool) or not 1 <= first <= last <= 65535:
        raise ValueError(f"port hors de 1 à 65535 / port outside 1 to 65535: {_show(value)}")
    return f"{first}-{last}" if last != first else str(first)


class HttpConfig(_Section):
    """`[http]`: how the web probe fetches the sites of `[scope] domains`."""

    ca_file: Path | None = None  # certificates to trust instead of the system store
    timeout: Annotated[float, BeforeValidator(_seconds(300.0))] = 30.0  # per site
    concurrency: Annotated[int, BeforeValidator(_integer(1, 64))] = 8


class NmapConfig(_Section):
    """`[nmap]`: how the network service probe scans `[scope] networks`."""

    tcp_ports: list[PortRange] | None = None  # None: the probe's list for vendor identification
    udp_ports: list[PortRange] | None = None  # UDP needs root; None: the probe's list
    max_rate: Annotated[int, BeforeValidator(_integer(1, 10_000))] = 300
    host_timeout: Annotated[float, BeforeValidator(_seconds(3600.0))] = 300.0
    scan_type: Literal["syn", "connect"] = "syn"  # as root; without root, always connect
    version_intensity: Annotated[int, BeforeValidator(_integer(0, 9))] | None = None
    reverse_dns: bool = False


def valid_label(label: str) -> bool:
    """A DNS label of 1 to 63 ASCII letters, digits, `-` or `_`, not starting or ending in `-`."""
    return (
        0 < len(label) <= 63
        and label.isascii()
        and all(c.isalnum() or c in "-_" for c in label)
        and not label.startswith("-")
        and not label.endswith("-")
    )


class DnsConfig(_Section):
    """`[dns]`: the resolvers to ask (empty: the system's)."""

    nameservers: list[IpAddress] = Field(default_factory=list)
    port: Port = 53
    timeout: DnsTimeout = 2.0
    retries: Retries = 1
    dkim_selectors: list[DnsLabel] = Field(default_factory=list)


class DirectoryConfig(_Section):
    """`[directory]`: the LDAP / Active Directory to read."""

    url: str
    bind_dn: str | None = Field(default=None, min_length=1, max_length=1000)
    password_file: Path | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    starttls: bool = True
    ca_file: Path | None = None
    insecure: bool = False
    page_size: PageSize = 500
    timeout: DirectoryTimeout = 15.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value, ("ldap", "ldaps"))

    @model_validator(mode="after")
    def _credentials(self) -> DirectoryConfig:
        secrets = [self.password_file is not None, self.password_env is not None]
        if all(secrets):
            raise ValueError(
                "password_file et password_env s'excluent : gardez-en un / password_file and "
                "password_env exclude each other: keep one"
            )
        if self.bind_dn is not None and not any(secrets):
            raise ValueError(
                "bind_dn demande password_file (fichier en mode 600) ou password_env / bind_dn "
                "needs password_file (a file of mode 600) or password_env"
            )
        if self.bind_dn is None and any(secrets):
            raise ValueError("un mot de passe sans bind_dn / a password without bind_dn")
        if (
            self.bind_dn is not None
            and self.url.lower().startswith("ldap://")
            and not self.starttls
            and not self.insecure
        ):
            raise ValueError(
                "starttls = false avec bind_dn enverrait le mot de passe en clair : utilisez "
                "ldaps:// ou StartTLS / starttls = false with bind_dn would send the password "
                "in clear: use ldaps:// or StartTLS"
            )
        return self

    def password(self) -> str | None:
        """Read the bind password from its file (mode 600) or environment variable, never from
        the TOML."""
        if self.password_file is not None:
            return read_secret_file(self.password_file, private=True)
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise OSError(
                    f"variable d'environnement {self.password_env} absente / environment "
                    f"variable {self.password_env} is not set ([directory] password_env)"
                )
            return value
        return None


def _megabytes(value: Any) -> float:
    """A size in megabytes: a finite number above 0, at most a million (a terabyte)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"taille en Mo attendue / size in MB expected, pas / not {_show(value)} (ex. 100)"
        )
    if not math.isfinite(value) or not 0 < value <= 1_000_000:
        raise ValueError(
            f"taille invalide / invalid size {_show(value)}: plus de 0 et au plus 1000000 Mo / "
            "more than 0 and at most 1000000 MB"
        )
    return float(value)


def _is_loopback(host: str) -> bool:
    """`localhost`, or an address of 127.0.0.0/8 or ::1 (no name is resolved)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_server_url(value: str) -> str:
    """`https://`, or `http://` to a loopback address only: a token never crosses a network in
    clear."""
    _check_url(value, ("http", "https"))
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(
            f"http:// seulement vers l'adresse de bouclage (127.0.0.0/8, ::1, localhost), pas "
            f"{host} : le jeton et l'inventaire passeraient en clair sur le réseau ; utilisez "
            f"https:// / http:// only to a loopback address (127.0.0.0/8, ::1, localhost), not "
            f"{host}: the token and the inventory would cross the network in clear; use https://"
        )
    return value


DEFAULT_SPOOL_MAX_MB: Final = 100.0
"""Default bound of the spool, in megabytes."""


class ServerConfig(_Section):
    """`[server]`: where inventories are sent, how hard to try, how much may wait."""

    url: str
    token_file: Path | None = None
    ca_bundle: Path | None = None  # certificates to trust instead of the system store
    spool_max_mb: Annotated[float, BeforeValidator(_megabytes)] = DEFAULT_SPOOL_MAX_MB
    retries: Annotated[int, BeforeValidator(_integer(0, 10))] = 3  # after the first attempt
    retry_base: Annotated[float, BeforeValidator(_seconds(600.0))] = 2.0
    retry_cap: Annotated[float, BeforeValidator(_seconds(3600.0))] = 60.0
    retry_after_max: Annotated[float, BeforeValidator(_seconds(86_400.0))] = 300.0
    timeout: Annotated[float, BeforeValidator(_seconds(3600.0))] = 120.0  # per answer

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_server_url(value)


class ProbesConfig(_Section):
    """`[probes]`: which probes run, and for how long at most."""

    enable: list[str] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)
    timeout: ProbeTimeout | None = None
    timeouts: dict[str, ProbeTimeout] = Field(default_factory=dict)


EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
FLEET_KEY_NAME: Final = "fleet-pseudonym.key"


def default_fleet_key() -> Path:
    """Where the fleet's pseudonym key is kept when `[fleet] pseudonym_key_file` is not set: the
    agent's state directory ($TIEBREAK_STATE, else /var/lib/tiebreak as root, else
    $XDG_STATE_HOME/tiebreak), beside the scan history."""
    from agent.history import state_path

    return state_path() / FLEET_KEY_NAME


def _secret(section: str, file: Path | None, env: str | None, key: str) -> str | None:
    """A secret from its file (mode 600) or environment variable; OSError naming the key."""
    if file is not None:
        try:
            return read_secret_file(file, private=True)
        except OSError as exc:
            raise OSError(f"[{section}] {key}_file: {exc}") from None
    if env:
        value = os.environ.get(env)
        if value is None:
            raise OSError(
                f"[{section}] {key}_env: variable d'environnement {env} absente / environment "
                f"variable {env} is not set"
            )
        return value.strip()
    return None


class FleetConfig(_Section):
    """`[fleet]`: workstation inventories already kept elsewhere (files, a GLPI server)."""

    name: str = Field(default="parc", min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    folders: list[Path] = Field(default_factory=list)
    glpi_url: str | None = None
    glpi_app_token_file: Path | None = None
    glpi_app_token_env: EnvName | None = None
    glpi_user_token_file: Path | None = None
    glpi_user_token_env: EnvName | None = None
    ca_file: Path | None = None
    timeout: Annotated[float, BeforeValidator(_seconds(300.0))] = 30.0
    page_size: PageSize = 200
    max_machines: Annotated[int, BeforeValidator(_integer(1, 1_000_000))] = 100_000
    max_file_mb: Annotated[int, BeforeValidator(_integer(1, 1024))] = 64
    pseudonym_key_file: Path | None = None

    @field_validator("glpi_url")
    @classmethod
    def _glpi_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value, ("https",))

    @model_validator(mode="after")
    def _sources(self) -> FleetConfig:
        if not self.folders and self.glpi_url is None:
            raise ValueError(
                "ni folders ni glpi_url : rien à lire / neither folders nor glpi_url: nothing "
                "to read"
            )
        for key in ("glpi_app_token", "glpi_user_token"):
            if getattr(self, f"{key}_file") is not None and getattr(self, f"{key}_env"):
                raise ValueError(
                    f"{key}_file et {key}_env s'excluent : gardez-en un / {key}_file and "
                    f"{key}_env exclude each other: keep one"
                )
        user_token = self.glpi_user_token_file is not None or bool(self.glpi_user_token_env)
        if self.glpi_url is not None and not user_token:
            raise ValueError(
                "glpi_url demande glpi_user_token_file (fichier en mode 600) ou "
                "glpi_user_token_env / glpi_url needs glpi_user_token_file (a file of mode "
                "600) or glpi_user_token_env"
            )
        if self.glpi_url is None and user_token:
            raise ValueError("un jeton GLPI sans glpi_url / a GLPI token without glpi_url")
        return self

    def pseudonym_key(self) -> bytes:
        """The organisation's pseudonym key, created (32 random bytes, mode 600) on first use.

        Kept by the agent, never sent: the same key gives the same pseudonyms scan after scan;
        another key gives others.
        """
        import secrets

        path = self.pseudonym_key_file or default_fleet_key()
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
        try:
            key = bytes.fromhex(read_secret_file(path, private=True))
        except ValueError:
            raise OSError(
                f"{path} : clé illisible (64 chiffres hexadécimaux attendus) / unreadable key "
                "(64 hexadecimal digits expected)"
            ) from None
        if len(key) < 16:
            raise OSError(f"{path} : clé trop courte / key too short (16 octets / bytes minimum)")
        return key

    def settings(self) -> FleetSettings:
        """What the fleet probe gets: the secrets read now, or why they could not be (the
        probe's run then fails with that reason, the other probes go on)."""
        from dataclasses import replace

        from probes.fleet.settings import MIB, FleetSettings

        settings = FleetSettings(
            locus=self.name,
            folders=tuple(self.folders),
            glpi_url=self.glpi_url,
            ca_file=self.ca_file,
            timeout=self.timeout,
            page_size=self.page_size,
            max_machines=self.max_machines,
            max_file_bytes=self.max_file_mb * MIB,
        )
        try:
            key = self.pseudonym_key()
        except OSError as exc:
            return replace(settings, setup_error=f"[fleet] pseudonym_key_file: {exc}")
        try:
            app_token = _secret(
                "fleet", self.glpi_app_token_file, self.glpi_app_token_env, "glpi_app_token"
            )
            user_token = _secret(
                "fleet", self.glpi_user_token_file, self.glpi_user_token_env, "glpi_user_token"
            )
        except OSError as exc:
            return replace(settings, pseudonym_key=key, setup_error=str(exc))
        return replace(settings, pseudonym_key=key, app_token=app_token, user_token=user_token)


class Config(_Section):
    """The whole agent configuration."""

    organisation: OrganisationConfig
    scope: ScopeConfig = Field(default_factory=ScopeConfig)
    dns: DnsConfig = Field(default_factory=DnsConfig)
    directory: DirectoryConfig | None = None
    fleet: FleetConfig | None = None
    nmap: NmapConfig = Field(default_factory=NmapConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    server: ServerConfig | None = None
    probes: ProbesConfig = Field(default_factory=ProbesConfig)


def _fields_at(model: type[BaseModel], location: tuple[str | int, ...]) -> list[str]:
    """Valid key names at `location` (for 'did you mean' hints)."""
    current: Any = model
    for part in location:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                current = candidate
                break
        else:
            return []
    return list(getattr(current, "model_fields", {}))


def _describe(error: Any) -> str:
    location: tuple[str | int, ...] = tuple(error["loc"])
    section = f"[{location[0]}]" if location else ""
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in location[1:]).lstrip(".")
    where = f"{section} {key}".strip()
    kind = error["type"]
    if kind == "extra_forbidden":
        valid = _fields_at(Config, location[:-1])
        hint = difflib.get_close_matches(str(location[-1]), valid, n=1)
        suggestion = f"; vouliez-vous dire / did you mean '{hint[0]}' ?" if hint else ""
        if len(location) == 1:
            where = f"[{location[0]}]"
            return f"{where}: section inconnue / unknown section{suggestion}"
        return f"{where}: clé inconnue / unknown key{suggestion}"
    if kind == "missing":
        return f"{where}: clé obligatoire manquante / required key missing"
    return f"{where}: {_message(error)}"


def _message(error: Any) -> str:
    """Pydantic's message in French then English, for the kinds a configuration meets."""
    context = error.get("ctx") or {}
    kind = error["type"]
    if kind == "string_too_long":
        most = context.get("max_length")
        return f"{most} caractères au plus / at most {most} characters ({len(error['input'])})"
    if kind == "string_too_short":
        return "ne doit pas être vide / must not be empty"
    if kind == "string_type":
        return f"texte attendu / text expected, pas / not {_show(error['input'])}"
    if kind == "list_type":
        return f"liste attendue / list expected, pas / not {_show(error['input'])}"
    if kind in ("dict_type", "model_type"):
        return f"table attendue / table expected, pas / not {_show(error['input'])}"
    if kind == "enum":
        expected = context.get("expected", "")
        return f"valeur invalide / invalid value {_show(error['input'])}: {expected}"
    return str(error["msg"]).removeprefix("Value error, ")


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a decoded TOML document."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(e) for e in exc.errors()]) from None
    except RecursionError:
        raise ConfigError(path, [_TOO_DEEP]) from None


_TOO_DEEP = (
    "imbrication trop profonde / nested too deeply "
    "(tableaux ou tables dans des tableaux ou tables / arrays or tables within arrays or tables)"
)


def find_config(explicit: Path | None) -> Path:
    """The configuration file to use: `--config`, else ./tiebreak.toml, else /etc/tiebreak."""
    if explicit is not None:
        return explicit
    for candidate in DEFAULT_PATHS:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(p) for p in DEFAULT_PATHS)
    raise ConfigError(
        None,
        [
            f"aucun fichier de configuration / no configuration file "
            f"(cherché / looked for {tried}); "
            "créez-en un avec / create one with `tiebreak config init`"
        ],
    )


def load_config(explicit: Path | None = None) -> tuple[Path, Config]:
    """Find, read and validate the configuration file.

    As root, a file another user owns or can change is refused before it is read; a secret file
    that other users can read gives a warning on stderr.
    """
    path = find_config(explicit)
    try:
        raw = _read_trusted(path)
    except FileNotFoundError:
        raise ConfigError(path, ["fichier introuvable / file not found"]) from None
    except UntrustedFileError as exc:
        raise ConfigError(path, [*exc.reasons, _UNTRUSTED_HINT]) from None
    except OSError as exc:
        raise ConfigError(path, [f"illisible / unreadable: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [f"pas en UTF-8 / not UTF-8 (octet / byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"TOML invalide / invalid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError(path, [_TOO_DEEP]) from None
    config = parse_config(data, path)
    _check_files(path, config)
    return path, config


_UNTRUSTED_HINT = (
    "un autre utilisateur pourrait choisir ce que lit tiebreak (serveur, jeton) : placez la "
    "configuration dans un dossier de root, ou passez --config / another user could choose what "
    "tiebreak reads (server, token): keep the configuration in a directory of root's, or pass "
    "--config"
)


def _check_files(path: Path, config: Config) -> None:
    problems = []
    files: list[tuple[str, Path | None, bool]] = []
    if config.directory:
        files.append(("[directory] password_file", config.directory.password_file, True))
    if config.http.ca_file is not None:
        files.append(("[http] ca_file", config.http.ca_file, False))
    if config.server:
        files.append(("[server] token_file", config.server.token_file, True))
        files.append(("[server] ca_bundle", config.server.ca_bundle, False))
    if config.fleet:
        problems.extend(_fleet_folders(config.fleet))
        files.append(("[fleet] glpi_app_token_file", config.fleet.glpi_app_token_file, True))
        files.append(("[fleet] glpi_user_token_file", config.fleet.glpi_user_token_file, True))
        files.append(("[fleet] ca_file", config.fleet.ca_file, False))
    for key, file, secret in files:
        if file is None:
            continue
        if not file.is_file():
            problems.append(f"{key}: fichier introuvable / file not found: {file}")
            continue
        problems.extend(f"{key}: {reason}" for reason in untrusted(file))
        if secret:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o044:
                _warn(
                    f"{path}: {key}: {file} lisible par d'autres utilisateurs / readable by "
                    f"other users (mode {mode:04o}); chmod 600 {file}"
                )
    if problems:
        raise ConfigError(path, problems)


def _fleet_folders(fleet: FleetConfig) -> list[str]:
    """Why `[fleet] folders` cannot be read: each entry named with its index."""
    return [
        f"[fleet] folders[{index}]: dossier introuvable / folder not found: {folder}"
        for index, folder in enumerate(fleet.folders)
        if not folder.is_dir()
    ]


def _warn(message: str) -> None:
    print(f"tiebreak: attention / warning: {message}", file=sys.stderr)


class UntrustedFileError(OSError):
    """Root was asked to read a file that another user owns or can change."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("; ".join(reasons))


def _owner_and_mode(kind: str, where: Path, info: os.stat_result) -> list[str]:
    """Why root must not trust this one entry (a file, directory or symbolic link)."""
    french, english = {"file": ("le fichier", "file"), "dir": ("le dossier", "directory")}.get(
        kind, ("le lien symbolique", "symbolic link")
    )
    reasons = []
    if info.st_uid != 0:
        reasons.append(
            f"{french} / {english} {where} appartient à l'utilisateur {info.st_uid} / "
            f"is owned by uid {info.st_uid}"
        )
    sticky_dir = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
    if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o022 and not sticky_dir:
        mode = stat.S_IMODE(info.st_mode)
        reasons.append(
            f"{french} / {english} {where} modifiable par d'autres utilisateurs / writable by "
            f"other users (mode {mode:04o})"
        )
    return reasons


def untrusted(path: Path) -> list[str]:
    """Why root must not read `path`; empty when it may, or when not running as root.

    Refused: a file, a directory above it or a symbolic link on the way that another user owns,
    or that group or others can write (a sticky directory such as /tmp is fine: others cannot
    rename or delete root's entries in it). Both the path as written and the resolved path are
    checked. A missing file gives no reason here: reading it fails anyway.
    """
    if os.geteuid() != 0:
        return []
    reasons: list[str] = []
    chains = dict.fromkeys((Path(os.path.abspath(path)), Path(os.path.realpath(path))))
    for chain in chains:
        for depth, current in enumerate((chain, *chain.parents)):
            try:
                info = os.lstat(current)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                kind = "link"
            else:
                kind = "file" if depth == 0 and not stat.S_ISDIR(info.st_mode) else "dir"
            for reason in _owner_and_mode(kind, current, info):
                if reason not in reasons:
                    reasons.append(reason)
    return [f"refusé en root / refused as root: {reason}" for reason in reasons]


def _read_trusted(path: Path) -> bytes:
    """The content of `path`; as root, UntrustedFileError when another user controls it.

    The opened file is checked again, so that a file swapped after the path check is refused.
    """
    reasons = untrusted(path)
    if reasons:
        raise UntrustedFileError(reasons)
    with path.open("rb") as handle:
        if os.geteuid() == 0:
            opened = _owner_and_mode("file", path, os.fstat(handle.fileno()))
            if opened:
                raise UntrustedFileError([f"refusé en root / refused as root: {r}" for r in opened])
        return handle.read()


def read_secret_file(path: Path, private: bool = False) -> str:
    """A secret (bind password, agent token) from its file, stripped of surrounding whitespace.

    As root, the file is refused (UntrustedFileError, an OSError) when another user owns it or
    can change it or a directory above it: read secrets through this, right before use. With
    `private`, a file that its group or others may read is refused too (`chmod 600`).
    """
    if private:
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise OSError(f"{path}: {exc.strerror}") from None
        if mode & 0o077:
            raise UntrustedFileError(
                [
                    f"{path} : lisible par d'autres que son propriétaire (mode "
                    f"{stat.S_IMODE(mode):o}) ; faites chmod 600 / readable by others than its "
                    "owner: run chmod 600"
                ]
            )
    return _read_trusted(path).decode("utf-8").strip()


def effective(config: Config) -> dict[str, Any]:
    """The configuration as it will be used, secrets masked, for `config check`."""
    data = config.model_dump(mode="json")
    if config.directory is not None:
        secret = config.directory.password_file or config.directory.password_env
        data["directory"]["password"] = "********" if secret else None
    return data
