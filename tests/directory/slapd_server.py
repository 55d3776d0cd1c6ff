"""Start a real OpenLDAP slapd on a loopback address, with TLS, for the directory probe tests.

Used by the directory tests (tests/directory/conftest.py) and by benchmarks/bench_ldap.py. The
server is Debian's /usr/sbin/slapd run in the foreground with a slapd.conf generated in a work
directory (MDB database, logs and certificates there too): neither /etc/ldap/slapd.d nor the
system's slapd service is involved. It listens on 127.0.0.1 only; clients reach it by the name
`localhost` (/etc/hosts), which is the name in the server certificate.

The directory (suffix dc=tiebreak,dc=test) holds a read-only account cn=reader, users in
ou=people (inetOrgPerson + posixAccount, French names), groups in ou=groups (groupOfNames and
posixGroup, alternately) and devices in ou=hosts. It is loaded offline with `slapadd -q` before
slapd starts (50,000 users load in a few seconds); small additions go online through `ldapadd`.

Access control: anonymous clients read the rootDSE and the subschema, nothing else; the reader
reads the data (not the password hashes) and a non-paged search returns at most
READER_SIZE_LIMIT entries (then sizeLimitExceeded), while a paged search reads everything.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ldap3
import ldap3.core.exceptions

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
LDAPADD = "ldapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
MODULE_DIR = Path("/usr/lib/ldap")

BASE_DN = "dc=tiebreak,dc=test"
ADMIN_DN = f"cn=admin,{BASE_DN}"
READER_DN = f"cn=reader,{BASE_DN}"
PEOPLE_DN = f"ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
HOSTS_DN = f"ou=hosts,{BASE_DN}"
HOSTNAME = "localhost"  # the name clients use, and the server certificate's only name

PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
# A non-paged search by the reader stops here with sizeLimitExceeded (result code 4).
READER_SIZE_LIMIT = 500
# dc=tiebreak,dc=test, ou=people, ou=groups, ou=hosts and cn=reader: present in every server.
STRUCTURE_ENTRIES = 5

# The session fixture's population (tests/directory/conftest.py).
FIXTURE_USERS = 120
FIXTURE_GROUPS = 15
FIXTURE_DEVICES = 10
# The benchmark's population (start_benchmark_slapd).
BENCHMARK_USERS = 50_000
BENCHMARK_GROUPS = 100
BENCHMARK_DEVICES = 500

FIRST_NAMES = (
    "Camille", "Élodie", "François", "Hélène", "Jérôme", "Loïc", "Maëlle", "Noémie",
    "Benoît", "Cécile", "Gaëlle", "Théo", "Léa", "Zoé", "Raphaël", "Chloé",
    "Mathéo", "Inès", "Clément", "Anaïs", "Jean-Michel", "Marie-Thérèse", "Stéphane", "Aurélie",
    "Frédéric", "Agnès", "Gérard", "Joëlle", "Rémi", "Solène", "Hervé", "Béatrice",
    "Thierry", "Sandrine", "Nathalie", "Pascal", "Sylvie", "Laurent", "Isabelle", "Olivier",
)  # fmt: skip
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
    "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David",
    "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Lefebvre",
    "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier",
    "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas",
    "Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine",
    "Chevalier", "Robin", "Lemaître", "Noël", "Bénard", "Rivière", "Côté", "Brûlé",
)  # fmt: skip
SERVICES = (
    "Direction générale des services", "Direction des systèmes d'information", "État civil",
    "Urbanisme", "Finances", "Ressources humaines", "Services techniques", "Éducation",
    "Culture et patrimoine", "Police municipale", "Centre communal d'action sociale",
    "Médiathèque",
)  # fmt: skip
SITES = ("Hôtel de ville", "Mairie annexe", "Centre technique municipal", "École Jules-Ferry")

# What add_hostile() tries, and what slapd 2.5 does with it (checked by test_slapd_fixture.py).
HOSTILE_BIG_DESCRIPTION_BYTES = 200 * 1024
HOSTILE_CONTROL_CN = "Alerte\x07 \x1b[31mROUGE\x1b[0m \x1b]0;titre\x07 fin\x00?"
HOSTILE_RAW_BYTES = b"\xff\xd8\xff\xe0 caf\xe9 \xc3\x28 \x80\xfe\xff"  # not valid UTF-8
# slapd checks only that a Directory String is valid UTF-8: control characters (NUL included)
# pass, in values and in DNs; Octet Strings (jpegPhoto, userPassword) take any bytes.
HOSTILE_ACCEPTED = frozenset(
    {
        "big_description",
        "control_chars_cn",
        "jpeg_photo_raw_bytes",
        "user_password_raw",
        "control_chars_dn",
    }
)
HOSTILE_REFUSED = frozenset({"description_raw_bytes"})  # "value #0 invalid per syntax" (21)


@dataclass(frozen=True, slots=True)
class Population:
    """What populate() loads: counts of each kind of entry, for tests to compare with."""

    users: int
    groups: int
    devices: int

    @property
    def groups_of_names(self) -> int:
        """Groups with an even index are groupOfNames."""
        return (self.groups + 1) // 2

    @property
    def posix_groups(self) -> int:
        """Groups with an odd index are posixGroup."""
        return self.groups // 2

    @property
    def entries(self) -> int:
        """Every entry under the suffix, the structure (base, OUs, reader) included."""
        return STRUCTURE_ENTRIES + self.users + self.groups + self.devices


@dataclass(frozen=True, slots=True)
class TestCertificates:
    """A test CA, a server certificate for `localhost` signed by it, and an unrelated CA."""

    __test__ = False  # not a pytest test class

    directory: Path
    ca_file: Path
    cert_file: Path
    key_file: Path
    other_ca_file: Path


@dataclass(frozen=True, slots=True)
class HostileResult:
    """One hostile entry add_hostile() tried: accepted by slapd, or refused with its message."""

    name: str
    dn: str
    accepted: bool
    error: str = ""


class LdapToolError(RuntimeError):
    """An OpenLDAP command-line tool (ldapadd, slapadd) failed."""

    def __init__(self, command: str, returncode: int, output: str) -> None:
        super().__init__(f"{command} failed ({returncode}): {output.strip()}")
        self.returncode = returncode
        self.output = output


@dataclass(slots=True)
class Slapd:
    """A running slapd: where it listens, its accounts and certificates, and its process."""

    workdir: Path
    address: str
    port: int
    tls_port: int | None
    process: subprocess.Popen[bytes]
    config_file: Path
    log_file: Path
    certificates: TestCertificates | None
    admin_password: str
    admin_password_file: Path
    password: str  # the reader's
    password_file: Path  # the reader's password, mode 0600, no trailing newline
    population: Population
    base_dn: str = BASE_DN
    admin_dn: str = ADMIN_DN
    reader_dn: str = READER_DN
    paused: bool = False
    # Filled by add_hostile(): what slapd accepted or refused, by candidate name.
    hostile: dict[str, HostileResult] = field(default_factory=dict)

    @property
    def hostname(self) -> str:
        """The name clients use: `localhost` on 127.0.0.1, else the address itself."""
        return HOSTNAME if self.address == "127.0.0.1" else self.address

    @property
    def url(self) -> str:
        """Plain LDAP (StartTLS available when TLS is on): ldap://localhost:PORT."""
        return f"ldap://{self.hostname}:{self.port}"

    @property
    def url_ldaps(self) -> str:
        """LDAP over TLS: ldaps://localhost:TLS_PORT."""
        if self.tls_port is None:
            raise RuntimeError("this slapd was started with tls=False")
        return f"ldaps://{self.hostname}:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server certificate."""
        return self._certificates().ca_file

    @property
    def other_ca_file(self) -> Path:
        """An unrelated CA: verifying the server with it must fail."""
        return self._certificates().other_ca_file

    def _certificates(self) -> TestCertificates:
        if self.certificates is None:
            raise RuntimeError("this slapd was started with tls=False")
        return self.certificates

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted by the kernel but nothing answers. Returns
        once every thread of slapd is stopped: the signal is only queued when `kill` returns,
        and a thread still running could answer one more request."""
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True
        tasks = Path(f"/proc/{self.process.pid}/task")
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            states = []
            for stat in tasks.glob("*/stat"):
                try:
                    # "pid (comm) S ...": the state follows the last ')'.
                    states.append(stat.read_text().rpartition(")")[2].split()[0])
                except (OSError, IndexError):
                    continue
            if states and all(state in ("T", "t") for state in states):
                return
            time.sleep(0.001)

    def resume(self) -> None:
        """SIGCONT: slapd answers again, pending requests included."""
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def running(self) -> bool:
        """True while the slapd process exists."""
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop slapd (resume it if paused, terminate, kill if it lingers). Idempotent."""
        if self.process.poll() is not None:
            return
        if self.paused:
            self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def add(self, ldif: str) -> None:
        """Add entries online as the admin through ldapadd; raise LdapToolError if refused."""
        command = [
            LDAPADD, "-x", "-H", f"ldap://{self.address}:{self.port}",
            "-D", self.admin_dn, "-y", str(self.admin_password_file),
        ]  # fmt: skip
        result = subprocess.run(
            command,
            input=ldif.encode(),
            capture_output=True,
            env=_client_env(),
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stderr + result.stdout).decode(errors="replace")
            raise LdapToolError("ldapadd", result.returncode, output)

    def log_tail(self, size: int = 4000) -> str:
        """The end of slapd's log (its stderr)."""
        try:
            return self.log_file.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""


# --- Certificates ----------------------------------------------------------------------------

_OPENSSL_CONFIG = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {names}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.decode(errors='replace')}")


def _make_ca(directory: Path, name: str, config: Path) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl(
        "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-sha256",
        "-subj", f"/O=tiebreak tests/CN=tiebreak {name}", "-config", config,
        "-extensions", "ca_ext",
    )  # fmt: skip
    return key, cert


def make_certificates(directory: Path, names: Sequence[str] = (HOSTNAME,)) -> TestCertificates:
    """Generate with the openssl CLI: CA, server certificate (EC P-256, 1 day), unrelated CA.

    The server certificate's subjectAltName holds DNS:`names` only (no IP address). Note that
    OpenLDAP's own client tools check a certificate reached as `localhost` against the
    machine's host name (gethostname), not `localhost`: ldapsearch -ZZ -H ldap://localhost
    fails here unless that name is added; ldap3 and Python's ssl check `localhost` itself.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG.replace("{names}", ",".join(f"DNS:{name}" for name in names)))
    ca_key, ca_cert = _make_ca(directory, "ca", config)
    _other_key, other_cert = _make_ca(directory, "other-ca", config)
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", f"/O=tiebreak tests/CN={names[0]}",
        "-config", config,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
        "-set_serial", str(secrets.randbits(63)), "-days", "1", "-sha256",
        "-extfile", config, "-extensions", "server_ext", "-out", cert,
    )  # fmt: skip
    for path in directory.glob("*.key"):
        path.chmod(0o600)
    return TestCertificates(directory, ca_cert, cert, key, other_cert)


# --- Configuration and data ------------------------------------------------------------------


def ssha(password: str) -> str:
    """The {SSHA} form of a password, as slappasswd writes it."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def write_secret(path: Path, secret: str) -> Path:
    """Write a password to a file of mode 0600, without a trailing newline (ldap* -y)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(secret)
    return path


def write_config(
    workdir: Path,
    admin_password: str,
    certificates: TestCertificates | None,
    reader_size_limit: int = READER_SIZE_LIMIT,
) -> Path:
    """slapd.conf (mode 0600) for an MDB database in workdir/data; TLS if certificates."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    schemas = "\n".join(f"include {SCHEMA_DIR / name}.schema" for name in SCHEMAS)
    tls = ""
    if certificates is not None:
        tls = f"""TLSCACertificateFile {certificates.ca_file}
TLSCertificateFile {certificates.cert_file}
TLSCertificateKeyFile {certificates.key_file}
TLSVerifyClient never
TLSProtocolMin 3.3
"""
    config = workdir / "slapd.conf"
    config.unlink(missing_ok=True)
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(
            f"""# Generated by tests/directory/slapd_server.py
{schemas}
modulepath {MODULE_DIR}
moduleload back_mdb
pidfile {workdir / "slapd.pid"}
argsfile {workdir / "slapd.args"}
sasl-host {HOSTNAME}
loglevel none
tool-threads 2
sizelimit {reader_size_limit}
{tls}
# Frontend (rootDSE, subschema): readable by anyone, as on most directories.
access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read

database mdb
maxsize 4294967296
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {ssha(admin_password)}
directory {data}
dbnosync
index objectClass eq
index uid,cn eq
index member,memberUid eq
limits dn.exact="{READER_DN}" size.soft={reader_size_limit} size.hard={reader_size_limit} \
size.pr=unlimited size.prtotal=unlimited
access to attrs=userPassword
    by self =xw
    by anonymous auth
    by * none
access to *
    by dn.exact="{READER_DN}" read
    by self read
    by anonymous auth
    by * none
"""
        )
    return config


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum() or c == "-")


def _line(attribute: str, value: str | bytes) -> str:
    """One LDIF line; base64 when the value is not a plain printable ASCII string (RFC 2849)."""
    raw = value.encode() if isinstance(value, str) else value
    if (
        raw
        and raw.isascii()
        and raw.decode().isprintable()
        and raw[:1] not in (b" ", b":", b"<")
        and not raw.endswith(b" ")
    ):
        return f"{attribute}: {raw.decode()}\n"
    return f"{attribute}:: {base64.b64encode(raw).decode()}\n"


def _entry(dn: str, attributes: Iterable[tuple[str, str | bytes]]) -> str:
    return _line("dn", dn) + "".join(_line(name, value) for name, value in attributes) + "\n"


def user_uid(index: int) -> str:
    """The uid of user `index`: prénom.nom, with a number once the name pairs are used up."""
    first, last, round_ = _user_names(index)
    return f"{_slug(first)}.{_slug(last)}{round_ or ''}"


def _user_names(index: int) -> tuple[str, str, int]:
    pairs = len(FIRST_NAMES) * len(LAST_NAMES)
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return first, last, index // pairs


def user_dn(index: int) -> str:
    """The DN of user `index`."""
    return f"uid={user_uid(index)},{PEOPLE_DN}"


def group_cn(index: int) -> str:
    """The cn of group `index` (even: groupOfNames, odd: posixGroup)."""
    service = _slug(SERVICES[index % len(SERVICES)].split(" ")[-1])
    kind = "grp" if index % 2 == 0 else "posix"
    return f"{kind}-{service}-{index:03d}"


def structure_ldif(reader_password: str) -> str:
    """The suffix entry, the three OUs and the reader account."""
    return "".join(
        [
            _entry(
                BASE_DN,
                [
                    ("objectClass", "top"),
                    ("objectClass", "dcObject"),
                    ("objectClass", "organization"),
                    ("dc", "tiebreak"),
                    ("o", "Commune de Tiebreak-sur-Test"),
                ],
            ),
            *(
                _entry(f"ou={ou},{BASE_DN}", [("objectClass", "organizationalUnit"), ("ou", ou)])
                for ou in ("people", "groups", "hosts")
            ),
            _entry(
                READER_DN,
                [
                    ("objectClass", "organizationalRole"),
                    ("objectClass", "simpleSecurityObject"),
                    ("cn", "reader"),
                    ("description", "Compte de lecture seule pour l'inventaire tiebreak"),
                    ("userPassword", ssha(reader_password)),
                ],
            ),
        ]
    )


def iter_population_ldif(n_users: int, n_groups: int, n_devices: int) -> Iterator[str]:
    """Deterministic entries: users, then groups (members: user i in group i % n_groups)."""
    for i in range(n_users):
        first, last, _ = _user_names(i)
        uid = user_uid(i)
        service = SERVICES[i % len(SERVICES)]
        yield _entry(
            f"uid={uid},{PEOPLE_DN}",
            [
                ("objectClass", "inetOrgPerson"),
                ("objectClass", "posixAccount"),
                ("uid", uid),
                ("cn", f"{first} {last}"),
                ("sn", last),
                ("givenName", first),
                ("displayName", f"{last.upper()} {first}"),
                ("mail", f"{uid}@tiebreak.test"),
                ("title", "Agent territorial"),
                ("ou", service),
                ("employeeNumber", f"{i:06d}"),
                (
                    "telephoneNumber",
                    f"+33 1 99 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}",
                ),
                ("uidNumber", str(10_000 + i)),
                ("gidNumber", str(20_000 + (i % n_groups if n_groups else 0))),
                ("homeDirectory", f"/home/{uid}"),
                ("loginShell", "/bin/bash"),
            ],
        )
    for g in range(n_groups):
        cn = group_cn(g)
        members = range(g, n_users, n_groups)
        description = f"Groupe {SERVICES[g % len(SERVICES)]}"
        if g % 2 == 0:
            # groupOfNames needs a member: the reader stands in for an empty group.
            member_dns = [user_dn(i) for i in members] or [READER_DN]
            yield _entry(
                f"cn={cn},{GROUPS_DN}",
                [
                    ("objectClass", "groupOfNames"),
                    ("cn", cn),
                    ("description", description),
                    *(("member", dn) for dn in member_dns),
                ],
            )
        else:
            yield _entry(
                f"cn={cn},{GROUPS_DN}",
                [
                    ("objectClass", "posixGroup"),
                    ("cn", cn),
                    ("description", description),
                    ("gidNumber", str(20_000 + g)),
                    *(("memberUid", user_uid(i)) for i in members),
                ],
            )
    for d in range(n_devices):
        yield _entry(
            f"cn=pc-{d:04d},{HOSTS_DN}",
            [
                ("objectClass", "device"),
                ("cn", f"pc-{d:04d}"),
                ("serialNumber", f"TB-{d:08d}"),
                ("l", SITES[d % len(SITES)]),
                ("ou", SERVICES[d % len(SERVICES)]),
                ("description", "Poste de travail"),
            ],
        )


def populate(
    config: Path, reader_password: str, n_users: int = 0, n_groups: int = 0, n_devices: int = 0
) -> Population:
    """Load the structure and the population with `slapadd -q`, slapd being stopped."""
    log = config.with_name("slapadd.log")
    with log.open("wb") as log_stream:
        process = subprocess.Popen(
            [str(SLAPADD), "-q", "-f", str(config), "-b", BASE_DN],
            stdin=subprocess.PIPE,
            stdout=log_stream,
            stderr=subprocess.STDOUT,
        )
        stdin = process.stdin
        assert stdin is not None
        try:
            stdin.write(structure_ldif(reader_password).encode())
            batch: list[str] = []
            for entry in iter_population_ldif(n_users, n_groups, n_devices):
                batch.append(entry)
                if len(batch) >= 1000:
                    stdin.write("".join(batch).encode())
                    batch.clear()
            stdin.write("".join(batch).encode())
        except BrokenPipeError:
            pass  # slapadd stopped early: its log says why
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
        returncode = process.wait(timeout=600)
    if returncode != 0:
        raise LdapToolError("slapadd", returncode, log.read_text(errors="replace")[-4000:])
    return Population(n_users, n_groups, n_devices)


# --- Process ---------------------------------------------------------------------------------


def _client_env() -> dict[str, str]:
    """Environment for the OpenLDAP client tools: ignore /etc/ldap/ldap.conf and ~/.ldaprc."""
    env = dict(os.environ)
    env["LDAPNOINIT"] = "1"
    return env


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port free on `address` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
    return port


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies, so no slapd outlives a killed run."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def _launch(
    workdir: Path, config: Path, address: str, port: int, tls_port: int | None, debug: str
) -> tuple[subprocess.Popen[bytes], Path]:
    urls = f"ldap://{address}:{port}/"
    if tls_port is not None:
        urls += f" ldaps://{address}:{tls_port}/"
    log_file = workdir / "slapd.log"
    with log_file.open("ab") as log_stream:
        process = subprocess.Popen(
            [str(SLAPD), "-d", debug, "-f", str(config), "-h", urls],
            stdin=subprocess.DEVNULL,
            stdout=log_stream,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # only prctl(): safe enough after fork
        )
    return process, log_file


def wait_ready(server: Slapd, deadline_s: float = 30.0) -> None:
    """Wait until slapd answers a rootDSE search (and a TLS handshake), or raise with its log."""
    deadline = time.monotonic() + deadline_s
    last_error = "no attempt"
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"slapd exited ({server.process.returncode}): {server.log_tail()}")
        try:
            _check_root_dse(server)
            if server.tls_port is not None:
                _check_tls(server)
            return
        except (OSError, ldap3.core.exceptions.LDAPException) as error:
            last_error = f"{type(error).__name__}: {error}"
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"slapd did not answer in {deadline_s} s ({last_error}): {server.log_tail()}"
            )
        time.sleep(0.05)


def _check_root_dse(server: Slapd) -> None:
    ldap_server = ldap3.Server(
        server.address, port=server.port, connect_timeout=1, get_info=ldap3.NONE
    )
    connection = ldap3.Connection(ldap_server, receive_timeout=2)
    try:
        connection.open()
        if not connection.search("", "(objectClass=*)", ldap3.BASE, attributes=["+"]):
            raise OSError(f"rootDSE search failed: {connection.result}")
    finally:
        connection.unbind()


def _check_tls(server: Slapd) -> None:
    assert server.tls_port is not None
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with (
        socket.create_connection((server.address, server.tls_port), timeout=2) as raw,
        context.wrap_socket(raw, server_hostname=HOSTNAME),
    ):
        pass


def start_slapd(
    workdir: Path,
    *,
    address: str = "127.0.0.1",
    port: int | None = None,
    tls_port: int | None = None,
    tls: bool = True,
    users: int = 0,
    groups: int = 0,
    devices: int = 0,
    certificates: TestCertificates | None = None,
    reader_size_limit: int = READER_SIZE_LIMIT,
    debug: str = "none",
    deadline_s: float = 30.0,
) -> Slapd:
    """Configure, populate (slapadd) and start slapd in `workdir`; wait until it answers.

    Free ports are picked when `port`/`tls_port` are None (and picked again if slapd loses
    the race for them). `certificates` (make_certificates) are generated in workdir/tls if
    None and tls is on. `debug` is slapd's -d level ("none" logs errors only; "stats" logs
    operations) written to workdir/slapd.log.
    """
    if not SLAPD.exists():
        raise FileNotFoundError(f"{SLAPD} missing: apt-get install slapd ldap-utils")
    workdir.mkdir(parents=True, exist_ok=True)
    if tls and certificates is None:
        certificates = make_certificates(workdir / "tls")
    if not tls:
        certificates = None
    admin_password = secrets.token_urlsafe(18)
    reader_password = secrets.token_urlsafe(18)
    data = workdir / "data"
    if data.exists():
        shutil.rmtree(data)
    config = write_config(workdir, admin_password, certificates, reader_size_limit)
    population = populate(config, reader_password, users, groups, devices)
    admin_file = write_secret(workdir / "admin.password", admin_password)
    reader_file = write_secret(workdir / "reader.password", reader_password)
    attempts = 1 if port is not None and (tls_port is not None or not tls) else 3
    for attempt in range(attempts):
        chosen_port = port or free_port(address)
        chosen_tls_port = (tls_port or free_port(address)) if tls else None
        process, log_file = _launch(workdir, config, address, chosen_port, chosen_tls_port, debug)
        server = Slapd(
            workdir=workdir,
            address=address,
            port=chosen_port,
            tls_port=chosen_tls_port,
            process=process,
            config_file=config,
            log_file=log_file,
            certificates=certificates,
            admin_password=admin_password,
            admin_password_file=admin_file,
            password=reader_password,
            password_file=reader_file,
            population=population,
        )
        try:
            wait_ready(server, deadline_s)
        except RuntimeError:
            lost_race = "Address already in use" in server.log_tail()  # daemon: bind(...)
            if attempt + 1 < attempts and lost_race:
                continue
            raise
        return server
    raise AssertionError("unreachable")


def add_hostile(server: Slapd) -> dict[str, HostileResult]:
    """Try the hostile entries of the error-handling tests; return what slapd accepted.

    Each is a user in ou=people (uid=hostile-*): a 200 KB description, a cn with control
    characters (BEL, ESC sequences, NUL), non-UTF-8 bytes in description (Directory String),
    jpegPhoto and userPassword (Octet Strings), and a DN with control characters.
    """

    def person(uid: str, extra: list[tuple[str, str | bytes]]) -> list[tuple[str, str | bytes]]:
        return [
            ("objectClass", "inetOrgPerson"),
            ("uid", uid),
            ("cn", uid),
            ("sn", "Hostile"),
            *extra,
        ]

    # Exactly HOSTILE_BIG_DESCRIPTION_BYTES of UTF-8 (cut on a character, padded with dots).
    text = ("Texte très long. " * (HOSTILE_BIG_DESCRIPTION_BYTES // 16 + 1)).encode()
    big = text[:HOSTILE_BIG_DESCRIPTION_BYTES].decode(errors="ignore")
    big += "." * (HOSTILE_BIG_DESCRIPTION_BYTES - len(big.encode()))
    control_dn_uid = "hostile-dn\x07\x1b[2J"
    candidates: dict[str, tuple[str, list[tuple[str, str | bytes]]]] = {
        "big_description": (
            "hostile-big",
            person("hostile-big", [("description", big)]),
        ),
        "control_chars_cn": (
            "hostile-ctrl",
            [
                ("objectClass", "inetOrgPerson"),
                ("uid", "hostile-ctrl"),
                ("cn", HOSTILE_CONTROL_CN),
                ("sn", "Hostile\x1b[0m"),
            ],
        ),
        "description_raw_bytes": (
            "hostile-desc-bytes",
            person("hostile-desc-bytes", [("description", HOSTILE_RAW_BYTES)]),
        ),
        "jpeg_photo_raw_bytes": (
            "hostile-photo",
            person("hostile-photo", [("jpegPhoto", HOSTILE_RAW_BYTES)]),
        ),
        "user_password_raw": (
            "hostile-password",
            person("hostile-password", [("userPassword", HOSTILE_RAW_BYTES)]),
        ),
        "control_chars_dn": (
            control_dn_uid,
            person(control_dn_uid, []),
        ),
    }
    results: dict[str, HostileResult] = {}
    for name, (uid, attributes) in candidates.items():
        dn = f"uid={_escape_dn_value(uid)},{PEOPLE_DN}"
        try:
            server.add(_entry(dn, attributes))
            results[name] = HostileResult(name, dn, accepted=True)
        except LdapToolError as error:
            results[name] = HostileResult(name, dn, accepted=False, error=error.output.strip())
    server.hostile = results
    return results


def _escape_dn_value(value: str) -> str:
    """RFC 4514 escaping of an attribute value in a DN (control characters as \\hh)."""
    escaped = []
    for index, char in enumerate(value):
        if char in ',+"\\<>;=' or (char in " #" and index == 0):
            escaped.append("\\" + char)
        elif not char.isprintable():
            escaped.append("".join(f"\\{byte:02x}" for byte in char.encode()))
        else:
            escaped.append(char)
    return "".join(escaped)


def start_benchmark_slapd(
    workdir: Path,
    *,
    users: int = BENCHMARK_USERS,
    groups: int = BENCHMARK_GROUPS,
    devices: int = BENCHMARK_DEVICES,
    certificates: TestCertificates | None = None,
    tls: bool = True,
) -> Slapd:
    """A slapd loaded with BENCHMARK_USERS users for benchmarks/bench_ldap.py."""
    return start_slapd(
        workdir, users=users, groups=groups, devices=devices, certificates=certificates, tls=tls
    )
