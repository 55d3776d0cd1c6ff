"""The `directory` probe: which identity platform the organisation depends on, and what it holds.

Without credentials it reads the rootDSE (RFC 4512, 5.1): the object classes, vendor, naming
contexts, functional levels and capabilities that tell Active Directory, Samba AD, OpenLDAP, 389
Directory Server or FreeIPA apart (the catalog decides which is which). With a read-only bind it
counts, page by page and never holding a whole result: enabled user accounts (the unit of most
licences), groups, computers and their operating systems per release; and in an Active Directory
it looks for the products that leave objects there: Exchange, Entra ID Connect and Cloud Sync,
AD FS, Configuration Manager, certificate services, AD-integrated DNS zones, group policies.

The inventory gets counts and product facts only: no person's name, and no account name except
the service accounts that identify a product (`MSOL_…`). Counts are emitted as each search ends;
a search cut short keeps what it counted, marked partial, and says so in a note.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from typing import ClassVar

from pydantic import JsonValue

from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext
from probes.directory.connection import (
    Directory,
    DirectoryError,
    SearchInterrupted,
    SearchRefused,
)
from probes.text import printable

AD_CAPABILITY = "1.2.840.113556.1.4.800"  # LDAP_CAP_ACTIVE_DIRECTORY_OID
ACCOUNT_DISABLED = 0x2  # userAccountControl ACCOUNTDISABLE
VALUE_MAX = 256  # longest attribute value kept (operatingSystem, vendorName…)
ROOTDSE_EVIDENCE = ("objectclass", "vendorname", "vendorversion", "domaincontrollerfunctionality")
ROOTDSE_CONTEXT = (
    "defaultnamingcontext",
    "rootdomainnamingcontext",
    "configurationnamingcontext",
    "schemanamingcontext",
    "dnshostname",
    "domainfunctionality",
    "forestfunctionality",
    "domaincontrollerfunctionality",
    "supportedldapversion",
)
# Functional levels (MS-ADTS 6.1.4.4): what people call them.
LEVELS = {
    "0": "2000",
    "1": "2003 interim",
    "2": "2003",
    "3": "2008",
    "4": "2008 R2",
    "5": "2012",
    "6": "2012 R2",
    "7": "2016",
    "10": "2025",
}
# Service accounts that identify a product; only these names are read (MS-ADTS wildcards).
PRODUCT_ACCOUNTS = (
    "(|(sAMAccountName=MSOL_*)(sAMAccountName=AAD_*)(sAMAccountName=Sync_*)"
    "(sAMAccountName=provAgentgMSA*)(sAMAccountName=AZUREADSSOACC*))"
)
ACCOUNT_SHAPE = re.compile(r"[A-Za-z0-9_$.-]{1,64}")
# Containers a product creates, relative to the naming context they live in.
DOMAIN_CONTAINERS = ("CN=ADFS,CN=Microsoft,CN=Program Data", "CN=System Management,CN=System")
CONFIGURATION_CONTAINERS = ("CN=Microsoft Exchange,CN=Services",)
SKIPPED_ZONES = {"rootdnsservers", "..trustanchors", "..inprogress"}


def text_of(values: list[bytes] | None, most: int = VALUE_MAX) -> str | None:
    """The first value as printable text: invalid UTF-8 replaced, control characters made
    spaces, bounded; None when absent or empty."""
    if not values:
        return None
    return printable(values[0][: most * 4].decode("utf-8", "replace"), most)


def _int(values: list[bytes] | None) -> int:
    try:
        return int(values[0]) if values else 0
    except ValueError:
        return 0


class DirectoryProbe(Probe):
    """Reads the configured LDAP directory or Active Directory."""

    name: ClassVar[str] = "directory"
    tags: ClassVar[frozenset[str]] = frozenset({"directory", "network"})
    channels: ClassVar[frozenset[Channel]] = frozenset(
        {
            Channel.LDAP_SERVER,
            Channel.LDAP_ROOTDSE,
            Channel.LDAP_CAPABILITY,
            Channel.LDAP_COUNT,
            Channel.LDAP_OS,
            Channel.LDAP_CLASS,
            Channel.LDAP_CONTAINER,
            Channel.LDAP_SCHEMA,
            Channel.LDAP_ACCOUNT,
        }
    )
    summary: ClassVar[str] = (
        "Annuaire LDAP / Active Directory : produit, comptes, postes, liens cloud / "
        "LDAP directory / Active Directory: product, accounts, computers, cloud links"
    )
    default_timeout: ClassVar[float] = 300.0

    def unavailable(self, ctx: ProbeContext) -> str | None:
        if ctx.directory is None:
            return "pas de section [directory] / no [directory] section"
        return None

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        assert ctx.directory is not None
        directory = Directory(ctx.directory, out.remaining)
        try:
            directory.open()
            root = directory.read_entry("", ["*", "+"]) or {}
            if not root:
                raise DirectoryError(
                    directory.endpoint.url,
                    "rootDSE illisible sans authentification",
                    "rootDSE unreadable without authentication",
                )
            _Reader(directory, root, out).run()
        finally:
            directory.close()


class _Reader:
    """One read of one directory: the rootDSE, then what the bind allows."""

    def __init__(self, directory: Directory, root: dict[str, list[bytes]], out: Emitter) -> None:
        self.directory = directory
        self.root = root
        self.out = out
        self.locus = directory.endpoint.locus
        capabilities = [text_of([v]) or "" for v in root.get("supportedcapabilities", [])]
        self.active_directory = AD_CAPABILITY in capabilities
        self.capabilities = [c for c in capabilities if c]

    # -- helpers ---------------------------------------------------------------------------------

    def emit(self, channel: Channel, value: str, attributes: dict[str, JsonValue]) -> None:
        self.out.observe(channel, self.locus, value, attributes)

    def context(self, name: str) -> str | None:
        return text_of(self.root.get(name), 1000)

    def count(self, what: str, number: int, cut: bool, **more: JsonValue) -> None:
        attributes: dict[str, JsonValue] = {"count": number, **more}
        if cut:
            attributes["partial"] = True
        self.emit(Channel.LDAP_COUNT, what, attributes)

    def stream(
        self, base: str, search_filter: str, attributes: list[str], scope: str = "sub"
    ) -> Iterable[dict[str, list[bytes]]]:
        """Entries of a search, page by page."""
        return self.directory.search(base, search_filter, attributes, scope)

    def optional(self, read: Callable[[], None]) -> None:
        """A read of product objects or of a secondary count: refused by the server, it becomes
        a note and the probe goes on (a timeout or a lost connection still ends it)."""
        try:
            read()
        except SearchRefused as exc:
            self.out.note(str(exc))

    # -- the read --------------------------------------------------------------------------------

    def run(self) -> None:
        self.emit_rootdse()
        try:
            self.directory.bind()
        finally:  # how the connection was protected is recorded even when the bind fails
            self.emit_server()
        if not self.directory.bound:
            return
        try:
            if self.active_directory:
                self.read_active_directory()
            else:
                self.read_ldap()
        except (SearchInterrupted, SearchRefused) as exc:
            self.out.note(f"{exc} — les comptes déjà lus sont gardés / counts so far are kept")
            raise

    def server_facts(self) -> dict[str, JsonValue]:
        endpoint = self.directory.endpoint
        facts: dict[str, JsonValue] = {
            "url": endpoint.url,
            "tls": endpoint.tls,
            "certificate": (
                "verified"
                if endpoint.verified
                else ("not-verified" if endpoint.tls != "none" else "no-tls")
            ),
            "bound": self.directory.bound,
            "kind": "active-directory" if self.active_directory else "ldap",
        }
        for name in ROOTDSE_CONTEXT:
            value = self.context(name)
            if value is not None:
                facts[name] = value
                if name.endswith("functionality") and value in LEVELS:
                    facts[name + "_label"] = LEVELS[value]
        contexts = [text_of([v], 1000) for v in self.root.get("namingcontexts", [])]
        facts["namingcontexts"] = [c for c in contexts if c]
        return facts

    def emit_server(self) -> None:
        endpoint = self.directory.endpoint
        self.emit(Channel.LDAP_SERVER, self.locus, self.server_facts())
        if endpoint.tls != "none" and not endpoint.verified:
            self.out.note(
                "ATTENTION : certificat de l'annuaire non vérifié ([directory] insecure = true) / "
                "WARNING: the directory's certificate was not verified (insecure = true)"
            )

    def emit_rootdse(self) -> None:
        for name in ROOTDSE_EVIDENCE:
            for raw in self.root.get(name, []):
                value = text_of([raw])
                if value and value.lower() != "top":
                    label = {"objectclass": "objectClass"}.get(name, _camel(name))
                    self.emit(Channel.LDAP_ROOTDSE, f"{label}={value}", {})
        # Naming contexts made of dc= components only are the organisation's own name (kept in
        # ldap.server); others are a product's suffixes (o=ipaca: Dogtag, in FreeIPA).
        for raw in self.root.get("namingcontexts", []):
            value = text_of([raw], 1000)
            if value and not all(
                part.strip().lower().startswith("dc=") for part in value.split(",")
            ):
                self.emit(Channel.LDAP_ROOTDSE, f"namingContexts={value}", {})
        for capability in self.capabilities:
            self.emit(Channel.LDAP_CAPABILITY, capability, {})

    # -- Active Directory ------------------------------------------------------------------------

    def read_active_directory(self) -> None:
        domain = self.directory.endpoint.base or self.context("defaultnamingcontext") or ""
        configuration = self.context("configurationnamingcontext") or ""
        schema = self.context("schemanamingcontext") or ""
        forest = self.context("rootdomainnamingcontext") or domain
        people = "(&(objectCategory=person)(objectClass=user))"
        self.count_users(domain, people, ["userAccountControl"], _ad_disabled)
        self.count_computers(domain)
        self.count_simple("groups", domain, "(objectClass=group)")
        self.optional(partial(self.product_accounts, domain))
        for container in DOMAIN_CONTAINERS:
            self.optional(partial(self.container, container, domain, "domain"))
        for container in CONFIGURATION_CONTAINERS:
            self.optional(partial(self.container, container, configuration, "configuration"))
        self.optional(partial(self.exchange, configuration, schema))
        self.optional(partial(self.product_classes, domain, configuration))
        self.optional(partial(self.dns_zones, domain, forest))
        policies = f"CN=Policies,CN=System,{domain}"
        gpos = "(objectClass=groupPolicyContainer)"
        self.optional(partial(self.count_simple, "gpos", policies, gpos, "one"))

    def count_users(
        self,
        base: str,
        search_filter: str,
        attributes: list[str],
        is_disabled: Callable[[dict[str, list[bytes]]], bool],
    ) -> None:
        enabled = disabled = 0
        cut = False
        try:
            for entry in self.stream(base, search_filter, attributes):
                if is_disabled(entry):
                    disabled += 1
                else:
                    enabled += 1
        except (SearchInterrupted, SearchRefused):
            cut = True
            raise
        finally:
            self.count("users", enabled, cut, disabled=disabled)

    def count_computers(self, base: str) -> None:
        enabled = disabled = unknown = 0
        releases: Counter[str] = Counter()
        cut = False
        attributes = ["userAccountControl", "operatingSystem", "operatingSystemVersion"]
        try:
            for entry in self.stream(base, "(objectCategory=computer)", attributes):
                if _int(entry.get("useraccountcontrol")) & ACCOUNT_DISABLED:
                    disabled += 1
                    continue
                enabled += 1
                system = text_of(entry.get("operatingsystem"))
                if system is None:
                    unknown += 1
                    continue
                version = text_of(entry.get("operatingsystemversion"), 64)
                releases[f"{system} {version}" if version else system] += 1
        except (SearchInterrupted, SearchRefused):
            cut = True
            raise
        finally:
            self.count("computers", enabled, cut, disabled=disabled, without_os=unknown)
            for release, number in releases.most_common():
                attributes_out: dict[str, JsonValue] = {"count": number}
                if cut:
                    attributes_out["partial"] = True
                self.emit(Channel.LDAP_OS, release, attributes_out)

    def count_simple(self, what: str, base: str, search_filter: str, scope: str = "sub") -> None:
        number = 0
        cut = False
        try:
            for _entry in self.stream(base, search_filter, [], scope):
                number += 1
        except (SearchInterrupted, SearchRefused):
            cut = True
            raise
        finally:
            self.count(what, number, cut)

    def product_accounts(self, domain: str) -> None:
        names: Counter[str] = Counter()
        for entry in self.stream(domain, PRODUCT_ACCOUNTS, ["sAMAccountName"]):
            name = text_of(entry.get("samaccountname"), 64)
            if name and ACCOUNT_SHAPE.fullmatch(name):
                names[name] += 1
        for name in sorted(names):
            self.emit(Channel.LDAP_ACCOUNT, name, {})

    def container(self, relative: str, context: str, partition: str) -> None:
        if context and self.directory.read_entry(f"{relative},{context}", ["1.1"]) is not None:
            self.emit(Channel.LDAP_CONTAINER, relative, {"partition": partition})

    def exchange(self, configuration: str, schema: str) -> None:
        if schema:
            entry = self.directory.read_entry(
                f"CN=ms-Exch-Schema-Version-Pt,{schema}", ["rangeUpper"]
            )
            if entry is not None:
                attributes: dict[str, JsonValue] = {}
                if entry.get("rangeupper"):
                    attributes["rangeUpper"] = _int(entry.get("rangeupper"))
                self.emit(Channel.LDAP_SCHEMA, "ms-Exch-Schema-Version-Pt", attributes)
        if not configuration:
            return
        versions: Counter[str] = Counter()
        base = f"CN=Microsoft Exchange,CN=Services,{configuration}"
        for entry in self.stream(base, "(objectClass=msExchExchangeServer)", ["serialNumber"]):
            versions[text_of(entry.get("serialnumber"), 64) or "?"] += 1
        if versions:
            self.emit(
                Channel.LDAP_CLASS,
                "msExchExchangeServer",
                {"count": sum(versions.values()), "versions": dict(versions.most_common())},
            )

    def product_classes(self, domain: str, configuration: str) -> None:
        searches = (
            (
                f"CN=Enrollment Services,CN=Public Key Services,CN=Services,{configuration}",
                "pKIEnrollmentService",
            ),
            (f"CN=System Management,CN=System,{domain}", "mSSMSManagementPoint"),
            (f"CN=System Management,CN=System,{domain}", "mSSMSSite"),
        )
        for base, object_class in searches:
            if base.endswith(","):
                continue
            number = sum(1 for _ in self.stream(base, f"(objectClass={object_class})", []))
            if number:
                self.emit(Channel.LDAP_CLASS, object_class, {"count": number})

    def dns_zones(self, domain: str, forest: str) -> None:
        zones: set[str] = set()
        for base in (
            f"DC=DomainDnsZones,{domain}",
            f"DC=ForestDnsZones,{forest}",
            f"CN=MicrosoftDNS,CN=System,{domain}",
        ):
            for entry in self.stream(base, "(objectClass=dnsZone)", ["name"]):
                name = text_of(entry.get("name"))
                if name and name.lower() not in SKIPPED_ZONES:
                    zones.add(name.lower())
        self.count("dns-zones", len(zones), False)

    # -- other LDAP directories ------------------------------------------------------------------

    def read_ldap(self) -> None:
        contexts = [text_of([v], 1000) for v in self.root.get("namingcontexts", [])]
        base = (
            self.directory.endpoint.base
            or self.context("defaultnamingcontext")
            or next((c for c in contexts if c and c.lower().startswith("dc=")), None)
        )
        if base is None:
            self.out.note(
                "aucun contexte de nommage dc=… : comptes non comptés / no dc=… naming context: "
                "accounts not counted"
            )
            return
        people = "(|(objectClass=inetOrgPerson)(objectClass=posixAccount))"
        locks = ["pwdAccountLockedTime", "nsAccountLock"]
        self.count_users(base, people, locks, _ldap_locked)
        self.count_simple(
            "groups",
            base,
            "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)"
            "(objectClass=posixGroup)(objectClass=groupOfMembers))",
        )
        self.count_simple(
            "computers", base, "(|(objectClass=device)(objectClass=ipHost)(objectClass=ipaHost))"
        )


def _ad_disabled(entry: dict[str, list[bytes]]) -> bool:
    """userAccountControl has ACCOUNTDISABLE (MS-ADTS 2.2.16)."""
    return bool(_int(entry.get("useraccountcontrol")) & ACCOUNT_DISABLED)


def _ldap_locked(entry: dict[str, list[bytes]]) -> bool:
    """Locked by the password policy overlay (pwdAccountLockedTime) or by 389 DS
    (nsAccountLock: true)."""
    if entry.get("pwdaccountlockedtime"):
        return True
    return (text_of(entry.get("nsaccountlock")) or "").lower() == "true"


def _camel(name: str) -> str:
    """rootDSE attribute names as RFC 4512 and MS-ADTS spell them."""
    return {
        "vendorname": "vendorName",
        "vendorversion": "vendorVersion",
        "domaincontrollerfunctionality": "domainControllerFunctionality",
    }.get(name, name)
