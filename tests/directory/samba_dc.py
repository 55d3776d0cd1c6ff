"""Start a real Samba Active Directory domain controller in its own network namespace.

Used by the directory tests. `start_samba_dc(workdir)` creates the namespace `tiebreak-samba-<pid>`
(only `lo` in it, 127.0.0.2 added to it), provisions the domain TIEBREAK.TEST with everything under
`workdir`, fills the directory offline with the deterministic content that `EXPECTED` and
`EXPECTED_HOSTILE` describe, then starts `samba` inside the namespace and waits until LDAPS answers.
Nothing here talks to any address outside 127.0.0.0/8: the namespace has no other interface, and
`/etc/netns/<ns>/hosts` and `resolv.conf` make `dc1.tiebreak.test` resolve to 127.0.0.2 (the DC's
own DNS) for every client run with `SambaDC.run`.

The directory is written with Samba's own Python bindings (`python3-samba`, Debian's
`/usr/bin/python3`): this file is also that script (`/usr/bin/python3 samba_dc.py populate`, the
parameters and passwords arrive on standard input), so it imports nothing but the standard library
at the top.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _shared_netns() -> Any:
    """tests/tiebreak_netns.py, the namespace helpers the fixtures share (tests are not a
    package, and putting tests/ on sys.path would let tests/agent shadow the agent package)."""
    name = "tiebreak_test_netns"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "tiebreak_netns.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


tiebreak_netns = _shared_netns()
_namespace_pids = tiebreak_netns.namespace_pids
_remove_namespace = tiebreak_netns.remove_namespace

REALM = "TIEBREAK.TEST"
DOMAIN = "TIEBREAK"
DNS_DOMAIN = "tiebreak.test"
HOST_NAME = "dc1"
HOST = f"{HOST_NAME}.{DNS_DOMAIN}"
ADDRESS = "127.0.0.2"
BASE_DN = "DC=tiebreak,DC=test"
CONFIG_DN = f"CN=Configuration,{BASE_DN}"
SCHEMA_DN = f"CN=Schema,{CONFIG_DN}"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-samba lives (not the venv's)
NAMESPACE_PREFIX = "tiebreak-samba-"
SAMBA_EXECUTABLES = frozenset({"samba", "smbd", "winbindd"})

READER = "tiebreak-reader"
READER_DN = f"CN={READER},CN=Users,{BASE_DN}"
READER_UPN = f"{READER}@{DNS_DOMAIN}"

ORG_OU = "OU=Mairie"  # relative to BASE_DN: the collectivité's own tree
USERS_OU = f"OU=Utilisateurs,{ORG_OU}"
WORKSTATIONS_OU = f"OU=Postes,{ORG_OU}"
SERVERS_OU = f"OU=Serveurs,{ORG_OU}"
GROUPS_OU = f"OU=Groupes,{ORG_OU}"

# userAccountControl bits
ACCOUNTDISABLE = 0x2
WORKSTATION_TRUST_ACCOUNT = 0x1000

ENABLED_USERS: tuple[tuple[str, str], ...] = (
    ("Camille", "Martin"),
    ("Léa", "Bernard"),
    ("Hugo", "Dubois"),
    ("Chloé", "Thomas"),
    ("Lucas", "Robert"),
    ("Manon", "Richard"),
    ("Louis", "Petit"),
    ("Inès", "Durand"),
    ("Gabriel", "Leroy"),
    ("Jade", "Moreau"),
    ("Raphaël", "Simon"),
    ("Louise", "Laurent"),
    ("Arthur", "Lefèvre"),
    ("Emma", "Michel"),
    ("Jules", "Garcia"),
    ("Zoé", "David"),
    ("Adam", "Bertrand"),
    ("Alice", "Roux"),
    ("Nathan", "Vincent"),
    ("Lina", "Fournier"),
    ("Théo", "Morel"),
    ("Élise", "Girard"),
    ("Noé", "André"),
    ("Margaux", "Mercier"),
    ("Paul", "Dupont"),
    ("Anaïs", "Lambert"),
    ("Mathis", "Bonnet"),
    ("Clémence", "François"),
    ("Victor", "Martinez"),
    ("Héloïse", "Legrand"),
)
DISABLED_USERS: tuple[tuple[str, str], ...] = (
    ("Bernard", "Lemoine"),
    ("Sylvie", "Chevalier"),
    ("Gérard", "Fontaine"),
    ("Monique", "Rousseau"),
)
# Group name -> slice of ENABLED_USERS (start, stop): deterministic memberships.
GROUPS: dict[str, tuple[int, int]] = {
    "DSI": (0, 4),
    "Élus": (4, 9),
    "Services techniques": (9, 15),
    "Ressources humaines": (15, 18),
    "Finances": (18, 22),
    "Urbanisme": (22, 25),
    "Accueil": (25, 30),
    "Utilisateurs VPN": (0, 12),
}

MSOL_ACCOUNT = "MSOL_1a2b3c4d5e6f"
MSOL_DESCRIPTION = (
    "Account created by Microsoft Azure Active Directory Connect with installation identifier "
    "1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d running on computer SYNC01 configured to synchronize to "
    "tenant communetiebreak.onmicrosoft.com. This account must have directory replication "
    "permissions in the local Active Directory and write permission on certain attributes to "
    "enable Hybrid Deployment."
)
SEAMLESS_SSO_ACCOUNT = "AZUREADSSOACC"

# Workstations: (name prefix, operatingSystem, operatingSystemVersion, how many enabled).
WORKSTATIONS: tuple[tuple[str, str, str, int], ...] = (
    ("PC-W10P-", "Windows 10 Pro", "10.0 (19045)", 8),
    ("PC-W10E-", "Windows 10 Enterprise", "10.0 (19044)", 5),
    ("PC-W11P-", "Windows 11 Pro", "10.0 (22631)", 12),
    ("PC-W11E-", "Windows 11 Enterprise", "10.0 (26100)", 6),
    ("PC-MAC-", "macOS", "14.5", 2),
    ("PC-OSX-", "Mac OS X", "10.15.7", 1),
    ("PC-UBU-", "Ubuntu", "22.04", 2),
)
# Member servers (userAccountControl 4096 too, like workstations): name, OS, version.
SERVERS: tuple[tuple[str, str, str], ...] = (
    ("PKI01", "Windows Server 2016 Standard", "10.0 (14393)"),
    ("FS01", "Windows Server 2016 Standard", "10.0 (14393)"),
    ("SYNC01", "Windows Server 2019 Standard", "10.0 (17763)"),
    ("EXCH01", "Windows Server 2019 Standard", "10.0 (17763)"),
    ("EXCH02", "Windows Server 2019 Standard", "10.0 (17763)"),
    ("ADFS01", "Windows Server 2022 Datacenter", "10.0 (20348)"),
    ("SCCM01", "Windows Server 2022 Datacenter", "10.0 (20348)"),
    ("RDS01", "Windows Server 2022 Datacenter", "10.0 (20348)"),
    ("RDS02", "Windows Server 2022 Datacenter", "10.0 (20348)"),
    ("APP01", "Windows Server 2025 Standard", "10.0 (26100)"),
    ("WEB01", "Debian GNU/Linux", "12"),  # realmd / adcli: os-release NAME and VERSION_ID
    ("GLPI01", "Debian GNU/Linux", "12"),
    ("NAS01", "Samba", "4.19.5-Ubuntu"),  # a Samba member server (net ads join)
)
DISABLED_COMPUTERS: tuple[tuple[str, str, str], ...] = (
    ("PC-W7-01", "Windows 7 Professionnel", "6.1 (7601)"),
    ("PC-W7-02", "Windows 7 Professionnel", "6.1 (7601)"),
    ("PC-W10P-90", "Windows 10 Pro", "10.0 (19045)"),
)
PRESTAGED_COMPUTER = "PRESTAGE01"  # enabled, never joined: no operatingSystem at all
# The DC's own computer object, as Samba 4.17 on Debian bookworm writes it at provisioning.
DC_OPERATING_SYSTEM = ("Samba", "4.17.12-Debian")

HOSTILE_LONG_OS = "Windows 11 Pro " + "Z" * (4000 - len("Windows 11 Pro "))
HOSTILE_CONTROL_OS = "Windows\x07 10\x1b[31m Pro"
HOSTILE_INVALID_UTF8_OS = b"Windows 10 Pro \xff\xfe\xc3\x28"
# Hostile computers (enabled, in the Postes OU): name -> (operatingSystem, operatingSystemVersion).
HOSTILE_COMPUTERS: dict[str, tuple[str | bytes, str]] = {
    "PC-HOSTILE-LONG": (HOSTILE_LONG_OS, "10.0 (22631)"),
    "PC-HOSTILE-CTRL": (HOSTILE_CONTROL_OS, "10.0 (19045)"),
    "PC-HOSTILE-UTF8": (HOSTILE_INVALID_UTF8_OS, "10.0 (19045)"),
}

EXCHANGE_ORG = "Mairie de Tiebreak"
EXCHANGE_ORG_DN = f"CN={EXCHANGE_ORG},CN=Microsoft Exchange,CN=Services,{CONFIG_DN}"
EXCHANGE_SERVERS_DN = (
    "CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),"
    f"CN=Administrative Groups,{EXCHANGE_ORG_DN}"
)
EXCHANGE_SERVER_DN = f"CN=EXCH01,{EXCHANGE_SERVERS_DN}"
EXCHANGE_SERIAL = "Version 15.2 (Build 1118.7)"  # Exchange 2019 CU12
EXCHANGE_SCHEMA_RANGE_UPPER = 17003  # ms-Exch-Schema-Version-Pt of Exchange 2019 CU10 and later
ADFS_DKM_DN = f"CN=ADFS,CN=Microsoft,CN=Program Data,{BASE_DN}"
ADFS_DKM_CHILD = "CN=6a2e7c1f-3b5d-4e8a-9c0f-1d2b3a4c5e6f"
SCCM_DN = f"CN=System Management,CN=System,{BASE_DN}"
ENROLLMENT_SERVICE_DN = (
    f"CN=TIEBREAK-PKI01-CA,CN=Enrollment Services,CN=Public Key Services,CN=Services,{CONFIG_DN}"
)
CERTIFICATE_TEMPLATES = ("DomainController", "WebServer", "Machine", "User")


def _ascii(text: str) -> str:
    """`Clémence` -> `clemence`: the sAMAccountName convention prénom.nom without accents."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def user_login(given: str, surname: str) -> str:
    """sAMAccountName of a person: `prenom.nom`, ASCII."""
    return f"{_ascii(given)}.{_ascii(surname)}".replace(" ", "-")


# What the directory holds once started. "users" are (objectCategory=person)(objectClass=user):
# the built-in Administrator, Guest and krbtgt count (Guest and krbtgt are disabled), and so do
# tiebreak-reader and the Entra ID Connect account MSOL_…
EXPECTED: dict[str, Any] = {
    "users_enabled": 33,  # Administrator + 30 people + tiebreak-reader + MSOL_1a2b3c4d5e6f
    "users_disabled": 6,  # Guest + krbtgt + 4 people
    "people_enabled": len(ENABLED_USERS),  # in OU=Utilisateurs,OU=Mairie
    "people_disabled": len(DISABLED_USERS),
    "groups": 46,  # 38 created by provisioning (incl. CN=Builtin) + 8
    "group_members": {name: stop - start for name, (start, stop) in GROUPS.items()},
    # (objectClass=computer): the DC, 36 workstations, 13 member servers, AZUREADSSOACC$,
    # PRESTAGE01$ and the 3 hostile ones are enabled; 3 old ones are disabled.
    "computers_enabled": 55,
    "computers_disabled": 3,
    "computers_enabled_without_os": 2,  # AZUREADSSOACC$, PRESTAGE01$
    # Enabled computers per (operatingSystem, operatingSystemVersion), hostile ones excluded.
    "computers_enabled_by_os": {
        ("Windows 10 Pro", "10.0 (19045)"): 8,
        ("Windows 10 Enterprise", "10.0 (19044)"): 5,
        ("Windows 11 Pro", "10.0 (22631)"): 12,
        ("Windows 11 Enterprise", "10.0 (26100)"): 6,
        ("macOS", "14.5"): 2,
        ("Mac OS X", "10.15.7"): 1,
        ("Ubuntu", "22.04"): 2,
        ("Windows Server 2016 Standard", "10.0 (14393)"): 2,
        ("Windows Server 2019 Standard", "10.0 (17763)"): 3,
        ("Windows Server 2022 Datacenter", "10.0 (20348)"): 4,
        ("Windows Server 2025 Standard", "10.0 (26100)"): 1,
        ("Debian GNU/Linux", "12"): 2,
        ("Samba", "4.19.5-Ubuntu"): 1,
        DC_OPERATING_SYSTEM: 1,
    },
    "computers_disabled_by_os": {
        ("Windows 7 Professionnel", "6.1 (7601)"): 2,
        ("Windows 10 Pro", "10.0 (19045)"): 1,
    },
    "domain_controllers": 1,  # userAccountControl 532480 = SERVER_TRUST | TRUSTED_FOR_DELEGATION
    "gpos": 2,  # Default Domain Policy, Default Domain Controllers Policy
    # dnsZone objects per partition; RootDNSServers is Samba's root-hints zone.
    "dns_zones": {
        f"DC=DomainDnsZones,{BASE_DN}": ["RootDNSServers", DNS_DOMAIN],
        f"DC=ForestDnsZones,{BASE_DN}": [f"_msdcs.{DNS_DOMAIN}"],
        f"CN=System,{BASE_DN}": ["RootDNSServers"],
    },
    "msol_account": MSOL_ACCOUNT,
    "seamless_sso_account": f"{SEAMLESS_SSO_ACCOUNT}$",
    "adfs_dkm": f"{ADFS_DKM_CHILD},{ADFS_DKM_DN}",
    "sccm_container": SCCM_DN,
    "enrollment_service": ENROLLMENT_SERVICE_DN,
    "exchange_org": EXCHANGE_ORG_DN,
    "exchange_server": EXCHANGE_SERVER_DN,
    "exchange_serial": EXCHANGE_SERIAL,
    "exchange_schema_version": EXCHANGE_SCHEMA_RANGE_UPPER,
    "vendor_name": "Samba Team (https://www.samba.org)",
    "functionality": {"domain": 4, "forest": 4, "domain_controller": 4},  # 2008 R2 levels
}
# Hostile computers as the DC returns them (enabled; in no count of "computers_enabled_by_os").
EXPECTED_HOSTILE: dict[str, dict[str, Any]] = {
    "PC-HOSTILE-LONG$": {"operatingSystem": HOSTILE_LONG_OS.encode(), "length": 4000},
    "PC-HOSTILE-CTRL$": {"operatingSystem": HOSTILE_CONTROL_OS.encode()},
    # Samba refuses invalid UTF-8 on add (objectclass_attrs: LDAP result 21, relax control or
    # not); _add_hostile writes the bytes in the partition's LDB file and the DC serves them as is.
    "PC-HOSTILE-UTF8$": {"operatingSystem": HOSTILE_INVALID_UTF8_OS},
}


def _samba_pids(netns: str) -> list[int]:
    """PIDs of the samba, smbd and winbindd processes living in the namespace."""
    pids = []
    for pid in _namespace_pids(netns):
        try:
            executable = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if Path(executable.removesuffix(" (deleted)")).name in SAMBA_EXECUTABLES:
            pids.append(pid)
    return pids


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _password() -> str:
    """A random password meeting AD complexity (upper, lower, digit, symbol; 24+ characters)."""
    return f"Tb-{secrets.token_urlsafe(18)}-9aZ"


def _write_secret(path: Path, value: str) -> None:
    """Write `value` (no trailing newline: `ldapsearch -y` reads the file whole) in mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)


@dataclass(slots=True)
class SambaDC:
    """A running Samba AD DC in network namespace `netns`, answering on `address` as `host`."""

    netns: str
    workdir: Path
    admin_password: str
    password_file: Path
    process: subprocess.Popen[bytes] | None = None
    host: str = HOST
    address: str = ADDRESS
    realm: str = REALM
    domain: str = DOMAIN
    base_dn: str = BASE_DN
    config_dn: str = CONFIG_DN
    schema_dn: str = SCHEMA_DN
    reader_dn: str = READER_DN
    reader_upn: str = READER_UPN
    admin_dn: str = f"CN=Administrator,CN=Users,{BASE_DN}"
    timings: dict[str, float] = field(default_factory=dict)
    population: dict[str, Any] = field(default_factory=dict)

    @property
    def targetdir(self) -> Path:
        """Samba's --targetdir: etc/smb.conf, private/, state/, cache/."""
        return self.workdir / "samba"

    @property
    def smb_conf(self) -> Path:
        return self.targetdir / "etc" / "smb.conf"

    @property
    def ca_file(self) -> Path:
        """The self-signed CA Samba generates at first start (CN=DC1.tiebreak.test, no SAN)."""
        return self.targetdir / "private" / "tls" / "ca.pem"

    @property
    def log(self) -> Path:
        """samba's standard output and error (--debug-stdout), smbd's and winbindd's included."""
        return self.workdir / "samba.log"

    @property
    def admin_password_file(self) -> Path:
        """dc.admin_password in a mode 0600 file, for `ldapsearch -y`."""
        return self.workdir / "admin.password"

    @property
    def reader_password(self) -> str:
        return self.password_file.read_text()

    def run(
        self,
        argv: list[str],
        env: dict[str, str] | None = None,
        timeout: float = 60,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside the namespace (`env` is added to this process's environment)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *argv],
            input=stdin,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pids(self) -> list[int]:
        """Every samba, smbd and winbindd process of this DC."""
        return _samba_pids(self.netns)

    def pause(self) -> None:
        """SIGSTOP every Samba process: the kernel still accepts connections, nothing answers."""
        _signal_all(self.pids(), signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT every Samba process."""
        _signal_all(self.pids(), signal.SIGCONT)

    def stop(self) -> None:
        """Stop samba (TERM, then KILL), delete the namespace and /etc/netns/<netns>."""
        self.resume()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        deadline = time.monotonic() + 5
        while self.pids() and time.monotonic() < deadline:  # children leave once the root has
            time.sleep(0.05)
        _remove_namespace(self.netns)

    def ldapsearch(
        self, *args: str, url: str | None = None, bind: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`ldapsearch -x -LLL` inside the namespace, trusting `ca_file`, bound as the reader."""
        argv = [
            "ldapsearch",
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            url or f"ldaps://{self.host}",
        ]
        if bind:
            argv += ["-D", self.reader_upn, "-y", str(self.password_file)]
        return self.run([*argv, *args], env={"LDAPTLS_CACERT": str(self.ca_file)})


def _create_namespace(netns: str) -> None:
    subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True)
    etc = Path("/etc/netns") / netns
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hosts").write_text(
        f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n{ADDRESS}\t{HOST} {HOST_NAME}\n"
    )
    (etc / "resolv.conf").write_text(f"nameserver {ADDRESS}\n")
    for command in (
        ["ip", "link", "set", "lo", "up"],
        # Samba's `interfaces` wants an address configured on an interface, not just routed.
        ["ip", "address", "add", f"{ADDRESS}/8", "dev", "lo"],
    ):
        subprocess.run(["ip", "netns", "exec", netns, *command], check=True, capture_output=True)


def _provision(dc: SambaDC) -> None:
    command = [
        "samba-tool",
        "domain",
        "provision",
        "--use-rfc2307",
        f"--realm={REALM}",
        f"--domain={DOMAIN}",
        "--server-role=dc",
        "--dns-backend=SAMBA_INTERNAL",
        f"--targetdir={dc.targetdir}",
        f"--host-name={HOST_NAME}",
        f"--host-ip={ADDRESS}",
        f"--option=interfaces={ADDRESS}",
        "--option=bind interfaces only=yes",
    ]
    # Without --adminpass samba-tool draws a password (and logs it): _populate replaces it with
    # dc.admin_password, passed on standard input, so no password is ever on a command line.
    result = dc.run(command, timeout=300)
    (dc.workdir / "provision.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"samba-tool domain provision failed: {result.stderr[-3000:]}")


def _write_smb_conf(dc: SambaDC) -> None:
    """Replace the provisioned smb.conf: only 127.0.0.2, every path under workdir, no forwarder.

    Provisioning copies the machine's resolv.conf nameserver into `dns forwarder`; leaving it out
    makes the internal DNS answer for its own zones only.
    """
    target = dc.targetdir
    run = target / "run"
    run.mkdir(exist_ok=True)
    dc.smb_conf.write_text(
        f"""[global]
\tnetbios name = {HOST_NAME.upper()}
\trealm = {REALM}
\tworkgroup = {DOMAIN}
\tserver role = active directory domain controller
\tidmap_ldb:use rfc2307 = yes
\tinterfaces = {ADDRESS}
\tbind interfaces only = yes
\tserver services = -dnsupdate
\tldap server require strong auth = yes
\tprefork children = 2
\tprivate dir = {target / "private"}
\tlock directory = {target}
\tstate directory = {target / "state"}
\tcache directory = {target / "cache"}
\tbinddns dir = {target / "bind-dns"}
\tpid directory = {run}
\tncalrpc dir = {run / "ncalrpc"}
\twinbindd socket directory = {run / "winbindd"}
\tntp signd socket directory = {run / "ntp_signd"}
\tlog file = {target / "log.%m"}
\tlog level = 1
\tload printers = no
\tprinting = bsd
\tprintcap name = /dev/null
\tdisable spoolss = yes

[sysvol]
\tpath = {target / "state" / "sysvol"}
\tread only = No

[netlogon]
\tpath = {target / "state" / "sysvol" / DNS_DOMAIN / "scripts"}
\tread only = No
"""
    )


def _populate(dc: SambaDC) -> None:
    """Fill the directory offline, with Debian's python3 and python3-samba (this file's main)."""
    parameters = {
        "smb_conf": str(dc.smb_conf),
        "sam": str(dc.targetdir / "private" / "sam.ldb"),
        "admin_password": dc.admin_password,
        "reader_password": dc.reader_password,
        "user_password": _password(),
    }
    result = dc.run(
        [SYSTEM_PYTHON, str(Path(__file__).resolve()), "populate"],
        env={"PYTHONDONTWRITEBYTECODE": "1"},
        timeout=300,
        stdin=json.dumps(parameters),
    )
    (dc.workdir / "populate.log").write_text(result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"populating the directory failed: {result.stderr[-3000:]}")
    dc.population = json.loads(result.stdout)


def _wait_ready(dc: SambaDC, deadline_s: float) -> None:
    """Wait until an anonymous rootDSE read over LDAPS, checking the CA and the name, succeeds."""
    deadline = time.monotonic() + deadline_s
    while True:
        if dc.process is not None and dc.process.poll() is not None:
            raise RuntimeError(
                f"samba exited ({dc.process.returncode}): {dc.log.read_text()[-3000:]}"
            )
        if dc.ca_file.exists():
            probe = dc.ldapsearch("-b", "", "-s", "base", "vendorName", bind=False)
            if probe.returncode == 0 and "vendorName" in probe.stdout:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"samba did not answer LDAPS in {deadline_s} s: see {dc.log}")
        time.sleep(0.1)


def start_samba_dc(workdir: Path, ready_timeout: float = 120) -> SambaDC:
    """Provision, populate and start a DC in a new namespace; on any failure, clean everything."""
    for tool in ("samba", "samba-tool", "ip", "ldapsearch"):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} missing (samba, iproute2 and ldap-utils are needed)")
    if not Path(SYSTEM_PYTHON).exists():
        raise FileNotFoundError(f"{SYSTEM_PYTHON} missing (python3-samba is needed)")
    remove_stale_namespaces()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    dc = SambaDC(
        netns=_namespace_name(),
        workdir=workdir,
        admin_password=_password(),
        password_file=workdir / "reader.password",
    )
    _write_secret(dc.password_file, _password())
    _write_secret(workdir / "admin.password", dc.admin_password)
    try:
        _create_namespace(dc.netns)
        step = time.monotonic()
        _provision(dc)
        dc.timings["provision"] = time.monotonic() - step
        _write_smb_conf(dc)
        step = time.monotonic()
        _populate(dc)
        dc.timings["populate"] = time.monotonic() - step
        step = time.monotonic()
        conf = str(dc.smb_conf)
        with dc.log.open("wb") as log:
            dc.process = subprocess.Popen(
                ["ip", "netns", "exec", dc.netns, "samba", "-F", "--debug-stdout", "-s", conf],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_ready(dc, ready_timeout)
        dc.timings["start"] = time.monotonic() - step
    except BaseException:
        dc.stop()
        raise
    dc.timings["total"] = time.monotonic() - started
    return dc


# ---------------------------------------------------------------------------------------------
# Below: run by Debian's /usr/bin/python3 (python3-samba), never imported by the tests' Python.


def _populate_offline(parameters: dict[str, str]) -> dict[str, Any]:  # pragma: no cover
    import ldb
    from samba.auth import system_session
    from samba.param import LoadParm
    from samba.samdb import SamDB

    lp = LoadParm()
    lp.load(parameters["smb_conf"])
    lp.set("dsdb:schema update allowed", "true")  # only for this offline session
    db = SamDB(url=parameters["sam"], session_info=system_session(), lp=lp)
    report: dict[str, Any] = {}
    db.setpassword("(sAMAccountName=Administrator)", parameters["admin_password"])

    def add(dn: str, attributes: dict[str, Any]) -> None:
        message = ldb.Message(ldb.Dn(db, dn))
        for name, value in attributes.items():
            values = value if isinstance(value, list) else [value]
            message[name] = ldb.MessageElement(values, ldb.FLAG_MOD_ADD, name)
        db.add(message)

    for ou in (ORG_OU, USERS_OU, WORKSTATIONS_OU, SERVERS_OU, GROUPS_OU):
        add(f"{ou},{BASE_DN}", {"objectClass": "organizationalUnit"})

    password = parameters["user_password"]
    for given, surname in ENABLED_USERS + DISABLED_USERS:
        db.newuser(
            user_login(given, surname),
            password,
            userou=USERS_OU,
            givenname=given,
            surname=surname,
            mailaddress=f"{user_login(given, surname)}@{DNS_DOMAIN}",
        )
    for given, surname in DISABLED_USERS:
        db.disable_account(f"(sAMAccountName={user_login(given, surname)})")
    db.newuser(
        READER,
        parameters["reader_password"],
        useusernameascn=True,
        description="tiebreak: read-only inventory account",
    )
    db.newuser(MSOL_ACCOUNT, password, useusernameascn=True, description=MSOL_DESCRIPTION)
    for name, (start, stop) in GROUPS.items():
        db.newgroup(name, groupou=GROUPS_OU, description=f"Mairie : {name}")
        members = [user_login(g, s) for g, s in ENABLED_USERS[start:stop]]
        db.add_remove_group_members(name, members, add_members_operation=True)

    def computer(
        name: str, ou: str, os_name: str | bytes | None, version: str | None, enabled: bool = True
    ) -> None:
        attributes: dict[str, Any] = {
            "objectClass": "computer",
            "sAMAccountName": f"{name}$",
            "userAccountControl": str(
                WORKSTATION_TRUST_ACCOUNT | (0 if enabled else ACCOUNTDISABLE)
            ),
            "dNSHostName": f"{name.lower()}.{DNS_DOMAIN}",
        }
        if os_name is not None:
            attributes["operatingSystem"] = os_name
        if version is not None:
            attributes["operatingSystemVersion"] = version
        add(f"CN={name},{ou},{BASE_DN}", attributes)

    for prefix, os_name, version, count in WORKSTATIONS:
        for i in range(1, count + 1):
            computer(f"{prefix}{i:02d}", WORKSTATIONS_OU, os_name, version)
    for name, os_name, version in SERVERS:
        computer(name, SERVERS_OU, os_name, version)
    for name, os_name, version in DISABLED_COMPUTERS:
        computer(name, WORKSTATIONS_OU, os_name, version, enabled=False)
    computer(PRESTAGED_COMPUTER, WORKSTATIONS_OU, None, None)
    add(
        f"CN={SEAMLESS_SSO_ACCOUNT},CN=Computers,{BASE_DN}",
        {
            "objectClass": "computer",
            "sAMAccountName": f"{SEAMLESS_SSO_ACCOUNT}$",
            "userAccountControl": str(WORKSTATION_TRUST_ACCOUNT),
            "description": "Computer account for Azure AD Seamless Single Sign-On",
        },
    )
    report["hostile"] = _add_hostile(db, ldb, computer, parameters["sam"])

    # Product footprints: AD FS DKM, Configuration Manager, AD CS, Exchange.
    add(ADFS_DKM_DN, {"objectClass": "container"})
    add(f"{ADFS_DKM_CHILD},{ADFS_DKM_DN}", {"objectClass": "container"})
    add(SCCM_DN, {"objectClass": "container"})
    add(
        ENROLLMENT_SERVICE_DN,
        {
            "objectClass": "pKIEnrollmentService",
            "dNSHostName": f"pki01.{DNS_DOMAIN}",
            "certificateTemplates": list(CERTIFICATE_TEMPLATES),
            "cACertificateDN": "CN=TIEBREAK-PKI01-CA, DC=tiebreak, DC=test",
            "displayName": "TIEBREAK-PKI01-CA",
            "flags": "10",
        },
    )
    report["exchange_schema"] = _extend_exchange_schema(db, ldb)
    for dn in (
        f"CN=Microsoft Exchange,CN=Services,{CONFIG_DN}",
        EXCHANGE_ORG_DN,
        f"CN=Administrative Groups,{EXCHANGE_ORG_DN}",
        EXCHANGE_SERVERS_DN.split(",", 1)[1],
        EXCHANGE_SERVERS_DN,
    ):
        add(dn, {"objectClass": "container"})
    add(
        EXCHANGE_SERVER_DN,
        {
            "objectClass": "msExchExchangeServer",
            "serialNumber": EXCHANGE_SERIAL,
            "networkAddress": [f"ncacn_ip_tcp:exch01.{DNS_DOMAIN}", "netbios:EXCH01"],
            "msExchServerRole": "0",
        },
    )
    return report


def _extend_exchange_schema(db: Any, ldb: Any) -> str:  # pragma: no cover
    """Add ms-Exch-Schema-Version-Pt (rangeUpper 17003) and ms-Exch-Exchange-Server.

    Samba accepts schema additions when `dsdb:schema update allowed` is set (here for this offline
    session only). The OIDs sit in Exchange's arcs (1.2.840.113556.1.4.7000.102 for attributes,
    1.2.840.113556.1.5.7000.62 for classes); except ms-Exch-Server-Role's, the numbers are ours:
    the scanner reads names and rangeUpper, not OIDs.
    """
    schema = [
        {
            "dn": f"CN=ms-Exch-Schema-Version-Pt,{SCHEMA_DN}",
            "objectClass": "attributeSchema",
            "attributeID": "1.2.840.113556.1.4.7000.102.90001",
            "attributeSyntax": "2.5.5.9",
            "oMSyntax": "2",
            "isSingleValued": "TRUE",
            "lDAPDisplayName": "msExchSchemaVersionPt",
            "adminDisplayName": "ms-Exch-Schema-Version-Pt",
            "rangeUpper": str(EXCHANGE_SCHEMA_RANGE_UPPER),
        },
        {
            "dn": f"CN=ms-Exch-Server-Role,{SCHEMA_DN}",
            "objectClass": "attributeSchema",
            "attributeID": "1.2.840.113556.1.4.7000.102.15006",  # Exchange's own
            "attributeSyntax": "2.5.5.9",
            "oMSyntax": "2",
            "isSingleValued": "TRUE",
            "lDAPDisplayName": "msExchServerRole",
        },
    ]
    exchange_server = {
        "dn": f"CN=ms-Exch-Exchange-Server,{SCHEMA_DN}",
        "objectClass": "classSchema",
        "governsID": "1.2.840.113556.1.5.7000.62.90001",
        "lDAPDisplayName": "msExchExchangeServer",
        "adminDisplayName": "ms-Exch-Exchange-Server",
        "objectClassCategory": "1",
        "subClassOf": "top",
        "rDNAttID": "cn",
        "possSuperiors": "container",
        "mayContain": ["serialNumber", "networkAddress", "msExchServerRole"],
        # Readable by Authenticated Users, as Exchange's setup leaves its configuration objects.
        "defaultSecurityDescriptor": "D:(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;DA)"
        "(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;SY)(A;;RPLCLORC;;;AU)",
    }
    for entry in schema:
        db.add(entry)
    _refresh_schema(db, ldb)
    db.add(exchange_server)
    _refresh_schema(db, ldb)
    return "extended"


def _refresh_schema(db: Any, ldb: Any) -> None:  # pragma: no cover
    message = ldb.Message(ldb.Dn(db, ""))
    message["schemaUpdateNow"] = ldb.MessageElement("1", ldb.FLAG_MOD_ADD, "schemaUpdateNow")
    db.modify(message)


def _add_hostile(db: Any, ldb: Any, computer: Any, sam: str) -> dict[str, str]:  # pragma: no cover
    """Add the hostile computers; write invalid UTF-8 past Samba's syntax check if refused.

    Samba refuses invalid UTF-8 in a Unicode-syntax attribute (objectclass_attrs, error 21,
    even with the relax control), so that computer is added with a placeholder and its value
    replaced in the partition's own LDB file, below Samba's modules: the DC then serves the bytes.
    """
    outcome: dict[str, str] = {}
    for name, (os_name, version) in HOSTILE_COMPUTERS.items():
        try:
            computer(name, WORKSTATIONS_OU, os_name, version)
            outcome[name] = "accepted"
        except ldb.LdbError as error:
            outcome[name] = f"refused ({error.args[0]}: {error.args[1]})"
            computer(name, WORKSTATIONS_OU, "placeholder", version)
            partition = Path(sam).parent / "sam.ldb.d" / f"{BASE_DN.upper()}.ldb"
            raw = ldb.Ldb(str(partition), flags=ldb.FLG_DONT_CREATE_DB)
            dn = f"CN={name},{WORKSTATIONS_OU},{BASE_DN}"
            message = ldb.Message(ldb.Dn(raw, dn))
            message["operatingSystem"] = ldb.MessageElement(
                [os_name if isinstance(os_name, bytes) else os_name.encode()],
                ldb.FLAG_MOD_REPLACE,
                "operatingSystem",
            )
            raw.modify(message)
            outcome[name] += "; written in the partition file"
    return outcome


if __name__ == "__main__" and sys.argv[1:] == ["populate"]:  # pragma: no cover
    print(json.dumps(_populate_offline(json.load(sys.stdin))))


def _namespace_name() -> str:
    return tiebreak_netns.free_name(NAMESPACE_PREFIX)


def remove_stale_namespaces() -> list[str]:
    """Delete the namespaces of fixtures whose pytest process died (SIGKILL, crash)."""
    return tiebreak_netns.remove_stale_namespaces(NAMESPACE_PREFIX)
