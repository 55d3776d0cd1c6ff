"""Load and validate the agent's TOML configuration.

Every error names the file, the key and what is wrong, in French then English, so that a tired
sysadmin fixes it in one go: all problems of a file are reported together.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from inventory import OrganisationType, siren_is_valid

DEFAULT_PATHS = (Path("tiebreak.toml"), Path("/etc/tiebreak/agent.toml"))


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = str(path) if path else "configuration"
        super().__init__("\n".join(f"{where}: {p}" for p in problems))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(
            f"URL invalide / invalid URL {value!r}: attendu / expected {' or '.join(schemes)}://host"
        )
    if parts.password:
        raise ValueError("pas de mot de passe dans l'URL / no password in the URL")
    return value


def _check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(
            f"CIDR invalide / invalid CIDR {value!r} (ex. 127.0.0.0/8, ::1/128)"
        ) from None


class OrganisationConfig(_Section):
    """`[organisation]`: who is scanned."""

    name: str = Field(min_length=1)
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


class ScopeConfig(_Section):
    """`[scope]`: the only domains and networks the agent may look at."""

    domains: list[DomainName] = Field(default_factory=list)
    networks: list[Cidr] = Field(default_factory=list)
    exclude: list[Cidr] = Field(default_factory=list)


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
    port: int = Field(default=53, ge=1, le=65535)
    timeout: float = Field(default=2.0, gt=0, le=60)
    retries: int = Field(default=1, ge=0, le=5)
    dkim_selectors: list[DnsLabel] = Field(default_factory=list)


class DirectoryConfig(_Section):
    """`[directory]`: the LDAP / Active Directory to read."""

    url: str
    bind_dn: str | None = None
    password_file: Path | None = None
    password_env: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value, ("ldap", "ldaps"))

    def password(self) -> str | None:
        """Read the bind password from its file or environment variable, never from the TOML."""
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        if self.password_env:
            return os.environ.get(self.password_env)
        return None


class ServerConfig(_Section):
    """`[server]`: where inventories are sent."""

    url: str
    token_file: Path | None = None
    ca_bundle: Path | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value, ("http", "https"))


class ProbesConfig(_Section):
    """`[probes]`: which probes run, and for how long at most."""

    enable: list[str] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)
    timeout: float | None = Field(default=None, gt=0)
    timeouts: dict[str, float] = Field(default_factory=dict)


class Config(_Section):
    """The whole agent configuration."""

    organisation: OrganisationConfig
    scope: ScopeConfig = Field(default_factory=ScopeConfig)
    dns: DnsConfig = Field(default_factory=DnsConfig)
    directory: DirectoryConfig | None = None
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
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a decoded TOML document."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(e) for e in exc.errors()]) from None


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
    """Find, read and validate the configuration file."""
    path = find_config(explicit)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, ["fichier introuvable / file not found"]) from None
    except OSError as exc:
        raise ConfigError(path, [f"illisible / unreadable: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [f"pas en UTF-8 / not UTF-8 (octet / byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"TOML invalide / invalid TOML: {exc}"]) from None
    config = parse_config(data, path)
    _check_files(path, config)
    return path, config


def _check_files(path: Path, config: Config) -> None:
    problems = []
    files: list[tuple[str, Path | None]] = []
    if config.directory:
        files.append(("[directory] password_file", config.directory.password_file))
    if config.server:
        files.append(("[server] token_file", config.server.token_file))
        files.append(("[server] ca_bundle", config.server.ca_bundle))
    for key, file in files:
        if file is not None and not file.is_file():
            problems.append(f"{key}: fichier introuvable / file not found: {file}")
    if problems:
        raise ConfigError(path, problems)


def effective(config: Config) -> dict[str, Any]:
    """The configuration as it will be used, secrets masked, for `config check`."""
    data = config.model_dump(mode="json")
    if config.directory is not None:
        secret = config.directory.password_file or config.directory.password_env
        data["directory"]["password"] = "********" if secret else None
    return data
