"""The ports the network probe asks about by default: the ones that name a vendor.

Chosen for identification, not for exhaustiveness: each line says what answers there in a town
hall's network. `[nmap] tcp_ports` and `udp_ports` replace these lists.
"""

from __future__ import annotations

from typing import Final

DEFAULT_TCP: Final[tuple[tuple[str, str], ...]] = (
    ("21", "FTP (NAS, imprimantes / NAS, printers)"),
    ("22", "SSH (Linux, équipements réseau / network devices)"),
    ("23", "Telnet (équipements anciens / old devices)"),
    ("25", "SMTP (Exchange, Postfix, Exim, passerelles / gateways)"),
    ("53", "DNS (Windows DNS, BIND, Unbound)"),
    ("80", "HTTP"),
    ("88", "Kerberos (Active Directory, Samba AD)"),
    ("110", "POP3"),
    ("135", "RPC Microsoft (Windows)"),
    ("139", "NetBIOS (Windows, Samba)"),
    ("143", "IMAP"),
    ("389", "LDAP (Active Directory, OpenLDAP)"),
    ("443", "HTTPS (OWA, vCenter, ESXi, Citrix, pare-feu / firewalls)"),
    ("445", "SMB (Windows, Samba, NAS)"),
    ("465", "SMTPS"),
    ("515", "LPD (imprimantes / printers)"),
    ("541", "FortiGate (gestion / management)"),
    ("587", "SMTP submission"),
    ("631", "IPP (imprimantes / printers)"),
    ("636", "LDAPS"),
    ("902", "VMware ESXi (console)"),
    ("993", "IMAPS"),
    ("995", "POP3S"),
    ("1433", "Microsoft SQL Server"),
    ("1494", "Citrix ICA"),
    ("1521", "Oracle Database (TNS)"),
    ("2598", "Citrix CGP"),
    ("3268", "Catalogue global / global catalog (Active Directory)"),
    ("3269", "Catalogue global TLS / global catalog over TLS"),
    ("3306", "MySQL, MariaDB"),
    ("3389", "RDP (Windows)"),
    ("4443", "HTTPS d'administration / admin HTTPS (Stormshield, Sophos…)"),
    ("5000", "Synology DSM (HTTP)"),
    ("5001", "Synology DSM (HTTPS)"),
    ("5432", "PostgreSQL"),
    ("5480", "VMware vCenter (gestion de l'appliance / appliance management)"),
    ("5985", "WinRM (Windows)"),
    ("5986", "WinRM TLS (Windows)"),
    ("5989", "CIM (VMware ESXi)"),
    ("8000", "HTTP (applications, NAS)"),
    ("8006", "Proxmox VE"),
    ("8008", "HTTP alternatif / alternate HTTP"),
    ("8080", "HTTP alternatif (proxys, NAS, applications) / alternate HTTP"),
    ("8081", "HTTP alternatif / alternate HTTP"),
    ("8443", "HTTPS d'administration (FortiGate, Sophos, UniFi…) / admin HTTPS"),
    ("8888", "HTTP alternatif / alternate HTTP"),
    ("9100", "JetDirect (imprimantes / printers)"),
    ("9443", "HTTPS d'administration / admin HTTPS"),
    ("10000", "Webmin, sauvegardes NDMP / backups"),
    ("10443", "FortiGate SSL VPN"),
)
"""TCP ports and what is expected there."""

DEFAULT_UDP: Final[tuple[tuple[str, str], ...]] = (
    ("161", "SNMP (imprimantes, équipements réseau / printers, network devices)"),
    ("1434", "Microsoft SQL Server Browser"),
)
"""UDP ports (scanned only as root)."""


def default_tcp() -> tuple[str, ...]:
    """The default TCP ports, as nmap's -p reads them."""
    return tuple(port for port, _why in DEFAULT_TCP)


def default_udp() -> tuple[str, ...]:
    """The default UDP ports."""
    return tuple(port for port, _why in DEFAULT_UDP)
