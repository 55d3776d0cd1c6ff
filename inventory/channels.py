"""Evidence channels: the one list of kinds of evidence a probe may emit.

An observation's channel says what its value is. Matcher channels are the ones the catalog's
matchers listen to: an observation there that no matcher recognises is listed as unidentified, for a
person to classify. Informational channels carry context (a host's identity, a listening socket, a
DNS error, a directory's counts) that no matcher reads. Each probe declares the channels it emits
(`probes.base.Probe.channels`); emitting another one is a programming error. An observation on a
channel missing from this list (an inventory from a newer agent, an import) is reported by the
engine, never dropped silently. `docs/catalog.md` documents each channel.

Imports nothing from tiebreak.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Channel(StrEnum):
    """Every evidence channel; the value of an observation is described beside each."""

    # -- the machine the agent runs on (host and processes probes) ------------------------------
    HOST = "host"  # informational: the machine's name (attributes: machine id, platform)
    OS = "os"  # os-release ID ("debian"), "windows", "macos"
    PACKAGE = "package"  # Linux package name: dpkg, rpm, apk, snap, flatpak app id
    PACKAGE_WINDOWS = "package.windows"  # Windows Uninstall DisplayName or AppX package name
    PACKAGE_MACOS = "package.macos"  # macOS bundle identifier
    PROCESS = "process"  # executable name, lower-case ("teams.exe", "zoom")
    SERVICE = "service"  # service name (systemd unit without ".service", Windows service)
    LISTEN = "listen"  # informational: "address:port/protocol" a local process listens on
    NET_REMOTE = "net.remote"  # remote address of an established connection
    NET_HOST = "net.host"  # remote host name of a connection (cloud endpoint)
    # -- network services ------------------------------------------------------------------------
    NMAP_HOST = "nmap.host"  # informational: a live host's address (attributes: name, open ports)
    NMAP_SERVICE = "nmap.service"  # nmap product string ("OpenSSH", "Microsoft IIS httpd")
    NMAP_CPE = "nmap.cpe"  # CPE from nmap, "cpe:/a:openbsd:openssh:9.2p1"
    HTTP_HEADER = "http.header"  # "name: value", lower-case name ("server: Microsoft-IIS/10.0")
    HTTP_TITLE = "http.title"  # a web page's HTML title ("IIS Windows Server", "FortiGate")
    # -- web sites (http probe) ------------------------------------------------------------------
    HTTP_URL = "http.url"  # informational: a site's final URL (attributes: status, redirects…)
    HTTP_ADDRESS = "http.address"  # an address a site's host name resolved to
    HTTP_GENERATOR = "http.generator"  # the page's <meta name="generator"> ("WordPress 6.4.2")
    HTTP_PATH = "http.path"  # a well-known path the page links to ("/wp-content/")
    HTTP_COOKIE = "http.cookie"  # a cookie's name, never its value ("__cf_bm")
    HTTP_REDIRECT = "http.redirect"  # host name of a redirect leaving the scope (recorded only)
    TLS_ISSUER = "tls.issuer"  # organisation of the certificate's issuer ("Let's Encrypt")
    # -- DNS (dns probe) -------------------------------------------------------------------------
    DNS_MX = "dns.mx"  # MX host name
    DNS_NS = "dns.ns"  # NS host name
    DNS_SPF = "dns.spf"  # domain of an SPF include: or redirect=
    DNS_TXT = "dns.txt"  # a whole TXT string at the apex ("MS=ms12345678")
    DNS_CNAME = "dns.cname"  # CNAME target (attribute `name`: the owner name)
    DNS_SRV = "dns.srv"  # SRV target host
    DNS_DKIM = "dns.dkim"  # DKIM selector's CNAME target
    DNS_DMARC = "dns.dmarc"  # domain receiving DMARC rua/ruf reports
    DNS_CAA = "dns.caa"  # CA domain of a CAA issue/issuewild record
    DNS_A = "dns.a"  # IPv4 or IPv6 address of the apex, www or an MX host
    DNS_SOA = "dns.soa"  # informational: the zone's primary server and contact
    DNS_DMARC_POLICY = "dns.dmarc-policy"  # informational: the DMARC record itself
    DNS_MTA_STS = "dns.mta-sts"  # informational: the MTA-STS TXT record
    DNS_TLS_RPT = "dns.tls-rpt"  # informational: the TLS-RPT TXT record
    DNS_ERROR = "dns.error"  # informational: a question that got no usable answer
    # -- directory (directory probe) -------------------------------------------------------------
    LDAP_ROOTDSE = "ldap.rootdse"  # "attribute=value" from the rootDSE ("vendorName=Samba Team")
    LDAP_CAPABILITY = "ldap.capability"  # an OID from supportedCapabilities / supportedControl
    LDAP_OS = "ldap.os"  # computers' operatingSystem and version ("Windows 11 Pro 10.0 (22631)")
    LDAP_CLASS = "ldap.class"  # objectClass of product objects found ("pKIEnrollmentService")
    # a product's well-known container, relative to its naming context: "CN=ADFS,CN=Microsoft,…"
    LDAP_CONTAINER = "ldap.container"
    LDAP_SCHEMA = "ldap.schema"  # a schema extension's attribute name ("ms-Exch-Schema-Version-Pt")
    LDAP_ACCOUNT = "ldap.account"  # a product's service account name ("MSOL_0123456789ab")
    LDAP_COUNT = "ldap.count"  # informational: "users", "groups", "computers"… (attribute count)
    LDAP_SERVER = "ldap.server"  # informational: the server read (host; attributes: naming
    # contexts, functional levels, how the connection was protected, whether TLS was verified)
    # -- workstation fleets (fleet probe: GLPI, FusionInventory, GLPI Agent, OCS Inventory) -------
    # The fleet probe emits os, package and package.windows observations that stand for several
    # machines (attributes `count` and `machines`); these carry the fleet's own context.
    FLEET_SOURCE = "fleet.source"  # informational: one source read (a folder, a GLPI URL;
    # attribute `count`: the machines it added, besides files read and skipped)
    FLEET_MACHINE = "fleet.machine"  # informational: a machine's stable pseudonym (attributes:
    # its index in the `machines` lists, OS, manufacturer, model, virtualisation, antivirus)
    FLEET_HARDWARE = "fleet.hardware"  # informational: "manufacturer model" (attribute `count`)
    FLEET_VIRTUALISATION = "fleet.virtualisation"  # informational: the hypervisor machines run
    # on, "physical" for the others (attribute `count`)


INFORMATIONAL: Final = frozenset(
    {
        Channel.HOST,
        Channel.LISTEN,
        Channel.NMAP_HOST,
        Channel.HTTP_URL,
        Channel.DNS_SOA,
        Channel.DNS_DMARC_POLICY,
        Channel.DNS_MTA_STS,
        Channel.DNS_TLS_RPT,
        Channel.DNS_ERROR,
        Channel.LDAP_COUNT,
        Channel.LDAP_SERVER,
        Channel.FLEET_SOURCE,
        Channel.FLEET_MACHINE,
        Channel.FLEET_HARDWARE,
        Channel.FLEET_VIRTUALISATION,
    }
)
"""Channels that carry context: no matcher listens to them, nothing there is unidentified."""

MATCHABLE: Final = frozenset(Channel) - INFORMATIONAL
"""Channels the catalog's matchers may listen to."""

QUIET_MISSES: Final = frozenset({Channel.HTTP_TITLE})
"""Matcher channels whose unmatched values are mostly the organisation's own words (a site's
title): not listed as unidentified, where they would bury the evidence a person must classify."""

IP_CHANNELS: Final = frozenset({Channel.DNS_A, Channel.NET_REMOTE, Channel.HTTP_ADDRESS})
"""Channels whose value is an IP address, the only ones `cidr` matchers may listen to."""

COUNTED: Final = frozenset(
    {
        Channel.LDAP_OS,
        Channel.NMAP_SERVICE,
        Channel.NMAP_CPE,
        Channel.HTTP_HEADER,
        Channel.HTTP_TITLE,
        Channel.OS,
        Channel.PACKAGE,
        Channel.PACKAGE_WINDOWS,
    }
)
"""Channels whose observations may stand for several machines (attribute `count`, and `addresses`
or `machines` when the machines are known): the engine counts them on the finding, as `devices`
(workstation products) or `servers` (the others). An observation without `count` (the host
probe's, for the machine it runs on) counts nothing."""

ADDRESSES_ATTRIBUTE: Final = "addresses"
"""The observation attribute listing the addresses of the machines an observation stands for."""

MACHINES_ATTRIBUTE: Final = "machines"
"""The observation attribute listing the machines an observation stands for, as ranges of indexes
("0-4,7,9-12") into its fleet's machine list (the `fleet.machine` observations at the same
locus, attribute `index`)."""

COUNT_ATTRIBUTE: Final = "count"
"""The observation attribute holding how many machines or accounts an observation stands for."""

KNOWN: Final = frozenset(channel.value for channel in Channel)
"""Every channel's name, for checking observations that arrive as plain strings."""

MATCHER_ATTRIBUTES: Final = {
    # source: dpkg, rpm, apk, snap, flatpak (host and fleet probes: a fleet file's FROM), else
    # fleet (fleet probe, manager unknown); publisher: rpm's Vendor (else Packager), a fleet's
    # most common publisher; source_package: dpkg Source, apk origin, when it differs from the name
    Channel.PACKAGE: frozenset({"source", "publisher", "arch", "source_package"}),
    # source: registry-hklm, registry-hklm-wow64, registry-user, appx (host probe), fleet;
    # publisher: the Uninstall entry's Publisher, an AppX publisher's O= (else CN=)
    Channel.PACKAGE_WINDOWS: frozenset({"source", "publisher", "arch"}),
    # source: info-plist; name: CFBundleDisplayName, else CFBundleName; team_id: the Team ID in
    # the code signature of the executable (none when unsigned or ad-hoc signed)
    Channel.PACKAGE_MACOS: frozenset({"source", "name", "team_id"}),
    # source: windows, systemd; the others from Get-Service
    Channel.SERVICE: frozenset({"source", "display_name", "status", "start_type"}),
    # folder: the one folder under a system-wide install root the executable lives in
    # (`C:\\Program Files\\<folder>\\…`, `ProgramData`, `/opt/<folder>/…`, `/usr/local`,
    # `/Library/Application Support`), host probe; never a shared folder (`SHARED_FOLDERS`)
    Channel.PROCESS: frozenset({"folder"}),
}
"""Text attributes each channel's observations carry that a matcher may require (`require` in the
catalog): a condition on an attribute its channel never carries could never hold, and is refused.
Channels left out carry none that matchers may use."""
