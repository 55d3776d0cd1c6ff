"""Provider IP ranges: the cloud and CDN providers' own published files, read, checked, stored
compactly, and looked up fast.

What is read (one parser per published format, `PROVIDERS`):

- `aws`: Amazon's `ip-ranges.json` (`prefixes`, `ipv6_prefixes`: prefix, region, service);
- `azure`: Microsoft's Service Tags file (`ServiceTags_Public_<date>.json`: `values[].properties`
  `addressPrefixes`, `region`, `systemService`);
- `google`: Google Cloud's `cloud.json` (`prefixes`: prefix, `service`, `scope` = region);
- `google-services`: Google's `goog.json` (every Google address, no service nor region);
- `oracle`: Oracle Cloud's `public_ip_ranges.json` (`regions[].cidrs[]`: cidr, tags);
- `cloudflare`: Cloudflare's `ips-v4` and `ips-v6` text lists, or its API answer (`/client/v4/ips`);
- `fastly`: Fastly's `public-ip-list` JSON (`addresses`, `ipv6_addresses`).

OVHcloud, Scaleway and Hetzner publish no machine-readable list of their ranges
(`NO_OFFICIAL_FILE`): the catalog's hand-written `cidr` matchers cover them.

A source file is refused, with the provider, the file and the entry at fault, when it is not the
format it claims (JSON structure, types), when a prefix is not a CIDR network, has host bits set,
is not a public network or is broader than a /8 (IPv4) or a /16 (IPv6), when it holds no range at
all or more than `MAX_ENTRIES`, or when its own date is unreadable or in the future. Compared with
the ranges already in place, a file that is older, or that has less than half the networks of one
address family, is refused too unless forced (`check_replacement`). Nothing here writes: the
command (`tiebreak catalog update-ranges`) replaces a ranges file atomically only once the new one
has passed every check.

A ranges file (`<provider>.json.gz`, `encode` / `decode`) records the provider, each source (URL
or file name, sha256, size), the source's own date (`published`) and version (AWS and Google
`syncToken`, Azure `changeNumber`, Cloudflare `etag`), the retrieval date, and the networks as
groups of CIDRs per (service, region); the same network listed under several services (AWS
`AMAZON` and `EC2`, Azure `AzureCloud` and `AzureStorage`) is kept once, with the most specific
service.

`RangeIndex` turns the networks of every provider into sorted disjoint segments per address
family, keyed by the packed address (`socket.inet_pton`), each knowing the most specific network
that covers it: a lookup is one `inet_pton` and one `bisect` (IPv4-mapped IPv6 addresses are looked
up as IPv4). Where two providers list the same network, the earlier one in `PROVIDERS` wins (Google
Cloud before the rest of Google).

The index a scan uses (`default_ranges`) is built once per process from the shipped snapshot
(`fingerprints/ranges/`), with each provider replaced by the file in the ranges directory
(`ranges_directory`: `$TIEBREAK_RANGES`, else `/var/lib/tiebreak/ranges` for root, else
`$XDG_STATE_HOME/tiebreak/ranges`) unless the shipped one is newer. Nothing is ever downloaded at
scan time. `docs/ranges.md` tells the whole story.
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import gzip
import hashlib
import ipaddress
import json
import os
import re
import socket
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, NamedTuple, TypeVar

from inventory.locations import agent_directory

FORMAT: Final = "tiebreak-ranges/1"
"""The `format` of a ranges file written by this module."""

SNAPSHOT_DIR: Final = Path(__file__).with_name("ranges")
"""The ranges shipped with tiebreak (package data), produced by `tiebreak catalog update-ranges`."""

MAX_SOURCE_BYTES: Final = 64 * 1024 * 1024
"""A published file larger than this is refused (Azure's, the largest, is about 4 MB)."""

MAX_ENTRIES: Final = 2_000_000
"""A published file with more prefixes than this is refused."""

SHRINK_LIMIT: Final = 0.5
"""A new file with less than this share of the networks in place (per family) is refused."""

SHRINK_FLOOR: Final = 20
"""…when the ranges in place have at least this many networks of that family."""

FUTURE_SLACK: Final = datetime.timedelta(days=2)
"""How far in the future of the retrieval a file's own date may be (clocks differ)."""

NOTE_FRANCE: Final = (
    "Région française d'un fournisseur non européen : le service reste sous contrôle non "
    "européen (lois extraterritoriales), quel que soit le lieu des données. / "
    "A French region of a non-EU provider is still under non-EU control (extraterritorial "
    "laws), wherever the data is stored."
)
"""The finding attribute `note` when a non-EU provider's address is in one of its French regions."""


def both(french: str, english: str) -> str:
    """French then English, as every message of the fingerprints package."""
    return f"{french} / {english}"


class RangesError(Exception):
    """A source or ranges file refused: which provider, which file, which entry, and why."""

    def __init__(self, provider: str, source: str, where: str, reason: str) -> None:
        self.provider = provider
        self.source = source
        self.where = where
        self.reason = reason
        place = f"{where}: " if where else ""
        super().__init__(f"{provider}: {source}: {place}{reason}")


# -- entries and files -------------------------------------------------------------------------


class Entry(NamedTuple):
    """One network of a provider, with the service and region the provider gives it."""

    cidr: str
    service: str
    region: str


class RangeHit(NamedTuple):
    """What an address is: the provider, service and region of the most specific network."""

    provider: str
    service: str
    region: str


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One file a ranges file was made from."""

    name: str  # URL, or file name (relative to the folder given to --all-from)
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class RangesFile:
    """The checked ranges of one provider, with where and when they come from."""

    provider: str
    sources: tuple[SourceInfo, ...]
    published: str | None
    """The source's own date, ISO 8601 (UTC date and time, or a date), when known."""
    published_from: str | None
    """Where `published` comes from: `file` (inside it), `file-name`, `command-line`."""
    version: str | None
    """The source's own serial: AWS/Google `syncToken`, Azure `changeNumber`, Cloudflare `etag`."""
    retrieved: str
    """When the source was read, ISO 8601 UTC."""
    origin: str | None
    """Free text: the mirror a copy came from, with its commit."""
    source_entries: int
    """Prefixes listed in the source, before duplicates were merged."""
    entries: tuple[Entry, ...]
    networks: tuple[tuple[int, int, int], ...] = field(default=(), compare=False, repr=False)
    """`(version, first address, prefix length)` of each entry, when already computed (`decode`);
    give `networks=()` to `dataclasses.replace` along with new entries."""
    path: str | None = field(default=None, compare=False, repr=False)
    """The file it was read from, if any."""

    @property
    def name(self) -> str:
        return PROVIDERS[self.provider].name if self.provider in PROVIDERS else self.provider

    def counts(self) -> dict[str, int]:
        """Networks per address family."""
        ipv6 = sum(1 for entry in self.entries if ":" in entry.cidr)
        return {"ipv4": len(self.entries) - ipv6, "ipv6": ipv6}

    def published_at(self) -> datetime.datetime | None:
        return _instant(self.published)

    def file_name(self) -> str:
        """Its name in a ranges folder."""
        return file_name(self.provider)


def file_name(provider: str) -> str:
    """The name of a provider's ranges file in a ranges folder."""
    return f"{provider}.json.gz"


def _instant(text: str | None) -> datetime.datetime | None:
    """An ISO date or date-time (UTC) as an aware datetime; None when absent or unreadable."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = datetime.date.fromisoformat(text)
            return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def iso(moment: datetime.datetime) -> str:
    """`2026-08-22T15:17:05Z`."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- reading published files -------------------------------------------------------------------


@dataclass(slots=True)
class Parsed:
    """What a parser found in one source: raw entries (duplicates included), date, serial."""

    entries: list[Entry] = field(default_factory=list)
    published: datetime.datetime | None = None
    published_from: str | None = None
    version: str | None = None


class _Reader:
    """Checks the structure of one source and says where it fails."""

    def __init__(self, provider: str, source: str) -> None:
        self.provider = provider
        self.source = source
        self._seen: dict[tuple[str, int | None], str] = {}

    def fail(self, where: str, french: str, english: str) -> RangesError:
        return RangesError(self.provider, self.source, where, both(french, english))

    def json(self, data: bytes) -> Any:
        try:
            return json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise self.fail("", f"pas de l'UTF-8 ({exc})", f"not UTF-8 ({exc})") from None
        except json.JSONDecodeError as exc:
            raise self.fail("", f"JSON invalide : {exc}", f"invalid JSON: {exc}") from None
        except RecursionError:
            raise self.fail("", "JSON trop imbriqué", "JSON nested too deeply") from None

    def object(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(
                where or "(racine / top level)",
                f"objet JSON attendu, trouvé : {_kind(value, True)}",
                f"expected a JSON object, found {_kind(value)}",
            )
        return value

    def member(self, obj: dict[str, Any], key: str, where: str) -> Any:
        if key not in obj:
            raise self.fail(_join(where, key), "champ absent", "missing field")
        return obj[key]

    def string(self, obj: dict[str, Any], key: str, where: str, *, optional: bool = False) -> str:
        if optional and key not in obj:
            return ""
        value = self.member(obj, key, where)
        if not isinstance(value, str):
            raise self.fail(
                _join(where, key),
                f"texte attendu, trouvé : {_kind(value, True)}",
                f"expected a string, found {_kind(value)}",
            )
        return value

    def integer(self, obj: dict[str, Any], key: str, where: str) -> int:
        value = self.member(obj, key, where)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(
                _join(where, key), "entier positif attendu", "expected a non-negative integer"
            )
        return value

    def array(self, obj: dict[str, Any], key: str, where: str) -> list[Any]:
        value = self.member(obj, key, where)
        if not isinstance(value, list):
            raise self.fail(
                _join(where, key),
                f"liste attendue, trouvé : {_kind(value, True)}",
                f"expected a list, found {_kind(value)}",
            )
        return value

    def strings(self, obj: dict[str, Any], key: str, where: str) -> list[str]:
        values = self.array(obj, key, where)
        for number, value in enumerate(values):
            if not isinstance(value, str):
                raise self.fail(
                    f"{_join(where, key)}[{number}]",
                    f"texte attendu, trouvé : {_kind(value, True)}",
                    f"expected a string, found {_kind(value)}",
                )
        return values

    def cidr(self, text: str, where: str, version: int | None = None) -> str:
        """The network in canonical form; refused unless a strict, public, sane CIDR of the
        expected IP version."""
        key = (text, version)
        known = self._seen.get(key)
        if known is not None:
            return known
        try:
            found, start, length = _parse_network(text)
        except ValueError as exc:
            raise RangesError(self.provider, self.source, where, str(exc)) from None
        shown = _shown(text)
        if version is not None and found != version:
            raise self.fail(
                where, f"{shown} : IPv{version} attendu", f"{shown}: IPv{version} expected"
            )
        if length < (8 if found == 4 else 16):
            raise self.fail(
                where,
                f"{shown} : réseau trop large pour un fournisseur",
                f"{shown}: network too broad for one provider",
            )
        bits = 32 if found == 4 else 128
        end = start | ((1 << (bits - length)) - 1)
        for first, last in _NOT_PUBLIC[found]:
            if start <= last and first <= end:
                raise self.fail(
                    where,
                    f"{shown} : pas un réseau public (privé, réservé, de documentation…)",
                    f"{shown}: not a public network (private, reserved, documentation…)",
                )
        family = socket.AF_INET if found == 4 else socket.AF_INET6
        canonical = f"{socket.inet_ntop(family, start.to_bytes(bits // 8, 'big'))}/{length}"
        self._seen[key] = canonical
        return canonical

    def date(self, text: str, where: str, pattern: str | None = None) -> datetime.datetime:
        try:
            if pattern is not None:
                moment = datetime.datetime.strptime(text, pattern)
            else:
                moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(
                where, f"date illisible : {text[:40]!r}", f"unreadable date: {text[:40]!r}"
            ) from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
        return moment.astimezone(datetime.UTC).replace(microsecond=0)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any, french: bool = False) -> str:
    """The JSON type of `value`, as people read it."""
    if isinstance(value, dict):
        found = ("un objet", "object")
    elif isinstance(value, list):
        found = ("une liste", "list")
    elif isinstance(value, str):
        found = ("un texte", "string")
    elif isinstance(value, bool):
        found = ("un booléen", "boolean")
    elif isinstance(value, int | float):
        found = ("un nombre", "number")
    else:
        found = ("null", "null")
    return found[0] if french else found[1]


def _parse_aws(reader: _Reader, data: bytes) -> Parsed:
    top = reader.object(reader.json(data), "")
    sync = reader.string(top, "syncToken", "")
    if not sync.isdigit():
        raise reader.fail("syncToken", "nombre attendu", "expected a number")
    created = reader.date(reader.string(top, "createDate", ""), "createDate", "%Y-%m-%d-%H-%M-%S")
    parsed = Parsed(published=created, published_from="file", version=sync)
    for key, field_name, version in (
        ("prefixes", "ip_prefix", 4),
        ("ipv6_prefixes", "ipv6_prefix", 6),
    ):
        for number, item in enumerate(reader.array(top, key, "")):
            where = f"{key}[{number}]"
            prefix = reader.object(item, where)
            cidr = reader.cidr(
                reader.string(prefix, field_name, where), f"{where}.{field_name}", version
            )
            reader.string(prefix, "network_border_group", where, optional=True)
            parsed.entries.append(
                Entry(
                    cidr,
                    reader.string(prefix, "service", where),
                    reader.string(prefix, "region", where),
                )
            )
    return parsed


_AZURE_DATED = re.compile(r"ServiceTags_[A-Za-z]+_(\d{8})\.json")


def _parse_azure(reader: _Reader, data: bytes) -> Parsed:
    top = reader.object(reader.json(data), "")
    change = reader.integer(top, "changeNumber", "")
    reader.string(top, "cloud", "")
    parsed = Parsed(version=str(change))
    dated = _AZURE_DATED.search(reader.source)
    if dated:
        parsed.published = reader.date(dated[1], "(nom du fichier / file name)", "%Y%m%d")
        parsed.published_from = "file-name"
    raw: list[tuple[str, str, str]] = []  # (cidr, service, region)
    # The `region` field spells some regions its own way ("centralfrance"); most of the region's
    # tags name it as Azure does ("Storage.FranceCentral"): take the spelling most tags use.
    votes: dict[str, dict[str, int]] = {}
    for number, item in enumerate(reader.array(top, "values", "")):
        where = f"values[{number}]"
        value = reader.object(item, where)
        name = reader.string(value, "name", where)
        inner = f"{where}.properties"
        properties = reader.object(reader.member(value, "properties", where), inner)
        region = reader.string(properties, "region", inner)
        system = reader.string(properties, "systemService", inner)
        reader.integer(properties, "changeNumber", inner)
        base, _, suffix = name.partition(".")
        service = system or (base if region else name)
        if region and suffix:
            spelled = votes.setdefault(region, {})
            spelled[suffix.lower()] = spelled.get(suffix.lower(), 0) + 1
        for position, prefix in enumerate(reader.strings(properties, "addressPrefixes", inner)):
            cidr = reader.cidr(prefix, f"{inner}.addressPrefixes[{position}]")
            raw.append((cidr, service, region))
    spelling = {
        region: max(sorted(counts), key=lambda name: counts[name])
        for region, counts in votes.items()
    }
    parsed.entries = [
        Entry(cidr, service, spelling.get(region, region)) for cidr, service, region in raw
    ]
    return parsed


def _parse_google(reader: _Reader, data: bytes, *, regional: bool) -> Parsed:
    top = reader.object(reader.json(data), "")
    sync = reader.string(top, "syncToken", "")
    if not sync.isdigit():
        raise reader.fail("syncToken", "nombre attendu", "expected a number")
    created = reader.date(reader.string(top, "creationTime", ""), "creationTime")
    parsed = Parsed(published=created, published_from="file", version=sync)
    for number, item in enumerate(reader.array(top, "prefixes", "")):
        where = f"prefixes[{number}]"
        prefix = reader.object(item, where)
        keys = [key for key in ("ipv4Prefix", "ipv6Prefix") if key in prefix]
        if len(keys) != 1:
            raise reader.fail(
                where,
                "il faut exactement un champ ipv4Prefix ou ipv6Prefix",
                "expected exactly one of ipv4Prefix, ipv6Prefix",
            )
        key = keys[0]
        cidr = reader.cidr(
            reader.string(prefix, key, where), f"{where}.{key}", 4 if key == "ipv4Prefix" else 6
        )
        if regional:
            service = reader.string(prefix, "service", where)
            region = reader.string(prefix, "scope", where)
        else:
            service, region = "Google", ""
        parsed.entries.append(Entry(cidr, service, region))
    return parsed


def _parse_oracle(reader: _Reader, data: bytes) -> Parsed:
    top = reader.object(reader.json(data), "")
    updated = reader.date(
        reader.string(top, "last_updated_timestamp", ""), "last_updated_timestamp"
    )
    parsed = Parsed(published=updated, published_from="file")
    for number, item in enumerate(reader.array(top, "regions", "")):
        where = f"regions[{number}]"
        region_object = reader.object(item, where)
        region = reader.string(region_object, "region", where)
        for position, entry in enumerate(reader.array(region_object, "cidrs", where)):
            inner = f"{where}.cidrs[{position}]"
            cidr_object = reader.object(entry, inner)
            cidr = reader.cidr(reader.string(cidr_object, "cidr", inner), f"{inner}.cidr")
            tags = reader.strings(cidr_object, "tags", inner) or ["OCI"]
            parsed.entries.extend(Entry(cidr, tag, region) for tag in tags)
    return parsed


def _parse_cloudflare(reader: _Reader, data: bytes) -> Parsed:
    if data.lstrip()[:1] == b"{":
        # The API's answer: https://api.cloudflare.com/client/v4/ips
        top = reader.object(reader.json(data), "")
        if top.get("success") is not True:
            raise reader.fail("success", "réponse d'échec de l'API", "the API answered a failure")
        result = reader.object(reader.member(top, "result", ""), "result")
        parsed = Parsed()
        etag = result.get("etag")
        parsed.version = etag if isinstance(etag, str) and etag else None
        for key, version in (("ipv4_cidrs", 4), ("ipv6_cidrs", 6)):
            for number, text in enumerate(reader.strings(result, key, "result")):
                cidr = reader.cidr(text, f"result.{key}[{number}]", version)
                parsed.entries.append(Entry(cidr, "Cloudflare", ""))
        return parsed
    return _parse_text_list(reader, data, "Cloudflare")


def _parse_text_list(reader: _Reader, data: bytes, service: str) -> Parsed:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise reader.fail("", f"pas de l'UTF-8 ({exc})", f"not UTF-8 ({exc})") from None
    parsed = Parsed()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped:
            parsed.entries.append(
                Entry(reader.cidr(stripped, f"ligne / line {number}"), service, "")
            )
    return parsed


def _parse_fastly(reader: _Reader, data: bytes) -> Parsed:
    top = reader.object(reader.json(data), "")
    parsed = Parsed()
    for key, version in (("addresses", 4), ("ipv6_addresses", 6)):
        for number, text in enumerate(reader.strings(top, key, "")):
            parsed.entries.append(
                Entry(reader.cidr(text, f"{key}[{number}]", version), "Fastly", "")
            )
    return parsed


Parser = Callable[[_Reader, bytes], Parsed]


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider whose ranges tiebreak reads, and the catalog product that stands for it."""

    id: str
    name: str
    product: str | None
    """Catalog product of the findings its addresses make; None: no product stands for it."""
    parse: Parser
    url: str | None
    """Where the provider publishes the file (None: the address changes, see the docs)."""
    names: tuple[str, ...]
    """File names (globs) recognised in a folder (`--all-from`) or given with `--file`."""
    dated: bool
    """Whether the file carries its own date (else `--published` may give it)."""
    generic: frozenset[str] = frozenset()
    """Services that stand for the whole provider; a more specific one wins for a network."""
    french_regions: frozenset[str] = frozenset()
    multiple: bool = False
    """Whether several files make one provider's ranges (Cloudflare: IPv4 and IPv6 lists)."""
    service_products: Mapping[str, str] = field(default_factory=dict)
    """Catalog products standing for some services better than the provider's product."""

    def product_for(self, service: str) -> str | None:
        """The catalog product of an address of `service` (one, or several joined by ", "):
        the service's own product when every service listed has the same, else the provider's."""
        own = {self.service_products.get(part) for part in service.split(", ")}
        if len(own) == 1 and None not in own:
            return own.pop()
        return self.product


PROVIDERS: Final[Mapping[str, Provider]] = {
    provider.id: provider
    for provider in (
        Provider(
            "aws",
            "Amazon Web Services",
            "amazon-web-services",
            _parse_aws,
            "https://ip-ranges.amazonaws.com/ip-ranges.json",
            ("ip-ranges.json", "aws-ip-ranges.json"),
            dated=True,
            generic=frozenset({"AMAZON"}),
            french_regions=frozenset({"eu-west-3"}),
            service_products={
                "CLOUDFRONT": "amazon-cloudfront",
                "CLOUDFRONT_ORIGIN_FACING": "amazon-cloudfront",
            },
        ),
        Provider(
            "azure",
            "Microsoft Azure",
            "microsoft-azure",
            _parse_azure,
            None,
            ("ServiceTags_Public_*.json", "microsoft-azure-ip-ranges.json"),
            dated=False,
            generic=frozenset({"AzureCloud"}),
            french_regions=frozenset(
                {"francecentral", "francesouth", "centralfrance", "southfrance"}
            ),
        ),
        Provider(
            "google",
            "Google Cloud",
            "google-cloud",
            lambda reader, data: _parse_google(reader, data, regional=True),
            "https://www.gstatic.com/ipranges/cloud.json",
            ("cloud.json", "google-cloud-ip-ranges.json"),
            dated=True,
            french_regions=frozenset({"europe-west9"}),
        ),
        Provider(
            "oracle",
            "Oracle Cloud Infrastructure",
            "oracle-cloud",
            _parse_oracle,
            "https://docs.oracle.com/iaas/tools/public_ip_ranges.json",
            ("public_ip_ranges.json", "oracle-cloud-ip-ranges.json"),
            dated=True,
            generic=frozenset({"OCI"}),
            french_regions=frozenset({"eu-paris-1", "eu-marseille-1"}),
        ),
        Provider(
            "cloudflare",
            "Cloudflare",
            "cloudflare-cdn",
            _parse_cloudflare,
            "https://www.cloudflare.com/ips-v4",
            (
                "ips-v4",
                "ips-v6",
                "ips-v4.txt",
                "ips-v6.txt",
                "cloudflare-v4-ip-ranges.txt",
                "cloudflare-v6-ip-ranges.txt",
            ),
            dated=False,
            multiple=True,
        ),
        Provider(
            "fastly",
            "Fastly",
            "fastly-cdn",
            _parse_fastly,
            "https://api.fastly.com/public-ip-list",
            ("public-ip-list", "public-ip-list.json", "fastly-ip-ranges.json"),
            dated=False,
        ),
        Provider(
            "google-services",
            "Google (all services, goog.json)",
            None,
            lambda reader, data: _parse_google(reader, data, regional=False),
            "https://www.gstatic.com/ipranges/goog.json",
            ("goog.json",),
            dated=True,
        ),
    )
}
"""Every provider whose published ranges tiebreak reads, earlier ones winning equal networks."""

NO_OFFICIAL_FILE: Final[Mapping[str, str]] = {
    "ovhcloud": both(
        "OVHcloud ne publie aucune liste lisible par machine de ses plages",
        "OVHcloud publishes no machine-readable list of its ranges",
    ),
    "scaleway": both(
        "Scaleway ne publie ses plages que sur une page de documentation, sans fichier "
        "lisible par machine",
        "Scaleway lists its ranges on a documentation page only, with no machine-readable file",
    ),
    "hetzner": both(
        "Hetzner ne publie aucune liste lisible par machine de ses plages",
        "Hetzner publishes no machine-readable list of its ranges",
    ),
}
"""Providers asked about that publish no official file: the catalog's `cidr` matchers cover them."""


def is_french_region(provider: str, region: str) -> bool:
    """Whether `region` (one region, or several joined by ", ") names one of the provider's French
    regions."""
    spec = PROVIDERS.get(provider)
    if spec is None or not region:
        return False
    return any(part in spec.french_regions for part in region.split(", "))


def provider_for_name(name: str) -> str | None:
    """The provider whose published file is usually called `name`, or None."""
    from fnmatch import fnmatchcase

    for provider in PROVIDERS.values():
        if any(fnmatchcase(name, pattern) for pattern in provider.names):
            return provider.id
    return None


def discover(directory: Path) -> dict[str, list[Path]]:
    """Published files in `directory` and its subfolders, by provider (`--all-from`)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(directory.rglob("*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        provider = provider_for_name(path.name)
        if provider is not None:
            found.setdefault(provider, []).append(path)
    return found


def build(
    provider: str,
    sources: Sequence[tuple[str, bytes]],
    *,
    retrieved: datetime.datetime,
    published: datetime.date | None = None,
    origin: str | None = None,
) -> RangesFile:
    """Parse and check the published `sources` (name, content) of one provider.

    `published` is the source's date when the file carries none (Azure without its dated file name,
    Cloudflare, Fastly); RangesError when any source is refused.
    """
    spec = PROVIDERS[provider]
    if not sources:
        raise RangesError(provider, "-", "", both("aucun fichier", "no file"))
    if len(sources) > 1 and not spec.multiple:
        names = ", ".join(name for name, _ in sources)
        raise RangesError(
            provider, names, "", both("un seul fichier attendu", "expected a single file")
        )
    entries: list[Entry] = []
    parsed_all: list[Parsed] = []
    infos = []
    for name, data in sources:
        reader = _Reader(provider, name)
        if len(data) > MAX_SOURCE_BYTES:
            raise reader.fail(
                "", f"fichier trop gros ({len(data)} octets)", f"file too large ({len(data)} bytes)"
            )
        parsed = spec.parse(reader, data)
        if len(parsed.entries) > MAX_ENTRIES:
            raise reader.fail(
                "",
                f"{len(parsed.entries)} entrées : trop pour être vrai",
                f"{len(parsed.entries)} entries: too many to be true",
            )
        if not parsed.entries:
            raise reader.fail("", "aucune plage d'adresses", "no address range at all")
        if parsed.published is not None and parsed.published > retrieved + FUTURE_SLACK:
            raise reader.fail(
                "(date)",
                f"date du fichier dans le futur : {iso(parsed.published)}",
                f"the file's date is in the future: {iso(parsed.published)}",
            )
        if parsed.published is not None and parsed.published.year < 2000:
            raise reader.fail(
                "(date)",
                f"date du fichier invraisemblable : {iso(parsed.published)}",
                f"implausible file date: {iso(parsed.published)}",
            )
        entries += parsed.entries
        parsed_all.append(parsed)
        infos.append(SourceInfo(name, hashlib.sha256(data).hexdigest(), len(data)))
    dates = [p.published for p in parsed_all if p.published is not None]
    versions = [p.version for p in parsed_all if p.version]
    names = ", ".join(name for name, _ in sources)
    when: str | None = None
    when_from: str | None = None
    if published is not None:
        if dates:
            raise RangesError(
                provider,
                names,
                "",
                both(
                    "le fichier porte sa propre date : --published est refusé",
                    "the file carries its own date: --published is refused",
                ),
            )
        if published > retrieved.date() + FUTURE_SLACK:
            raise RangesError(
                provider,
                names,
                "--published",
                both(f"date dans le futur : {published}", f"date in the future: {published}"),
            )
        when, when_from = published.isoformat(), "command-line"
    elif dates:
        when = iso(max(dates))
        when_from = next(p.published_from for p in parsed_all if p.published == max(dates))
    return RangesFile(
        provider=provider,
        sources=tuple(infos),
        published=when,
        published_from=when_from,
        version=", ".join(versions) if versions else None,
        retrieved=iso(retrieved),
        origin=origin,
        source_entries=len(entries),
        entries=merge(entries, spec.generic),
    )


def merge(entries: Iterable[Entry], generic: frozenset[str] = frozenset()) -> tuple[Entry, ...]:
    """One entry per network: its specific services (else the generic ones) and regions, joined
    with ", "; sorted by family, then address, then prefix length."""
    services: dict[str, set[str]] = {}
    regions: dict[str, set[str]] = {}
    for cidr, service, region in entries:
        services.setdefault(cidr, set()).add(service)
        regions.setdefault(cidr, set()).add(region)
    merged = []
    for cidr, named in services.items():
        specific = {name for name in named if name and name not in generic}
        chosen = specific or {name for name in named if name}
        merged.append(
            Entry(
                cidr,
                ", ".join(sorted(chosen)),
                ", ".join(sorted(region for region in regions[cidr] if region)),
            )
        )
    merged.sort(key=lambda entry: _parse_network(entry.cidr))
    return tuple(merged)


def check_replacement(new: RangesFile, previous: RangesFile | None, *, force: bool) -> None:
    """Refuse a new file older than the ranges in place, or with far fewer networks of a family,
    unless `force`: a stale mirror or a truncated download must not replace good ranges."""
    if previous is None or force:
        return
    source = ", ".join(info.name for info in new.sources)
    older = _older(new, previous)
    if older:
        raise RangesError(
            new.provider,
            source,
            "",
            both(
                f"plus ancien que les plages en place ({older}) ; --force pour l'accepter",
                f"older than the ranges in place ({older}); --force accepts it",
            ),
        )
    counts, before = new.counts(), previous.counts()
    for family in ("ipv4", "ipv6"):
        if before[family] >= SHRINK_FLOOR and counts[family] < before[family] * SHRINK_LIMIT:
            raise RangesError(
                new.provider,
                source,
                "",
                both(
                    f"{counts[family]} réseaux {family} contre {before[family]} en place : "
                    "fichier tronqué ? --force pour l'accepter",
                    f"{counts[family]} {family} networks against {before[family]} in place: "
                    "truncated file? --force accepts it",
                ),
            )


def _older(new: RangesFile, previous: RangesFile) -> str | None:
    """How `new` is older than `previous`, or None."""
    new_date, old_date = new.published_at(), previous.published_at()
    if new_date is not None and old_date is not None:
        if new_date < old_date:
            return f"{new.published} < {previous.published}"
        if new_date > old_date:
            return None
    numbered = (new.version or "").isdigit() and (previous.version or "").isdigit()
    if numbered and int(new.version or 0) < int(previous.version or 0):
        return f"version {new.version} < {previous.version}"
    return None


# -- the ranges file ---------------------------------------------------------------------------


def encode(ranges: RangesFile) -> bytes:
    """The ranges file: compact JSON, gzip-compressed (reproducible: no time in the header)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for cidr, service, region in ranges.entries:
        groups.setdefault((service, region), []).append(cidr)
    document = {
        "format": FORMAT,
        "provider": ranges.provider,
        "name": ranges.name,
        "sources": [
            {"source": info.name, "sha256": info.sha256, "bytes": info.size}
            for info in ranges.sources
        ],
        "published": ranges.published,
        "published_from": ranges.published_from,
        "version": ranges.version,
        "retrieved": ranges.retrieved,
        "origin": ranges.origin,
        "counts": {"source_entries": ranges.source_entries, **ranges.counts()},
        "groups": [
            {"service": service, "region": region, "cidrs": cidrs}
            for (service, region), cidrs in sorted(groups.items())
        ],
    }
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def decode(data: bytes, name: str, provider: str | None = None) -> RangesFile:
    """Read a ranges file (gzip or plain JSON); RangesError naming what is wrong."""
    reader = _Reader(provider or "?", name)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise reader.fail("", f"gzip illisible : {exc}", f"unreadable gzip: {exc}") from None
    top = reader.object(reader.json(data), "")
    if top.get("format") != FORMAT:
        raise reader.fail("format", f"{FORMAT} attendu", f"expected {FORMAT}")
    found = reader.string(top, "provider", "")
    if found not in PROVIDERS or (provider is not None and found != provider):
        raise reader.fail(
            "provider", f"fournisseur inattendu {found!r}", f"unexpected provider {found!r}"
        )
    reader.provider = found
    sources = []
    for number, item in enumerate(reader.array(top, "sources", "")):
        where = f"sources[{number}]"
        source = reader.object(item, where)
        sources.append(
            SourceInfo(
                reader.string(source, "source", where),
                reader.string(source, "sha256", where),
                reader.integer(source, "bytes", where),
            )
        )
    optional = {}
    for field_name in ("published", "published_from", "version", "origin"):
        value = top.get(field_name)
        if value is not None and not isinstance(value, str):
            raise reader.fail(field_name, "texte attendu", "expected a string")
        optional[field_name] = value
    counts = reader.object(reader.member(top, "counts", ""), "counts")
    keyed: list[tuple[tuple[int, int, int], Entry]] = []
    for number, item in enumerate(reader.array(top, "groups", "")):
        where = f"groups[{number}]"
        group = reader.object(item, where)
        service = reader.string(group, "service", where)
        region = reader.string(group, "region", where)
        for position, cidr in enumerate(reader.strings(group, "cidrs", where)):
            try:
                key = _parse_network(cidr)
            except ValueError as exc:
                raise RangesError(
                    reader.provider, name, f"{where}.cidrs[{position}]", str(exc)
                ) from None
            keyed.append((key, Entry(cidr, service, region)))
    if not keyed:
        raise reader.fail("groups", "aucune plage", "no range")
    keyed.sort(key=lambda item: item[0])
    return RangesFile(
        provider=found,
        sources=tuple(sources),
        published=optional["published"],
        published_from=optional["published_from"],
        version=optional["version"],
        retrieved=reader.string(top, "retrieved", ""),
        origin=optional["origin"],
        source_entries=reader.integer(counts, "source_entries", "counts"),
        entries=tuple(entry for _, entry in keyed),
        networks=tuple(key for key, _ in keyed),
    )


def read_file(path: Path, provider: str | None = None) -> RangesFile:
    """A ranges file from disk; RangesError when it is unreadable or malformed."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RangesError(provider or "?", str(path), "", exc.strerror or str(exc)) from None
    return dataclasses.replace(decode(data, str(path), provider), path=str(path))


def _parse_network(cidr: str) -> tuple[int, int, int]:
    """`(4 or 6, first address, prefix length)` of a strict CIDR network; ValueError saying what
    is wrong, in both languages."""
    address, slash, length_text = cidr.partition("/")
    version, family, bits = (6, socket.AF_INET6, 128) if ":" in address else (4, socket.AF_INET, 32)
    if not slash:
        shown = _shown(cidr)
        raise ValueError(
            both(
                f"{shown} n'est pas un réseau CIDR (adresse/longueur)",
                f"{shown} is not a CIDR network (address/length)",
            )
        )
    try:
        start = int.from_bytes(socket.inet_pton(family, address), "big")
    except (OSError, ValueError):
        shown = _shown(cidr)
        raise ValueError(both(f"{shown} : adresse invalide", f"{shown}: invalid address")) from None
    if not length_text.isdigit() or int(length_text) > bits:
        shown = _shown(cidr)
        raise ValueError(
            both(f"{shown} : longueur de préfixe invalide", f"{shown}: invalid prefix length")
        )
    length = int(length_text)
    if start & ((1 << (bits - length)) - 1):
        shown = _shown(cidr)
        network = socket.inet_ntop(
            family, (start >> (bits - length) << (bits - length)).to_bytes(bits // 8, "big")
        )
        raise ValueError(
            both(
                f"{shown} : bits d'hôte non nuls (le réseau serait {network}/{length})",
                f"{shown}: host bits set (the network would be {network}/{length})",
            )
        )
    return version, start, length


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "…")


def _blocks(*networks: str) -> tuple[tuple[int, int], ...]:
    found = []
    for text in networks:
        network = ipaddress.ip_network(text)
        found.append((int(network.network_address), int(network.broadcast_address)))
    return tuple(found)


_NOT_PUBLIC: Final = {
    4: _blocks(
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    ),
    6: _blocks(
        "::/8", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    ),
}  # fmt: skip
"""Networks no provider publishes as its own: special-purpose (RFC 6890), documentation,
multicast. A published network overlapping one of them is refused."""


# -- where the ranges are ----------------------------------------------------------------------


def ranges_directory() -> Path:
    """Where `update-ranges` writes by default and scans read: `$TIEBREAK_RANGES`, else
    `/var/lib/tiebreak/ranges` for root, else `$XDG_STATE_HOME/tiebreak/ranges`."""
    return agent_directory("TIEBREAK_RANGES", "/var/lib/tiebreak/ranges", "ranges")


def read_directory(
    directory: Path, *, trusted: bool = False
) -> tuple[dict[str, RangesFile], list[str]]:
    """The ranges files of `directory`, by provider, and why others were skipped.

    Run as root, a file (or the folder) that another user owns or that group or others can write
    is skipped unless `trusted` (the shipped snapshot): it would decide what findings say.
    """
    files: dict[str, RangesFile] = {}
    problems: list[str] = []
    if not directory.is_dir():
        return files, problems
    if not trusted and (reason := _untrusted(directory)):
        return files, [f"{directory}: {reason}"]
    for provider in PROVIDERS:
        for name in (file_name(provider), f"{provider}.json"):
            path = directory / name
            if not path.is_file():
                continue
            if not trusted and (reason := _untrusted(path)):
                problems.append(f"{path}: {reason}")
                break
            try:
                files[provider] = read_file(path, provider)
            except RangesError as exc:
                problems.append(str(exc))
            break
    return files, problems


def _untrusted(path: Path) -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        status = path.stat()
    except OSError as exc:
        return exc.strerror or str(exc)
    if status.st_uid != 0 or status.st_mode & 0o022:
        return both(
            "appartient à un autre utilisateur ou modifiable par le groupe ou les autres : ignoré",
            "owned by another user or writable by group or others: ignored",
        )
    return None


def effective_files(directory: Path | None) -> tuple[list[RangesFile], list[str]]:
    """The ranges a scan uses: the shipped snapshot, each provider replaced by the file of
    `directory` unless the shipped one is newer; and the problems met on the way."""
    chosen, problems = read_directory(SNAPSHOT_DIR, trusted=True)
    if directory is not None and directory.resolve() != SNAPSHOT_DIR.resolve():
        local, local_problems = read_directory(directory)
        problems += local_problems
        for provider, ranges in local.items():
            shipped = chosen.get(provider)
            if shipped is None or _older(ranges, shipped) is None:
                chosen[provider] = ranges
    return [chosen[provider] for provider in PROVIDERS if provider in chosen], problems


# -- the index ---------------------------------------------------------------------------------

_MAPPED: Final = bytes(10) + b"\xff\xff"

_T = TypeVar("_T")

_Network = tuple[RangeHit, str]
"""A network in the index: what it says (shared by every network saying the same) and its CIDR."""


class RangeIndex:
    """Every provider's networks as sorted disjoint segments, for fast lookups.

    `lookup(text)` gives the `RangeHit` of the most specific network holding the address `text`
    (IPv4 or IPv6, a zone suffix ignored, IPv4-mapped IPv6 as IPv4), or None; `locate(text)` also
    gives that network. Equal hits are one shared object: a lookup touches less memory.
    """

    lookup: Callable[[str], RangeHit | None]
    locate: Callable[[str], _Network | None]

    def __init__(self, files: Iterable[RangesFile], problems: Sequence[str] = ()) -> None:
        self.files = {ranges.provider: ranges for ranges in files}
        self.problems = list(problems)
        networks: dict[int, list[tuple[int, int, int, int, _Network]]] = {4: [], 6: []}
        order = {provider: rank for rank, provider in enumerate(PROVIDERS)}
        shared: dict[RangeHit, RangeHit] = {}
        for ranges in self.files.values():
            rank = order.get(ranges.provider, len(order))
            parsed = ranges.networks
            if len(parsed) != len(ranges.entries):
                parsed = tuple(_parse_network(entry.cidr) for entry in ranges.entries)
            for (cidr, service, region), (version, start, length) in zip(
                ranges.entries, parsed, strict=True
            ):
                bits = 32 if version == 4 else 128
                end = start | ((1 << (bits - length)) - 1)
                hit = RangeHit(ranges.provider, service, region)
                hit = shared.setdefault(hit, hit)
                networks[version].append((start, length, rank, end, (hit, cidr)))
        self.networks = len(networks[4]) + len(networks[6])
        v4_starts, v4_found = _segments(networks[4], 4)
        v6_starts, v6_found = _segments(networks[6], 16)
        self.segments = len(v4_starts) + len(v6_starts)
        self.lookup = _lookup_function(
            v4_starts,
            [None if found is None else found[0] for found in v4_found],
            v6_starts,
            [None if found is None else found[0] for found in v6_found],
        )
        self.locate = _lookup_function(v4_starts, v4_found, v6_starts, v6_found)

    @classmethod
    def empty(cls) -> RangeIndex:
        """An index that knows no range (an engine that must not use them)."""
        return cls(())

    def __len__(self) -> int:
        return self.networks


def _segments(
    networks: list[tuple[int, int, int, int, _Network]], width: int
) -> tuple[list[bytes], list[_Network | None]]:
    """Sorted segment starts (packed addresses) and the most specific network there.

    CIDR networks are nested or disjoint: sorted by start, wider first, a stack of the open
    networks has the most specific one on top.
    """
    networks.sort(key=lambda item: (item[0], item[1], item[2]))
    starts: list[int] = [0]
    found: list[_Network | None] = [None]

    def mark(position: int, network: _Network | None) -> None:
        if position == starts[-1]:
            found[-1] = network
        else:
            starts.append(position)
            found.append(network)

    stack: list[tuple[int, _Network]] = []
    previous: tuple[int, int] | None = None
    for start, length, _rank, end, network in networks:
        if (start, length) == previous:
            continue  # the same network from a later provider: the first one wins
        previous = (start, length)
        while stack and stack[-1][0] < start:
            closed, _ = stack.pop()
            mark(closed + 1, stack[-1][1] if stack else None)
        stack.append((end, network))
        mark(start, network)
    limit = 1 << (width * 8)
    while stack:
        closed, _ = stack.pop()
        if closed + 1 < limit:
            mark(closed + 1, stack[-1][1] if stack else None)
    # Neighbouring segments of the same network (split by a nested one ending) stay separate:
    # joining equal neighbours keeps the arrays short.
    packed: list[bytes] = []
    merged: list[_Network | None] = []
    for position, segment in zip(starts, found, strict=True):
        if merged and merged[-1] is segment:
            continue
        packed.append(position.to_bytes(width, "big"))
        merged.append(segment)
    return packed, merged


def _lookup_function(
    v4_starts: list[bytes],
    v4_values: Sequence[_T | None],
    v6_starts: list[bytes],
    v6_values: Sequence[_T | None],
) -> Callable[[str], _T | None]:
    """The lookup as a closure over its arrays: no attribute access per call."""
    inet_pton, af4, af6, bisect = socket.inet_pton, socket.AF_INET, socket.AF_INET6, bisect_right
    mapped = _MAPPED

    def lookup(text: str) -> _T | None:
        if ":" in text:
            if "%" in text:
                text, _, zone = text.partition("%")
                if not zone or "%" in zone:
                    return None
            try:
                key = inet_pton(af6, text)
            except (OSError, ValueError):
                return None
            if key[:12] == mapped:
                return v4_values[bisect(v4_starts, key[12:]) - 1]
            return v6_values[bisect(v6_starts, key) - 1]
        try:
            key = inet_pton(af4, text)
        except (OSError, ValueError):
            return None
        return v4_values[bisect(v4_starts, key) - 1]

    return lookup


def load_index(directory: Path | None) -> RangeIndex:
    """The index of the effective ranges (`effective_files`)."""
    # Some 100,000 small objects and no cycle: automatic collections would only walk them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        files, problems = effective_files(directory)
        return RangeIndex(files, problems)
    finally:
        if collecting:
            gc.enable()


@lru_cache(maxsize=4)
def _index_at(directory: str) -> RangeIndex:
    index = load_index(Path(directory))
    for problem in index.problems:
        print(f"tiebreak: {both('plages ignorées', 'ranges ignored')}: {problem}", file=sys.stderr)
    return index


def default_ranges() -> RangeIndex:
    """The index scans use, built once per process and ranges directory (never downloads)."""
    return _index_at(str(ranges_directory()))


# -- downloading (only `tiebreak catalog update-ranges`, never a scan) -------------------------


def check_url(url: str) -> None:
    """Refuse (ValueError) an address that is not https, or plain http to a loopback address."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(both(f"adresse invalide : {exc}", f"invalid address: {exc}")) from None
    if parts.username is not None or parts.password is not None:
        raise ValueError(both("pas d'identifiants dans l'adresse", "no credentials in the address"))
    if not host:
        raise ValueError(both("adresse sans hôte", "address without a host"))
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _loopback(host):
        return
    raise ValueError(
        both(
            "seules les adresses https:// sont acceptées (http:// seulement vers 127.0.0.1 ou ::1)",
            "only https:// addresses are accepted (http:// only to 127.0.0.1 or ::1)",
        )
    )


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name is never trusted to be local: it is not resolved here


def download(url: str, *, timeout: float = 60.0, limit: int = MAX_SOURCE_BYTES) -> bytes:
    """The body of `url` (https, or http to loopback; every redirect checked the same way).

    Loopback addresses are fetched without any proxy; others through the environment's proxy.
    OSError or ValueError with the reason.
    """
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    check_url(url)

    class _CheckedRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
        ) -> Any:
            check_url(newurl)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    handlers: list[Any] = [_CheckedRedirect()]
    if _loopback(urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    # The scheme is checked above (https, or http to loopback), and again on every redirect.
    request = urllib.request.Request(url, headers={"User-Agent": "tiebreak-update-ranges"})  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response:
            data: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ValueError):
            raise reason from None
        raise OSError(str(reason)) from None
    if len(data) > limit:
        raise ValueError(
            both(f"réponse de plus de {limit} octets", f"answer larger than {limit} bytes")
        )
    return data
