"""Turn observations into findings: a pure function of the observations and the catalog.

Each observation is looked up in the compiled indexes of its channel (`fingerprints.index`); every
matcher that fires adds the observation to the finding of its product at the observation's locus.
A finding's identity is a hash of product and locus, so the same product seen at the same place by
several probes is one finding with all its evidence, and keeps its id from one scan to the next.

- confidence: `strong` when any matcher that fired is strong, else `weak`;
- usage: `current` with any strong evidence; with weak evidence only, `former` when every weak
  matcher that fired says `usage = "former"`, else `partial` (a verification TXT token alone may
  outlive a migration);
- version: the regex group `version`, else the observation's `version` attribute; other named
  groups become finding attributes (the Microsoft 365 tenant of a DKIM CNAME, for instance);
- `implies`: a product found at a locus brings the products it implies at the same locus, with
  `implied_by`, unless they were found there directly;
- observations on a matcher channel that no matcher recognised are listed as unidentified, for a
  person to classify; informational channels (dns.soa, dns.error, listen…) are not, nor page titles
  nothing recognised (`QUIET_MISSES`: mostly the organisation's own words). An observation
  on a channel the contract does not know (`inventory.channels`) is listed as unidentified too, and
  counted per channel in `Analysis.unknown_channels`: nothing is dropped silently;
- counts: observations on a counted channel (`ldap.os`: computers per operating system; the fleet
  probe's `os` and `package*` observations: machines per release and per program) stand for
  several machines; their `count` attributes add up on the finding as `devices` (workstation
  products) or `servers`, with one line per release in `systems` and its end of support when the
  catalog knows it (`[[products.support]]`); when the observations list their machines
  (`addresses`, or a fleet's `machines` indexes) a machine seen by several of them counts once; a
  fleet's `fleet.source` observations give the findings counted at the same place the fleet's
  size (`fleet_machines`: "212 of 240"), and its machines (`fleet.machine`, `server`) split a
  fleet-counted finding into `devices` (workstations) and `servers` whatever the product's
  category; a directory's `ldap.count` observations (users,
  groups, computers…) become attributes of the identity-directory findings at the same place, which
  is the count licence estimates multiply;
- `supersedes`: a product found at a locus removes the weak-only findings of the products it
  supersedes there (Samba AD answers with Active Directory's capability OIDs);
- attributes: a matcher's `require` (regexes over the observation's attributes: the package
  `source`, the Windows `publisher`, the macOS `team_id`) must hold for it to fire: Debian's
  `slack` (dpkg) is not Salesforce's Slack (snap);
- publishers, team ids and folders: a Windows program (`package.windows`) whose `publisher` is
  one a vendor declares (`[vendor] publishers`), a macOS app (`package.macos`) whose signing
  `team_id` is one a vendor declares (`[vendor] team_ids`), or a process whose executable's
  install `folder` is one a vendor declares (`[vendor] folders`), and that no catalog product
  recognises (nor its twin),
  becomes a weak finding of the vendor-level product `vendor:<vendor id>` ("Zoom — produit non
  identifié / unidentified product"): the vendor and its jurisdiction are known, the product is
  for a person to name;
- twins: a process or a service that no matcher of its own channel recognises is looked up once
  more under the other channel's name for the same program (process `tailscaled` or
  `AteraAgent.exe` as service `tailscaled` or `AteraAgent`, and back): Windows services and
  systemd units are mostly named after their executable. A twin hit is weak evidence (the name
  is the same, the program is not proven), shown as `service → <matcher>`; matchers with a
  `require` are not used for twins (the other channel's attributes are not the same), nor the
  products whose matchers on the observation's own channel list its value as a `no_match` (the
  process `ssh`, a client, is not the OpenSSH server whose unit is `ssh`);
- provider ranges: an address on an IP channel (`dns.a`, `net.remote`, `http.address`) that no
  catalog `cidr` matcher recognises is looked up in the providers' published ranges
  (`fingerprints.ranges`, loaded once, at the first such address), and so is one a catalog `cidr`
  matcher gives to the provider's own product (the ranges add its service and region); a hit is
  strong evidence for the catalog product that stands for the provider (`ranges aws EC2
  eu-west-3`), and the finding
  gets `provider_service`, `provider_region`, `provider_addresses` (how many addresses) and, for a
  non-EU provider's French region, a `note` that the region is still under non-EU control.
"""

from __future__ import annotations

import datetime
import gc
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import JsonValue

from fingerprints.catalog import Catalog, default_catalog
from fingerprints.index import NO_CAPTURE, Hit, MatcherRef, MatchIndex
from fingerprints.jurisdiction import Control, dependency_note, distributor, resolve
from fingerprints.ranges import (
    NOTE_FRANCE,
    PROVIDERS,
    RangeHit,
    RangeIndex,
    default_ranges,
    is_french_region,
)
from fingerprints.schema import MatchKind, Product, Vendor, example_parts, publisher_key
from fingerprints.scoring import ScoringConfig, default_scoring, organisation_indexes, score
from inventory import Category, Confidence, Criticality, Finding, Jurisdiction, Observation, Usage
from inventory.channels import (
    ADDRESSES_ATTRIBUTE,
    COUNT_ATTRIBUTE,
    COUNTED,
    IP_CHANNELS,
    KNOWN,
    MACHINES_ATTRIBUTE,
    MATCHABLE,
    QUIET_MISSES,
    Channel,
)
from inventory.models import safe_text

RELEASE_CHANNELS = frozenset({Channel.LDAP_OS, Channel.NMAP_SERVICE, Channel.OS})
"""Counted channels whose value names a release or a product version: one line each on the
finding (`systems`); the others (CPEs, headers, titles, programs) only add to the machine count."""

DIRECTORY_DOMAIN = "annuaire-identite"
"""Domain of the identity directories that a directory's counts (`ldap.count`) belong to."""

NO_HITS: tuple[Hit, ...] = ()

TWINS: dict[str, str] = {
    Channel.PROCESS.value: Channel.SERVICE.value,
    Channel.SERVICE.value: Channel.PROCESS.value,
}
"""Channels on which the same program often carries the same name (`twin_values`)."""


def twin_values(channel: str, value: str) -> tuple[str, ...]:
    """The names the same program may carry on the twin channel of `channel`: a process
    `AteraAgent.exe` is the service `AteraAgent`; a service `tailscaled` is the process
    `tailscaled` or `tailscaled.exe`."""
    name = value.strip()
    if not name:
        return ()
    if channel == Channel.PROCESS.value:
        return (name[:-4],) if name.lower().endswith(".exe") and len(name) > 4 else (name,)
    if channel == Channel.SERVICE.value:
        return (name, f"{name}.exe")
    return ()


VENDOR_PRODUCT_PREFIX = "vendor:"
"""Ids of vendor-level products (`vendor:zoom`): never a catalog id, which is kebab-case."""

SIGNER_ATTRIBUTES: dict[str, str] = {
    Channel.PACKAGE_WINDOWS: "publisher",
    Channel.PACKAGE_MACOS: "team_id",
    Channel.PROCESS: "folder",
}
"""The attribute that names a program's vendor, per channel: a Windows program's Publisher, the
Team ID signing a macOS app, the install folder of a process's executable. rpm's Vendor ("Red
Hat, Inc.") names the distribution that built the package, not who develops it: `package` is
left out."""


def vendor_product_id(vendor_id: str) -> str:
    """The id of a vendor's vendor-level product: `vendor:zoom`."""
    return VENDOR_PRODUCT_PREFIX + vendor_id


def vendor_product(vendor: Vendor) -> Product:
    """A program of `vendor` unknown to the catalog: a vendor-level product."""
    return Product(
        id="vendor-level",
        name=f"{vendor.name} — produit non identifié / unidentified product",
        category=Category.LOGICIEL,
        domain="non-identifie",
        licence="unknown",
        open_source=False,
        deployment="on-premise",
        criticality=Criticality.LOW,
        note="Identified by its Publisher or signing Team ID only: the product is for a person "
        "to name.",
    ).model_copy(update={"id": vendor_product_id(vendor.id)})


_USAGE_RANK = {Usage.FORMER: 0, Usage.PARTIAL: 1, Usage.CURRENT: 2}


@dataclass(slots=True)
class Analysis:
    """Findings, what stayed unidentified, and the organisation-level indexes."""

    findings: list[Finding]
    unidentified: list[str]
    dependency_index: dict[str, float] = field(default_factory=dict)
    euros_by_jurisdiction: dict[str, float] = field(default_factory=dict)
    unknown_channels: dict[str, int] = field(default_factory=dict)
    """Observations on a channel the contract does not know, per channel (also unidentified)."""


def finding_id(product: str, locus: str) -> str:
    """Stable identity of a finding: the same product at the same place gets the same id."""
    digest = hashlib.sha256(f"{product}\x1f{locus}".encode("utf-8", "surrogatepass"))
    return "f-" + digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Counted:
    """What a counted observation stands for: how many machines, which ones when known (their
    addresses, or a fleet's machine indexes as a bit set: bit i is the machine of index i)."""

    channel: str
    release: str
    count: int
    addresses: frozenset[str] | None
    machines: int | None = None

    @classmethod
    def of(cls, observation: Observation) -> _Counted | None:
        if observation.channel not in COUNTED:
            return None
        count = observation.attributes.get(COUNT_ATTRIBUTE)
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            return None
        listed = observation.attributes.get(ADDRESSES_ATTRIBUTE)
        addresses = (
            frozenset(a for a in listed if isinstance(a, str)) if isinstance(listed, list) else None
        )
        indexes = observation.attributes.get(MACHINES_ATTRIBUTE)
        machines = _bit_set(indexes) if indexes is not None else None
        return cls(observation.channel, observation.value, count, addresses or None, machines)


def _bit_set(indexes: JsonValue) -> int | None:
    """The bit set of a fleet's machine indexes: ranges "0-4,7,9-12" (as the fleet probe writes
    them) or a list of ints; a few bytes per thousand machines, where a set of ints would take
    tens of kilobytes. None when nothing valid is listed."""
    bits = 0
    if isinstance(indexes, str):
        for part in indexes.split(","):
            first, _, last = part.partition("-")
            if not first.isdigit() or not (last or first).isdigit():
                continue
            low, high = int(first), int(last or first)
            if low <= high < 1 << 24:
                bits |= ((1 << (high - low + 1)) - 1) << low
    elif isinstance(indexes, list):
        for index in indexes:
            if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 1 << 24:
                bits |= 1 << index
    return bits or None


def _machines(counted: Iterable[_Counted]) -> int:
    """How many machines a finding's counted evidence stands for. The same machines show on
    several channels (a service, its CPE, its Server header) and under several names (Teams and
    its machine-wide installer): with addresses or machine indexes, the union is counted;
    without, the channels' sums, of which the largest."""
    entries = list(counted)
    if all(entry.addresses is not None for entry in entries):
        return len(frozenset().union(*(entry.addresses or () for entry in entries)))
    if all(entry.machines is not None for entry in entries):
        union = 0
        for entry in entries:
            union |= entry.machines or 0
        return union.bit_count()
    sums: Counter[str] = Counter()
    for entry in entries:
        sums[entry.channel] += entry.count
    return max(sums.values())


@dataclass(slots=True)
class _Fleet:
    """A fleet read at a locus: how many machines, and which of them are servers (bit set)."""

    size: int = 0
    servers: int = 0


def _fleet_union(counted: Iterable[_Counted]) -> int | None:
    """The machines a finding's fleet evidence stands for (bit set), None for other evidence."""
    union = 0
    for entry in counted:
        if entry.machines is None:
            return None
        union |= entry.machines
    return union


@dataclass(slots=True)
class _Draft:
    """Evidence gathered for one product at one locus."""

    evidence: dict[str, None] = field(default_factory=dict)
    matched: dict[str, None] = field(default_factory=dict)
    strong: bool = False
    weak_usages: set[Usage | None] = field(default_factory=set)
    version: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    implied_by: str | None = None
    counted: dict[str, _Counted] = field(default_factory=dict)  # by observation id
    ranged: dict[str, RangeHit] = field(default_factory=dict)  # by address, from provider ranges
    distributors: dict[str, None] = field(default_factory=dict)  # distributions that built it

    def add(self, observation: Observation, ref: MatcherRef, captured: Mapping[str, str]) -> None:
        self.evidence[observation.id] = None
        if observation.channel == Channel.PACKAGE:
            attributes = observation.attributes
            built_by = distributor(attributes.get("source"), attributes.get("publisher"))
            if built_by is not None:
                self.distributors[built_by] = None
        self.matched[ref.label] = None
        self._confidence(ref)
        self._observed(observation, captured)

    def add_twin(self, observation: Observation, ref: MatcherRef) -> None:
        """A process or service recognised under its twin channel's name: weak evidence."""
        self.evidence[observation.id] = None
        self.matched[f"{observation.channel} → {ref.label}"] = None
        self.weak_usages.add(ref.matcher.usage)
        self._observed(observation, NO_CAPTURE)

    def add_signer(self, observation: Observation, attribute: str, signer: str) -> None:
        """A program known by its Publisher (or Team ID) only: weak evidence of a vendor-level
        product."""
        self.evidence[observation.id] = None
        self.matched[f"{observation.channel} {attribute} {signer}"] = None
        self.weak_usages.add(None)
        self._observed(observation, NO_CAPTURE)

    def _observed(self, observation: Observation, captured: Mapping[str, str]) -> None:
        counted = _Counted.of(observation)
        if counted is not None:
            # Many machines, often many releases, add up on one finding: no single version.
            self.counted[observation.id] = counted
        if captured:
            for name, text in captured.items():
                if name != "version":
                    self.attributes.setdefault(name, text)
                elif counted is None:
                    self.version = self.version or text
        if counted is None and self.version is None:
            version = observation.attributes.get("version")
            if isinstance(version, str | int | float) and not isinstance(version, bool):
                self.version = str(version)

    def add_range(self, observation: Observation, address: str, hit: RangeHit) -> None:
        """An address found in a provider's published ranges: strong evidence of its product."""
        self.evidence[observation.id] = None
        self.matched[f"ranges {hit.provider} {hit.service} {hit.region}".rstrip()] = None
        self.strong = True
        self.ranged.setdefault(address, hit)

    def _confidence(self, ref: MatcherRef) -> None:
        matcher = ref.matcher
        if matcher.confidence is Confidence.STRONG:
            self.strong = True
        else:
            self.weak_usages.add(matcher.usage)

    @property
    def usage(self) -> Usage:
        if self.strong:
            return Usage.CURRENT
        if self.weak_usages == {Usage.FORMER}:
            return Usage.FORMER
        return Usage.PARTIAL


class Engine:
    """A catalog compiled for matching, with its vendors' control resolved once."""

    def __init__(
        self,
        catalog: Catalog,
        scoring: ScoringConfig | None = None,
        ranges: RangeIndex | None = None,
    ) -> None:
        """`ranges`: the provider ranges to look addresses up in; None: the default ones
        (`fingerprints.ranges.default_ranges`), loaded at the first address that needs them."""
        self.catalog = catalog
        self.index = MatchIndex.from_catalog(catalog)
        self.scoring = scoring or default_scoring()
        self.controls: dict[str, Control] = {
            vendor_id: resolve(catalog, vendor_id) for vendor_id in catalog.vendors
        }
        self._templates: dict[str, Finding] = {}
        self._ranges = ranges
        # Vendor-level products, beside the catalog's: a program known by its Publisher (Windows)
        # or its signing Team ID (macOS) only.
        self.publishers: dict[str, str] = {}
        self.team_ids: dict[str, str] = {}
        self.folders: dict[str, str] = {}
        self.products: dict[str, Product] = dict(catalog.products)
        self.vendor_of: dict[str, str] = dict(catalog.vendor_of)
        for vendor in catalog.vendors.values():
            if vendor.publishers or vendor.team_ids or vendor.folders:
                product = vendor_product(vendor)
                self.products[product.id] = product
                self.vendor_of[product.id] = vendor.id
            for publisher in vendor.publishers:
                self.publishers[publisher_key(publisher)] = vendor.id
            for team in vendor.team_ids:
                self.team_ids[team] = vendor.id
            for folder in vendor.folders:
                self.folders[publisher_key(folder)] = vendor.id
        # The channels whose signer attribute some vendor declares, with that vendor map.
        declared = {"publisher": self.publishers, "team_id": self.team_ids, "folder": self.folders}
        self._signers: dict[str, tuple[str, dict[str, str]]] = {
            channel: (attribute, declared[attribute])
            for channel, attribute in SIGNER_ATTRIBUTES.items()
            if declared[attribute]
        }
        # Names the catalog says are NOT a product on a twin channel (its `no_match` examples):
        # a process `ssh` (the client) is not the OpenSSH server its twin service `ssh` is.
        self._not_twins: dict[tuple[str, str], set[str]] = {}
        for product in self.products.values():
            for matcher in product.matchers:
                if matcher.channel.value in TWINS:
                    for example in matcher.no_match:
                        value = example_parts(example)[0].strip().lower()
                        key = (matcher.channel.value, value)
                        self._not_twins.setdefault(key, set()).add(product.id)

    @property
    def ranges(self) -> RangeIndex:
        """The provider ranges, loaded on first use (never downloaded)."""
        if self._ranges is None:
            self._ranges = default_ranges()
        return self._ranges

    def range_evidence(
        self, channel: str, value: str, hits: Sequence[Hit]
    ) -> tuple[str, str, RangeHit] | None:
        """`(product, address, hit)` when `analyse` takes the provider ranges as evidence for an
        observation whose catalog hits are `hits`: an IP channel, no catalog `cidr` matcher."""
        if channel not in IP_CHANNELS:
            return None
        found = self._range_hit(value)
        networks = {ref.product for ref, _ in hits if ref.matcher.kind is MatchKind.CIDR}
        return found if found is not None and (not networks or found[0] in networks) else None

    def _range_hit(self, value: str) -> tuple[str, str, RangeHit] | None:
        """`(product, address, hit)` when the address `value` is in a provider's ranges whose
        product the catalog has."""
        address = value.strip()
        hit = self.ranges.lookup(address)
        provider = PROVIDERS.get(hit.provider) if hit is not None else None
        if hit is None or provider is None:
            return None
        products = self.catalog.products
        product = provider.product_for(hit.service)
        if product not in products:
            product = provider.product
        return None if product is None or product not in products else (product, address, hit)

    def analyse(
        self, observations: Sequence[Observation], today: datetime.date | None = None
    ) -> Analysis:
        """Identify products in `observations`; `today` dates the end-of-support flags."""
        # Matching allocates many small objects and creates no cycles; with a large scan alive,
        # each automatic collection would walk every observation again. Collect afterwards.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._analyse(observations, today or datetime.date.today())
        finally:
            if collecting:
                gc.enable()

    def _analyse(self, observations: Sequence[Observation], today: datetime.date) -> Analysis:
        drafts: dict[tuple[str, str], _Draft] = {}
        unidentified: list[str] = []
        strangers: Counter[str] = Counter()
        directory_counts: dict[str, list[Observation]] = {}
        fleets: dict[str, _Fleet] = {}
        channels = self.index.channels
        # The same value recurs on many hosts (a package, a resolver, an MX): look it up once.
        # Locals, not attributes, in this loop: it runs once per observation.
        seen: dict[tuple[str, str], Sequence[Hit]] = {}
        seen_get, drafts_get, unknown = seen.get, drafts.get, unidentified.append
        matchable, known, ip_channels, quiet = MATCHABLE, KNOWN, IP_CHANNELS, QUIET_MISSES
        ranged: dict[str, tuple[str, str, RangeHit] | None] = {}
        signers = self._signers
        twins = TWINS
        twin_seen: dict[tuple[str, str], tuple[MatcherRef, ...]] = {}
        twin_seen_get = twin_seen.get
        conditional: set[tuple[str, str]] = set()
        for observation in observations:
            channel = observation.channel
            key = (channel, observation.value)
            hits = seen_get(key)
            if hits is None:
                index = channels.get(channel)
                # Misses share one empty tuple: no list is kept per value that matched nothing.
                found = index.lookup(key[1]) if index is not None else None
                hits = seen[key] = found or NO_HITS
                if found and any(ref.matcher.require for ref, _ in found):
                    conditional.add(key)  # hits that depend on each observation's attributes
            if channel in ip_channels:
                # The providers' own ranges (the rule of `range_evidence`, inlined: this loop runs
                # once per observation): for an address no catalog network knows, or one the
                # catalog gives to the same product (the ranges add service and region).
                value = key[1]
                if value in ranged:
                    in_range = ranged[value]
                else:
                    in_range = ranged[value] = self._range_hit(value)
                networks = {ref.product for ref, _ in hits if ref.matcher.kind is MatchKind.CIDR}
                if in_range is not None and (not networks or in_range[0] in networks):
                    product, address, range_hit = in_range
                    draft_key = (product, observation.locus)
                    draft = drafts_get(draft_key)
                    if draft is None:
                        draft = drafts[draft_key] = _Draft()
                    draft.add_range(observation, address, range_hit)
                    if not hits:
                        continue
            if key in conditional:
                attributes = observation.attributes
                hits = [hit for hit in hits if hit[0].matcher.accepts(attributes)]
            if not hits and channel in twins:
                twin = twin_seen_get(key)
                if twin is None:
                    twin = twin_seen[key] = self._twin_hits(channel, key[1])
                if twin:
                    for ref in twin:
                        draft_key = (ref.product, observation.locus)
                        draft = drafts_get(draft_key)
                        if draft is None:
                            draft = drafts[draft_key] = _Draft()
                        draft.add_twin(observation, ref)
                    continue  # the program is named: no vendor-level finding besides
            if channel in signers and self._by_signer(observation, hits, drafts) and not hits:
                continue  # known by its signer only: a vendor-level finding, not unidentified
            if not hits:
                if channel in matchable:
                    if channel not in quiet:
                        unknown(observation.id)
                elif channel == Channel.LDAP_COUNT:
                    directory_counts.setdefault(observation.locus, []).append(observation)
                elif channel in (Channel.FLEET_SOURCE, Channel.FLEET_MACHINE):
                    _fleet_context(fleets, observation)
                elif channel not in known:
                    unknown(observation.id)
                    strangers[channel] += 1
                continue
            locus = observation.locus
            for ref, captured in hits:
                draft_key = (ref.product, locus)
                draft = drafts_get(draft_key)
                if draft is None:
                    draft = drafts[draft_key] = _Draft()
                draft.add(observation, ref, captured)
        self._supersede(drafts)  # first: a dropped guess implies nothing
        self._imply(drafts)
        findings = [
            self._finding(
                product, locus, draft, today, directory_counts.get(locus), fleets.get(locus)
            )
            for (product, locus), draft in drafts.items()
        ]
        findings.sort(key=lambda f: (f.category.value, f.product, f.locus))
        dependency_index, euros = organisation_indexes(findings, self.scoring)
        return Analysis(findings, unidentified, dependency_index, euros, dict(strangers))

    def _by_signer(
        self,
        observation: Observation,
        hits: Sequence[Hit],
        drafts: dict[tuple[str, str], _Draft],
    ) -> bool:
        """Add a program to its vendor-level finding when its signer (a Windows `publisher`, a
        macOS `team_id`) is a vendor's and no catalog product recognised it; whether it was
        added. A program a product recognises is explained: Omnissa's Horizon Client, still
        published as "VMware, Inc.", is Horizon, not also "a VMware product"."""
        attribute, signers = self._signers[observation.channel]
        signer = observation.attributes.get(attribute)
        if not isinstance(signer, str):
            return False
        vendor = signers.get(
            signer.strip().upper() if attribute == "team_id" else publisher_key(signer)
        )
        if vendor is None or hits:
            return False
        key = (vendor_product_id(vendor), observation.locus)
        draft = drafts.get(key)
        if draft is None:
            draft = drafts[key] = _Draft()
        draft.add_signer(observation, attribute, signer)
        return True

    def _twin_hits(self, channel: str, value: str) -> tuple[MatcherRef, ...]:
        """The matchers of the twin channel that recognise the program's other name (one per
        product, in catalog order; none with a `require`, none of a product whose matchers on
        `channel` list `value` among their `no_match` examples)."""
        index = self.index.channels.get(TWINS[channel])
        if index is None:
            return ()
        refused = self._not_twins.get((channel, value.strip().lower()), set())
        found: dict[str, MatcherRef] = {}
        for name in twin_values(channel, value):
            for ref, _captured in index.lookup(name):
                if not ref.matcher.require and ref.product not in refused:
                    found.setdefault(ref.product, ref)
        return tuple(found.values())

    def _supersede(self, drafts: dict[tuple[str, str], _Draft]) -> None:
        """Drop the weak-only findings of products that a product found at the same locus
        supersedes: Samba AD answers with some of Active Directory's capability OIDs."""
        products = self.products
        for product, locus in list(drafts):
            for other in products[product].supersedes:
                draft = drafts.get((other, locus))
                if draft is not None and not draft.strong and (product, locus) in drafts:
                    del drafts[(other, locus)]
                    drafts[(product, locus)].matched[f"supersedes {other}"] = None

    def _imply(self, drafts: dict[tuple[str, str], _Draft]) -> None:
        """Add the products that found products imply, at the same locus (transitively).

        A product found directly on weak evidence only is upgraded by a strongly evidenced
        product that implies it: Exchange Online in the MX makes Microsoft 365 current even when
        Microsoft 365's own evidence is a verification token. Evidence only grows, so the loop
        ends.
        """
        products = self.products
        pending = [key for key in drafts if products[key[0]].implies]
        while pending:
            source_product, locus = pending.pop()
            source = drafts[(source_product, locus)]
            for implied in products[source_product].implies:
                key = (implied, locus)
                target = drafts.get(key)
                if target is None:
                    target = drafts[key] = _Draft(implied_by=source_product)
                elif target.implied_by is None and (target.strong or not source.strong):
                    continue  # found directly, on evidence at least as strong: it stands
                before = (len(target.evidence), target.strong, len(target.weak_usages))
                target.evidence.update(source.evidence)
                target.matched[f"implied by {source_product}"] = None
                target.strong = target.strong or source.strong
                target.weak_usages |= source.weak_usages
                after = (len(target.evidence), target.strong, len(target.weak_usages))
                if after != before and products[implied].implies:
                    pending.append(key)

    def _counts(
        self,
        product: Product,
        draft: _Draft,
        today: datetime.date,
        directory: list[Observation] | None,
        fleet: _Fleet | None = None,
    ) -> dict[str, JsonValue]:
        """What a finding counts: machines per release (of how many a fleet has), or a
        directory's accounts."""
        counts: dict[str, JsonValue] = {}
        if draft.implied_by is not None:
            return counts
        if draft.counted:
            systems: list[JsonValue] = []
            unsupported = 0
            releases = [c for c in draft.counted.values() if c.channel in RELEASE_CHANNELS]
            for entry in sorted(releases, key=lambda entry: -entry.count):
                release, count = entry.release, entry.count
                line: dict[str, JsonValue] = {"release": safe_text(release), "count": count}
                end = product.support_end(release)
                if end is not None:
                    ended = end.ends < today
                    line["support"] = {
                        "label": end.label,
                        "ends": end.ends.isoformat(),
                        "ended": ended,
                    }
                    unsupported += count if ended else 0
                systems.append(line)
            union = _fleet_union(draft.counted.values()) if fleet is not None else None
            if fleet is not None and union is not None:
                servers = (union & fleet.servers).bit_count()
                workstations = union.bit_count() - servers
                if workstations or not servers:
                    counts["devices"] = workstations
                if servers:
                    counts["servers"] = servers
            else:
                name = "devices" if product.category is Category.POSTE_DE_TRAVAIL else "servers"
                counts[name] = _machines(draft.counted.values())
            if systems:
                counts["systems"] = systems
            if unsupported:
                counts["unsupported"] = unsupported
            if fleet is not None and fleet.size:
                counts["fleet_machines"] = fleet.size
        if draft.ranged:
            counts.update(self._range_attributes(product, draft.ranged))
        if directory and product.domain == DIRECTORY_DOMAIN:
            for observation in directory:
                number = observation.attributes.get(COUNT_ATTRIBUTE)
                if isinstance(number, int) and not isinstance(number, bool) and number >= 0:
                    counts[observation.value.replace("-", "_")] = number
                    draft.evidence[observation.id] = None
                    if observation.attributes.get("partial") is True:
                        counts["partial"] = True
        return counts

    def _range_attributes(
        self, product: Product, ranged: Mapping[str, RangeHit]
    ) -> dict[str, JsonValue]:
        """Service and region the providers give the finding's addresses, how many addresses,
        and the note on a non-EU provider's French region."""
        # A network may have several services or regions ("EC2, S3"): list each once.
        services = dict.fromkeys(
            part for hit in ranged.values() for part in hit.service.split(", ") if part
        )
        regions = dict.fromkeys(
            part for hit in ranged.values() for part in hit.region.split(", ") if part
        )
        attributes: dict[str, JsonValue] = {"provider_addresses": len(ranged)}
        if services:
            attributes["provider_service"] = safe_text(", ".join(services))
        if regions:
            attributes["provider_region"] = safe_text(", ".join(regions))
        french = any(is_french_region(hit.provider, hit.region) for hit in ranged.values())
        if french and self._template(product.id).jurisdiction is Jurisdiction.NON_EU:
            attributes["note"] = NOTE_FRANCE
        return attributes

    def _finding(
        self,
        product_id: str,
        locus: str,
        draft: _Draft,
        today: datetime.date,
        directory: list[Observation] | None = None,
        fleet: _Fleet | None = None,
    ) -> Finding:
        # A copy of the product's validated template: validating each finding anew would cost
        # most of a scan; what changes per finding is typed here and made safe (locus, version,
        # captured attributes).
        counts = self._counts(self.products[product_id], draft, today, directory, fleet)
        template = self._template(product_id)
        return template.model_copy(
            update={
                "id": finding_id(product_id, locus),
                "locus": safe_text(locus),
                "version": (
                    safe_text(draft.version) if draft.version and not draft.implied_by else None
                ),
                "confidence": Confidence.STRONG if draft.strong else Confidence.WEAK,
                "usage": draft.usage,
                "evidence": list(draft.evidence),
                "matched": list(draft.matched),
                "implied_by": draft.implied_by,
                "attributes": {
                    **{name: safe_text(text) for name, text in draft.attributes.items()},
                    **counts,
                },
                "exposures": list(template.exposures),
                "alternatives": list(template.alternatives),
                "dependency_note": self._dependency_note(template, draft),
            }
        )

    @staticmethod
    def _dependency_note(template: Finding, draft: _Draft) -> str | None:
        """The rule of docs/scoring.md: an open-source product of a firm outside the EU, found
        through a distribution's package, says who develops it and what the dependency is."""
        if (
            template.developer is None
            or not draft.distributors
            or template.jurisdiction in (Jurisdiction.EU, Jurisdiction.COMMUNITY)
        ):
            return None
        return dependency_note(
            template.developer, template.developer_country, [*draft.distributors]
        )

    def describe(self, product_id: str, locus: str) -> Finding:
        """A finding of a catalog product at a locus with no evidence: what a person adds or
        picks when they correct a finding (KeyError for a product the catalog lacks)."""
        template = self._template(product_id)
        return template.model_copy(
            update={"id": finding_id(product_id, locus), "locus": safe_text(locus), "evidence": []}
        )

    def _template(self, product_id: str) -> Finding:
        """What a finding of this product says whatever the locus, validated once per product."""
        template = self._templates.get(product_id)
        if template is None:
            product: Product = self.products[product_id]
            vendor = self.catalog.vendors[self.vendor_of[product_id]]
            control = self.controls[vendor.id]
            offers = {offer.lower() for offer in control.secnumcloud}
            template = self._templates[product_id] = Finding(
                id="template",
                product=product_id,
                product_name=product.name,
                vendor=vendor.id,
                vendor_name=vendor.name,
                vendor_country=vendor.country,
                controller=control.controller,
                controller_name=self.catalog.vendors[control.controller].name,
                controller_country=control.controller_country,
                developer=vendor.name if product.open_source and not vendor.community else None,
                developer_country=(
                    vendor.country if product.open_source and not vendor.community else None
                ),
                jurisdiction=control.jurisdiction,
                exposures=list(control.exposures),
                secnumcloud=product.id in offers or product.name.lower() in offers,
                category=product.category,
                domain=product.domain,
                open_source=product.open_source,
                locus="",
                confidence=Confidence.STRONG,
                criticality=product.criticality,
                evidence=[],
                alternatives=list(product.alternatives),
                score=score(
                    self.scoring,
                    jurisdiction=control.jurisdiction,
                    open_source=product.open_source,
                    criticality=product.criticality,
                    replaceability=product.replaceability,
                    alternatives=len(product.alternatives),
                    annual_cost_eur=None,
                    controller=self.catalog.vendors[control.controller].name,
                    vendor=vendor.name,
                    vendor_country=vendor.country,
                    controller_country=control.controller_country,
                    through=tuple(
                        (firm.name, firm.country)
                        for firm in self.catalog.chain(vendor.id)[1:-1]
                        if not firm.community
                    ),
                ),
            )
        return template


def _fleet_context(fleets: dict[str, _Fleet], observation: Observation) -> None:
    """Note a fleet's size (`fleet.source` count) or one of its servers (`fleet.machine`)."""
    fleet = fleets.get(observation.locus)
    if fleet is None:
        fleet = fleets[observation.locus] = _Fleet()
    attributes = observation.attributes
    if observation.channel == Channel.FLEET_SOURCE:
        size = attributes.get(COUNT_ATTRIBUTE)
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            fleet.size += size
        return
    index = attributes.get("index")
    if (
        attributes.get("server") is True
        and isinstance(index, int)
        and not isinstance(index, bool)
        and 0 <= index < 1 << 24
    ):
        fleet.servers |= 1 << index


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    """The engine of the shipped catalog, compiled once per process."""
    return Engine(default_catalog())


def analyse(
    observations: Sequence[Observation],
    catalog: Catalog | None = None,
    today: datetime.date | None = None,
) -> Analysis:
    """Identify products in `observations` with `catalog` (default: the shipped catalog)."""
    engine = default_engine() if catalog is None else _engine_for(catalog)
    return engine.analyse(observations, today)


_ENGINES: dict[int, Engine] = {}


def _engine_for(catalog: Catalog) -> Engine:
    # Keyed by identity; the engine holds the catalog, so the id cannot be reused meanwhile.
    engine = _ENGINES.get(id(catalog))
    if engine is None or engine.catalog is not catalog:
        if len(_ENGINES) >= 8:
            _ENGINES.clear()
        engine = _ENGINES[id(catalog)] = Engine(catalog)
    return engine
