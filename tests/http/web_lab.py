"""A web lab for the http probe's tests: real servers and a real DNS server in a network namespace.

`start_web_lab(workdir)` creates the namespace `tiebreak-web-<pid>` (only `lo` in it, up), assigns
the lab's addresses of 127.80.0.0/24 to `lo` inside it, writes a test certificate authority with
openssl, and starts, each in the foreground with its configuration, keys and logs under `workdir`:

- 127.80.0.53  Knot DNS on 53, serving the zones of `ZONES` (the only resolver the probe asks);
- 127.80.0.10  nginx (Debian's nginx-light) on 80 and 443: a WordPress site (`wp.test`), a Drupal
  site reached through `http://drupal.test/` → `https://www.drupal.test/` → `/accueil/`, a SPIP
  site (`spip.test`) and a site redirecting off the scope (`www.redirige.test`);
- 127.80.0.11  nginx again, on 80 only: `drupal.test`, the apex that redirects to www (no HTTPS);
- 127.80.0.12  an emulated Microsoft IIS 10 / ASP.NET site (`www.iis.test`), 80 and 443;
- 127.80.0.13  an emulated Shopify shop behind Cloudflare (`cf.test`, `www.cf.test`, which is a
  CNAME to `shop.myshopify.test`), 80 and 443;
- 127.80.0.14… hostile servers on 443 (`HOSTILE`): a 1 GB page, a server that never answers, one
  that trickles a header byte by byte, garbage, a redirect loop, endless redirects, 150 headers,
  a self-signed certificate, a certificate for another name, an expired certificate, plain
  HTTP on 443;
- 127.80.0.99  a decoy (`www.prestataire.test`, outside the scope the tests declare): it records
  every connection it gets, and the tests check it got none.

The emulated servers are this file run as a script (`python3 web_lab.py serve <config.json>`):
everything imported at the top is the standard library, and Debian's python3 runs it. Each request
they get is logged (`requests.log`: address, method, path, User-Agent), and so is nginx's
(`nginx/access.log`, same fields).

Nothing here talks to any address outside 127.0.0.0/8: the namespace has no interface but `lo`,
and /etc/netns/<netns>/resolv.conf names the lab's Knot server. The probe runs in a thread that
joined the namespace (`WebLab.call`): its sockets, its threads' sockets and its DNS questions
(to 127.80.0.53, from the context's DNS settings) stay inside.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import secrets
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar


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

NAMESPACE_PREFIX = "tiebreak-web-"
SUBNET = "127.80.0"
DNS_ADDRESS = f"{SUBNET}.53"
NGINX_ADDRESS = f"{SUBNET}.10"
APEX_ONLY_HTTP = f"{SUBNET}.11"
IIS_ADDRESS = f"{SUBNET}.12"
CF_ADDRESS = f"{SUBNET}.13"
DECOY_ADDRESS = f"{SUBNET}.99"
ONE_GB = 1 << 30

# Hostile servers: name below hostile.test -> (address, behaviour, certificate kind).
HOSTILE: dict[str, tuple[str, str, str]] = {
    "huge": (f"{SUBNET}.14", "huge", "hostile"),
    "slow": (f"{SUBNET}.15", "slow", "hostile"),
    "trickle": (f"{SUBNET}.16", "trickle", "hostile"),
    "garbage": (f"{SUBNET}.17", "garbage", "hostile"),
    "loop": (f"{SUBNET}.18", "loop", "hostile"),
    "endless": (f"{SUBNET}.19", "endless", "hostile"),
    "flood": (f"{SUBNET}.20", "flood", "hostile"),
    "selfsigned": (f"{SUBNET}.21", "joomla", "self-signed"),
    "wrongname": (f"{SUBNET}.22", "redirect-home", "wrong-name"),
    "expired": (f"{SUBNET}.23", "apache", "expired"),
    "notls": (f"{SUBNET}.24", "apache", "none"),  # plain HTTP on 443 and 80
}

# Addresses of dead.hostile.test, where nothing listens (connections are refused).
DEAD = (f"{SUBNET}.40", f"{SUBNET}.41")
CF_RAY_POP = "CDG"
DRUPAL_COOKIE = "SSESS4d5f9c2b8e1a7f3c0b6d2e9a1c4f7b80"
DRUPAL_COOKIE_VALUE = "VALEUR-SECRETE-DRUPAL"
IIS_SERVER = "Microsoft-IIS/10.0"

REQUIRED_TOOLS: dict[str, str] = {
    "ip": "iproute2",
    "nginx": "nginx-light",
    "knotd": "knot",
    "openssl": "openssl",
}
TOOL_DIRECTORIES = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")

T = TypeVar("T")


def _zone(origin: str, records: Sequence[str]) -> str:
    lines = [
        f"$ORIGIN {origin}.",
        "$TTL 300",
        f"@ SOA ns1.{origin}. hostmaster.{origin}. 2026120101 3600 900 604800 300",
        f"@ NS ns1.{origin}.",
        f"ns1 A {DNS_ADDRESS}",
        *records,
    ]
    return "\n".join(lines) + "\n"


ZONES: dict[str, list[str]] = {
    "wp.test": [f"@ A {NGINX_ADDRESS}", f"www A {NGINX_ADDRESS}"],
    "drupal.test": [f"@ A {APEX_ONLY_HTTP}", f"www A {NGINX_ADDRESS}"],
    "spip.test": [f"@ A {NGINX_ADDRESS}", f"www A {NGINX_ADDRESS}"],
    "redirige.test": [f"@ A {NGINX_ADDRESS}", f"www A {NGINX_ADDRESS}"],
    "iis.test": [f"www A {IIS_ADDRESS}"],  # the apex has no address
    "cf.test": [f"@ A {CF_ADDRESS}", "www CNAME shop.myshopify.test."],
    "myshopify.test": [f"shop A {CF_ADDRESS}"],
    "prestataire.test": [f"www A {DECOY_ADDRESS}", f"@ A {DECOY_ADDRESS}"],
    "hostile.test": [
        *(f"{name} A {address}" for name, (address, _, _) in HOSTILE.items()),
        *(f"dead A {address}" for address in DEAD),
    ],
}

NGINX_NAMES = (
    "wp.test",
    "www.wp.test",
    "www.drupal.test",
    "drupal.test",
    "spip.test",
    "www.spip.test",
    "redirige.test",
    "www.redirige.test",
)

# --- Pages -------------------------------------------------------------------------------------

WORDPRESS_PAGE = """<!DOCTYPE html>
<html lang="fr-FR">
<head>
<meta charset="UTF-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>Mairie de Wordville &#8211; Site officiel de la commune</title>
<meta name='robots' content='max-image-preview:large' />
<link rel="alternate" type="application/rss+xml" title="Mairie de Wordville &raquo; Flux" \
href="https://www.wp.test/feed/" />
<link rel='stylesheet' id='wp-block-library-css' \
href='https://www.wp.test/wp-includes/css/dist/block-library/style.min.css?ver=6.4.2' \
type='text/css' media='all' />
<link rel='stylesheet' id='twentytwentyfour-style-css' \
href='https://www.wp.test/wp-content/themes/twentytwentyfour/style.css?ver=1.0' media='all' />
<script src="https://www.wp.test/wp-includes/js/jquery/jquery.min.js?ver=3.7.1" \
id="jquery-core-js"></script>
<link rel="https://api.w.org/" href="https://www.wp.test/wp-json/" />
<link rel="EditURI" type="application/rsd+xml" title="RSD" \
href="https://www.wp.test/xmlrpc.php?rsd" />
<meta name="generator" content="WordPress 6.4.2" />
<link rel="canonical" href="https://www.wp.test/" />
</head>
<body class="home page-template-default page page-id-2">
<header><a href="https://www.wp.test/"><img src="/wp-content/uploads/2024/01/logo-mairie.png" \
alt="Logo de la mairie" /></a></header>
<main>
<h1>Bienvenue à Wordville</h1>
<p>Horaires de la mairie, actualités, démarches.</p>
<p><a href="https://blog.ailleurs.test/sites/default/files/doc.pdf">Un blog ami</a></p>
</main>
</body>
</html>
"""

DRUPAL_PAGE = """<!DOCTYPE html>
<html lang="fr" dir="ltr">
  <head>
    <meta charset="utf-8" />
    <meta name="Generator" content="Drupal 10 (https://www.drupal.org)" />
    <meta name="MobileOptimized" content="width" />
    <link rel="icon" href="/core/misc/favicon.ico" type="image/vnd.microsoft.icon" />
    <title>Accueil | Commune de Drupalville</title>
    <link rel="stylesheet" media="all" \
href="/sites/default/files/css/css_Xq8ZqY0cM3r5AvA0nB3Q.css?delta=0&amp;language=fr" />
    <script src="/core/misc/drupalSettingsLoader.js?v=10.2.1"></script>
  </head>
  <body class="path-frontpage">
    <a href="#main-content" class="visually-hidden focusable skip-link">Aller au contenu</a>
    <div class="dialog-off-canvas-main-canvas">
      <h1>Commune de Drupalville</h1>
      <img src="/sites/default/files/styles/wide/public/2024-01/mairie.jpg?itok=abc" alt="" />
    </div>
  </body>
</html>
"""

SPIP_PAGE = """<!DOCTYPE html>
<html dir="ltr" lang="fr" class="ltr fr no-js">
<head>
<title>Commune de Spipville
  - Site officiel de la cit\xe9</title>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1" />
<meta name="generator" content="SPIP 4.2.8 [24601]" />
<link rel="alternate" type="application/rss+xml" title="Syndiquer tout le site" \
href="spip.php?page=backend" />
<link rel="stylesheet" href="squelettes/css/commune.css?1700000000" type="text/css" />
<script src="plugins-dist/mediabox/lib/lity/lity.js?1700000000"></script>
</head>
<body class="page_sommaire">
<h1>Spipville, son march\xe9 et ses \xe9coles</h1>
<a href="spip.php?article12">Conseil municipal</a>
</body>
</html>
"""

IIS_PAGE = """<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml">
<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8" /><title>
	Mairie d'Iisville - Accueil
</title><link href="/App_Themes/Mairie/site.css" type="text/css" rel="stylesheet" /></head>
<body>
<form method="post" action="./Default.aspx" id="form1">
<input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="/wEPDwUKMTY1NDU2MTA1MmRk" />
<script src="/ScriptResource.axd?d=abc&amp;t=123" type="text/javascript"></script>
<h1>Bienvenue</h1>
</form>
</body>
</html>
"""

SHOPIFY_PAGE = """<!doctype html>
<html class="no-js" lang="fr">
<head>
<meta charset="utf-8">
<title>Boutique de la mairie – Produits locaux</title>
<link rel="preconnect" href="https://cdn.shopify.com" crossorigin>
<link href="//www.cf.test/cdn/shop/t/3/assets/base.css?v=123" rel="stylesheet" type="text/css">
<script src="https://cdn.shopify.com/s/files/1/0555/5555/t/3/assets/global.js?v=1" defer></script>
<meta property="og:image" content="http://www.cf.test/cdn/shop/files/logo.png?v=1">
</head>
<body><h1>Produits du terroir</h1></body>
</html>
"""

JOOMLA_PAGE = """<!DOCTYPE html>
<html lang="fr-fr" dir="ltr">
<head>
<meta charset="utf-8">
<meta name="generator" content="Joomla! - Open Source Content Management">
<title>Mairie auto-signée</title>
<script src="/media/system/js/core.min.js?576eb51da909dcf692c98643faa6fc89629ead18"></script>
</head>
<body><h1>Accueil</h1></body>
</html>
"""

APACHE_PAGE = """<html><head><title>Site au certificat expiré</title></head>
<body><h1>It works!</h1></body></html>
"""

# --- Namespace ---------------------------------------------------------------------------------


@dataclass(slots=True)
class WebLab:
    """The running lab: namespace `netns`, certificates, processes and logs under `workdir`."""

    netns: str
    workdir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    _executor: ThreadPoolExecutor | None = field(default=None, repr=False)

    @property
    def ca_file(self) -> Path:
        """The test certificate authority the probe is told to trust."""
        return self.workdir / "pki" / "ca.crt"

    @property
    def requests_log(self) -> Path:
        return self.workdir / "logs" / "requests.log"

    @property
    def nginx_log(self) -> Path:
        return self.workdir / "nginx" / "access.log"

    @property
    def huge_log(self) -> Path:
        """One line per connection to the 1 GB page: the body bytes the server managed to send."""
        return self.workdir / "logs" / "huge-sent.log"

    @property
    def decoy_log(self) -> Path:
        """One line per connection the decoy got."""
        return self.workdir / "logs" / "decoy.log"

    def log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Call `function(*args)` in a thread that has joined the namespace: the sockets it and
        the threads it starts create live in the namespace."""
        if self._executor is None:
            raise RuntimeError("the lab is stopped")
        return self._executor.submit(function, *args).result()

    def requests(self) -> list[dict[str, str]]:
        """Every request the lab's servers got: address, method, path, user agent."""
        lines: list[str] = []
        for path in (self.requests_log, self.nginx_log):
            if path.exists():
                lines += path.read_text(errors="replace").splitlines()
        found = []
        for line in lines:
            parts = line.split("\t")
            if len(parts) >= 4:
                found.append(
                    {"address": parts[0], "method": parts[1], "path": parts[2], "agent": parts[3]}
                )
        return found

    def stop(self) -> None:
        """Stop every process (TERM, then KILL), delete the namespace and /etc/netns/<netns>."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
        deadline = time.monotonic() + 5
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        _remove_namespace(self.netns)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for directory in TOOL_DIRECTORIES:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    raise FileNotFoundError(f"{name} missing: apt-get install {REQUIRED_TOOLS.get(name, name)}")


def missing_tools() -> list[str]:
    """`tool (apt-get install package)` for each missing tool."""
    missing = []
    for tool, package in REQUIRED_TOOLS.items():
        try:
            _tool(tool)
        except FileNotFoundError:
            missing.append(f"{tool} (apt-get install {package})")
    return missing


def _addresses() -> list[str]:
    found = {DNS_ADDRESS, NGINX_ADDRESS, APEX_ONLY_HTTP, IIS_ADDRESS, CF_ADDRESS, DECOY_ADDRESS}
    found |= {address for address, _, _ in HOSTILE.values()}
    return sorted(found, key=lambda a: int(a.rsplit(".", 1)[1]))


def _create_namespace(lab: WebLab) -> None:
    subprocess.run(["ip", "netns", "add", lab.netns], check=True, capture_output=True)
    etc = Path("/etc/netns") / lab.netns
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n")
    (etc / "resolv.conf").write_text(f"nameserver {DNS_ADDRESS}\noptions timeout:1 attempts:1\n")
    batch = "link set lo up\n" + "".join(
        f"address add {address}/32 dev lo\n" for address in _addresses()
    )
    result = subprocess.run(
        ["ip", "netns", "exec", lab.netns, "ip", "-batch", "-"],
        input=batch,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:
        raise RuntimeError(f"configuring lo in {lab.netns} failed: {result.stderr}")
    lab._executor = ThreadPoolExecutor(
        max_workers=1, initializer=tiebreak_netns.joiner(Path("/run/netns") / lab.netns)
    )


def _spawn(lab: WebLab, name: str, argv: Sequence[str | Path]) -> None:
    log_path = lab.log(name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        lab.processes[name] = subprocess.Popen(
            ["ip", "netns", "exec", lab.netns, *(str(arg) for arg in argv)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=tiebreak_netns.die_with_parent,
        )


# --- Certificates ------------------------------------------------------------------------------


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(
        [_tool("openssl"), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr[-2000:]}")


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _leaf_extensions(path: Path, names: Sequence[str]) -> Path:
    path.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid:always\n"
        f"subjectAltName={','.join(f'DNS:{name}' for name in names)}\n"
    )
    return path


def write_pki(directory: Path) -> dict[str, tuple[Path, Path]]:
    """The test CA, and (certificate, key) per kind: "nginx", "iis", "cf", "hostile" (every
    hostile name), "self-signed", "wrong-name", "expired"."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    _openssl(
        "req", "-x509", *_EC, "-days", "30", "-utf8", "-subj",
        "/C=FR/O=Autorité de test tiebreak/CN=Tiebreak Test Root CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        "-keyout", ca_key, "-out", ca_crt,
    )  # fmt: skip
    hostile_names = [f"{name}.hostile.test" for name in HOSTILE]
    leaves: dict[str, list[str]] = {
        "nginx": list(NGINX_NAMES),
        "iis": ["www.iis.test", "iis.test"],
        "cf": ["cf.test", "www.cf.test"],
        "hostile": hostile_names,
        "wrong-name": ["autre-site.test"],
    }
    made: dict[str, tuple[Path, Path]] = {}
    for kind, names in leaves.items():
        key, csr, crt = (directory / f"{kind}.{ext}" for ext in ("key", "csr", "crt"))
        _openssl("req", "-new", *_EC, "-subj", f"/CN={names[0]}", "-keyout", key, "-out", csr)
        _openssl(
            "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
            "-days", "30", "-sha256", "-out", crt,
            "-extfile", _leaf_extensions(directory / f"{kind}.ext", names),
        )  # fmt: skip
        made[kind] = (crt, key)
    # Expired: signed by the test CA, valid in 2023 only (`openssl ca` sets the dates).
    ca_dir = directory / "ca-db"
    (ca_dir / "new").mkdir(parents=True, exist_ok=True)
    (ca_dir / "index.txt").write_text("")
    (ca_dir / "serial").write_text("1000\n")
    config = ca_dir / "ca.cnf"
    config.write_text(
        f"""[ca]
default_ca = test_ca
[test_ca]
database = {ca_dir / "index.txt"}
new_certs_dir = {ca_dir / "new"}
serial = {ca_dir / "serial"}
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
"""
    )
    name = "expired.hostile.test"
    key, csr, crt = (directory / f"expired.{ext}" for ext in ("key", "csr", "crt"))
    _openssl("req", "-new", *_EC, "-subj", f"/CN={name}", "-keyout", key, "-out", csr)
    _openssl(
        "ca", "-batch", "-notext", "-config", config, "-cert", ca_crt, "-keyfile", ca_key,
        "-in", csr, "-out", crt, "-startdate", "20230101000000Z", "-enddate", "20240101000000Z",
        "-extfile", _leaf_extensions(directory / "expired.ext", [name]),
    )  # fmt: skip
    made["expired"] = (crt, key)
    key, crt = directory / "self-signed.key", directory / "self-signed.crt"
    name = "selfsigned.hostile.test"
    _openssl(
        "req", "-x509", *_EC, "-days", "30", "-subj", f"/O=Mairie/CN={name}",
        "-addext", f"subjectAltName=DNS:{name}", "-keyout", key, "-out", crt,
    )  # fmt: skip
    made["self-signed"] = (crt, key)
    return made


# --- nginx ---------------------------------------------------------------------------------------


def _write_nginx(lab: WebLab, certificate: Path, key: Path) -> list[str | Path]:
    directory = lab.workdir / "nginx"
    for site, page, encoding in (
        ("wp", WORDPRESS_PAGE, "utf-8"),
        ("drupal/accueil", DRUPAL_PAGE, "utf-8"),
        ("spip", SPIP_PAGE, "iso-8859-1"),
    ):
        folder = directory / "html" / site
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_bytes(page.encode(encoding))
    html = directory / "html"
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    tls = f"ssl_certificate {certificate}; ssl_certificate_key {key};"
    both = f"listen {NGINX_ADDRESS}:80; listen {NGINX_ADDRESS}:443 ssl; {tls}"
    config = directory / "nginx.conf"
    config.write_text(
        f"""# Generated by tests/http/web_lab.py
daemon off;
master_process on;
worker_processes 1;
user root root;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} notice;
events {{
    worker_connections 256;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format lab '$server_addr\\t$request_method\\t$request_uri\\t$http_user_agent';
    access_log {lab.nginx_log} lab;
{temp}
    server {{
        listen {NGINX_ADDRESS}:80 default_server;
        listen {NGINX_ADDRESS}:443 ssl default_server;
        {tls}
        return 404;
    }}
    server {{
        {both}
        server_name wp.test;
        server_tokens off;
        add_header X-Redirect-By WordPress;
        return 301 https://www.wp.test/;
    }}
    server {{
        {both}
        server_name www.wp.test;
        server_tokens off;
        root {html / "wp"};
        add_header Link '<https://www.wp.test/wp-json/>; rel="https://api.w.org/"';
        add_header Link '<https://www.wp.test/?p=2>; rel=shortlink';
    }}
    server {{
        listen {APEX_ONLY_HTTP}:80;
        server_name drupal.test;
        return 301 https://www.drupal.test/;
    }}
    server {{
        {both}
        server_name www.drupal.test;
        absolute_redirect off;
        root {html / "drupal"};
        location = / {{
            return 302 /accueil/;
        }}
        location /accueil/ {{
            add_header X-Generator "Drupal 10 (https://www.drupal.org)";
            add_header X-Drupal-Cache HIT;
            add_header X-Drupal-Dynamic-Cache MISS;
            add_header Via "1.1 varnish (Varnish/7.1)";
            add_header X-Varnish "32770 98331";
            add_header X-Powered-By "PHP/8.2.7";
            add_header Set-Cookie "{DRUPAL_COOKIE}={DRUPAL_COOKIE_VALUE}; path=/; secure; HttpOnly";
        }}
    }}
    server {{
        {both}
        server_name spip.test www.spip.test;
        root {html / "spip"};
        add_header Composed-By "SPIP 4.2.8 @ www.spip.net + GIS (5.1.0), mediabox (3.1.4)";
        add_header X-Spip-Cache 86400;
    }}
    server {{
        {both}
        server_name redirige.test;
        return 301 https://www.redirige.test/;
    }}
    server {{
        {both}
        server_name www.redirige.test;
        return 302 "https://www.prestataire.test/mairie-de-redirige/?xtor=SEC-123&session=abc";
    }}
}}
"""
    )
    return [_tool("nginx"), "-p", directory, "-c", config, "-e", directory / "error.log"]


# --- Starting ------------------------------------------------------------------------------------


def _knot_server() -> Any:
    """tests/dns/knot_server.py, shared with the DNS tests."""
    name = "tiebreak_test_knot_server"
    if name in sys.modules:
        return sys.modules[name]
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "dns" / "knot_server.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _wait_ready(
    lab: WebLab, endpoints: dict[str, list[tuple[str, int]]], deadline_s: float
) -> None:
    deadline = time.monotonic() + deadline_s
    pending = {name: list(points) for name, points in endpoints.items()}

    def accepts(address: str, port: int) -> bool:
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return True
        except OSError:
            return False

    while pending:
        for name in list(pending):
            process = lab.processes[name]
            if process.poll() is not None:
                log = lab.log(name).read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited ({process.returncode}): {log}")
            pending[name] = [p for p in pending[name] if not lab.call(accepts, *p)]
            if not pending[name]:
                del pending[name]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not listening after {deadline_s} s: {pending}")
        time.sleep(0.05)


def start_web_lab(workdir: Path, ready_timeout: float = 30.0) -> WebLab:
    """Start the lab (see the module's docstring); on failure, clean everything up. Call it from
    a thread that outlives the lab: the servers get SIGKILL when the starting thread exits."""
    missing = missing_tools()
    if missing:
        raise FileNotFoundError(f"missing: {', '.join(missing)}")
    remove_stale_namespaces()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)
    started = time.monotonic()
    lab = WebLab(netns=_namespace_name(), workdir=workdir)
    try:
        _create_namespace(lab)
        pki = write_pki(workdir / "pki")
        lab.timings["pki"] = time.monotonic() - started
        _spawn(lab, "nginx", _write_nginx(lab, *pki["nginx"]))
        # Knot DNS, inside the namespace.
        knot_server = _knot_server()
        zone_dir = workdir / "zone-files"
        zone_dir.mkdir(exist_ok=True)
        for origin, records in ZONES.items():
            (zone_dir / f"{origin}.zone").write_text(_zone(origin, records))
        knot = knot_server.start_knot(
            workdir / "knot", DNS_ADDRESS, 53, zone_dir=zone_dir, workers=2, netns=lab.netns
        )
        lab.processes["knot"] = knot.process
        lab.call(knot_server.wait_ready, knot, list(ZONES))
        # The emulated servers, one process.
        endpoints: list[dict[str, Any]] = []

        def add(address: str, port: int, role: str, kind: str | None, name: str = "") -> None:
            tls = None if kind is None else [str(p) for p in pki[kind]]
            endpoints.append(
                {"address": address, "port": port, "role": role, "tls": tls, "name": name}
            )

        add(IIS_ADDRESS, 443, "iis", "iis")
        add(IIS_ADDRESS, 80, "iis", None)
        add(CF_ADDRESS, 443, "cf", "cf")
        add(CF_ADDRESS, 80, "cf", None)
        add(DECOY_ADDRESS, 443, "decoy", None)
        add(DECOY_ADDRESS, 80, "decoy", None)
        for name, (address, behaviour, kind) in HOSTILE.items():
            if kind == "none":
                add(address, 443, behaviour, None, f"{name}.hostile.test")
                add(address, 80, behaviour, None, f"{name}.hostile.test")
            else:
                add(address, 443, behaviour, kind, f"{name}.hostile.test")
        config = workdir / "servers.json"
        config.write_text(
            json.dumps(
                {
                    "endpoints": endpoints,
                    "requests_log": str(lab.requests_log),
                    "huge_log": str(lab.huge_log),
                    "decoy_log": str(lab.decoy_log),
                },
                indent=1,
            )
        )
        python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        _spawn(lab, "servers", [python, "-I", "-B", Path(__file__).resolve(), "serve", config])
        _wait_ready(
            lab,
            {
                "nginx": [(NGINX_ADDRESS, 80), (NGINX_ADDRESS, 443), (APEX_ONLY_HTTP, 80)],
                # The process binds every socket before serving any: the decoy is listening
                # once the others are, and must never see a connection, the lab's included.
                "servers": [(e["address"], e["port"]) for e in endpoints if e["role"] != "decoy"],
            },
            ready_timeout,
        )
    except BaseException:
        lab.stop()
        raise
    lab.timings["total"] = time.monotonic() - started
    return lab


# ---------------------------------------------------------------------------------------------
# Below: the emulated servers, run as `python3 web_lab.py serve <config.json>` inside the
# namespace. Standard library only.

_LOCK = threading.Lock()


def _append(path: str, line: str) -> None:
    with _LOCK, open(path, "a", encoding="utf-8") as stream:
        stream.write(line + "\n")


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]


def _read_request(stream: Any) -> _Request | None:
    """The request line and headers (64 KB at most)."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = stream.recv(4096)
        if not chunk:
            return None
        head += chunk
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return _Request(parts[0], parts[1], headers)


def _answer(
    connection: Any,
    status: str,
    headers: Sequence[tuple[str, str]],
    body: bytes = b"",
) -> None:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    connection.sendall(head.encode("latin-1") + body)


def _date() -> str:
    import email.utils

    return email.utils.formatdate(usegmt=True)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        endpoint = self.server.endpoint
        connection: Any = self.request
        connection.settimeout(30)
        try:
            if endpoint["role"] == "decoy":
                _append(
                    self.server.config["decoy_log"], f"{endpoint['address']}:{endpoint['port']}"
                )
                return
            if self.server.context is not None:
                connection = self.server.context.wrap_socket(connection, server_side=True)
            elif connection.recv(1, socket.MSG_PEEK) == b"\x16":
                # A TLS ClientHello sent to plain HTTP: answer like Apache does.
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                return
            request = _read_request(connection)
            if request is None:
                return
            _append(
                self.server.config["requests_log"],
                "\t".join(
                    (
                        endpoint["address"],
                        request.method,
                        request.path,
                        request.headers.get("user-agent", ""),
                    )
                ),
            )
            getattr(self, "_" + endpoint["role"].replace("-", "_"))(connection, request)
        except (OSError, ssl.SSLError):
            return
        finally:
            with contextlib.suppress(OSError):
                connection.close()

    # -- realistic sites ----------------------------------------------------------------------

    def _iis(self, connection: Any, request: _Request) -> None:
        common = [("Server", IIS_SERVER), ("X-Powered-By", "ASP.NET"), ("Date", _date())]
        if self.server.context is None:
            location = f"https://{request.headers.get('host', 'www.iis.test')}{request.path}"
            _answer(connection, "301 Moved Permanently", [("Location", location), *common])
            return
        _answer(
            connection,
            "200 OK",
            [
                ("Cache-Control", "private"),
                ("Content-Type", "text/html; charset=utf-8"),
                *common,
                ("X-AspNet-Version", "4.0.30319"),
                ("Set-Cookie", f"ASP.NET_SessionId={secrets.token_hex(12)}; path=/; HttpOnly"),
            ],
            IIS_PAGE.encode(),
        )

    def _cf(self, connection: Any, request: _Request) -> None:
        host = request.headers.get("host", "")
        common = [
            ("Date", _date()),
            ("Server", "cloudflare"),
            ("CF-RAY", f"{secrets.token_hex(8)}-{CF_RAY_POP}"),
            ("CF-Cache-Status", "DYNAMIC"),
            ("alt-svc", 'h3=":443"; ma=86400'),
        ]
        if self.server.context is None or host == "cf.test":
            _answer(
                connection, "301 Moved Permanently", [("Location", "https://www.cf.test/"), *common]
            )
            return
        _answer(
            connection,
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                *common,
                (
                    "Set-Cookie",
                    f"__cf_bm={secrets.token_urlsafe(32)}; path=/; expires=Thu, "
                    "01-Jan-2099 00:00:00 GMT; domain=.cf.test; HttpOnly; Secure; SameSite=None",
                ),
                ("Set-Cookie", f"_shopify_y={secrets.token_hex(16)}; Path=/; Max-Age=31536000"),
                ("Set-Cookie", "localization=FR; path=/"),
                ("powered-by", "Shopify"),
                ("x-shopid", "55512345"),
                ("x-shopify-stage", "production"),
                ("x-request-id", secrets.token_hex(16)),
            ],
            SHOPIFY_PAGE.encode(),
        )

    # -- hostile servers ------------------------------------------------------------------------

    def _huge(self, connection: Any, request: _Request) -> None:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nServer: huge\r\n"
            f"Content-Length: {ONE_GB}\r\nConnection: close\r\n\r\n"
        ).encode()
        connection.sendall(head)
        start = b"<html><head><title>Page immense</title></head><body>"
        sent = 0
        zeros = bytes(65536)
        try:
            connection.sendall(start)
            sent += len(start)
            while sent < ONE_GB:
                chunk = zeros[: min(len(zeros), ONE_GB - sent)]
                connection.sendall(chunk)
                sent += len(chunk)
        finally:
            _append(self.server.config["huge_log"], str(sent))

    def _slow(self, connection: Any, request: _Request) -> None:
        time.sleep(60)  # never answers; the probe gives up first

    def _trickle(self, connection: Any, request: _Request) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(600):  # one byte every 0.1 s, no end of line for a minute
            connection.sendall(b"a")
            time.sleep(0.1)

    def _garbage(self, connection: Any, request: _Request) -> None:
        connection.sendall(b"\x00\xff\xfeSSH-2.0-OpenSSH_9.2\r\n" + secrets.token_bytes(512))

    def _loop(self, connection: Any, request: _Request) -> None:
        target = {"/": "/a", "/a": "/b", "/b": "/a"}.get(request.path, "/")
        _answer(connection, "302 Found", [("Location", target), ("Server", "boucle")])

    def _endless(self, connection: Any, request: _Request) -> None:
        step = request.path.strip("/")
        following = int(step) + 1 if step.isdigit() else 1
        _answer(connection, "302 Found", [("Location", f"/{following}")])

    def _flood(self, connection: Any, request: _Request) -> None:
        headers = [(f"X-Flood-{n}", "x") for n in range(150)]
        _answer(
            connection, "200 OK", [("Content-Type", "text/html"), *headers], b"<title>t</title>"
        )

    def _joomla(self, connection: Any, request: _Request) -> None:
        _answer(
            connection,
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Server", "Apache"),
                ("Set-Cookie", f"0a1b2c3d4e5f60718293a4b5c6d7e8f9={secrets.token_hex(13)}; path=/"),
            ],
            JOOMLA_PAGE.encode(),
        )

    def _redirect_home(self, connection: Any, request: _Request) -> None:
        _answer(connection, "302 Found", [("Location", "/accueil/"), ("Server", "nginx")])

    def _apache(self, connection: Any, request: _Request) -> None:
        _answer(
            connection,
            "200 OK",
            [("Content-Type", "text/html"), ("Server", "Apache/2.4.57 (Debian)")],
            APACHE_PAGE.encode(),
        )


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, endpoint: dict[str, Any], config: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.config = config
        self.context: ssl.SSLContext | None = None
        if endpoint["tls"]:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(*endpoint["tls"])
        super().__init__((endpoint["address"], endpoint["port"]), _Handler)


def serve(config_path: str) -> None:  # pragma: no cover
    """Run every emulated endpoint of the configuration (one thread per listening socket)."""
    config = json.loads(Path(config_path).read_text())
    servers = [_Server(endpoint, config) for endpoint in config["endpoints"]]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"serving {len(servers)} endpoints", flush=True)
    stop.wait()


def _main(argv: list[str], stream: IO[str]) -> int:  # pragma: no cover
    if len(argv) == 2 and argv[0] == "serve":
        serve(argv[1])
        return 0
    stream.write("usage: web_lab.py serve CONFIG.json\n")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main(sys.argv[1:], sys.stderr))


def _namespace_name() -> str:
    return tiebreak_netns.free_name(NAMESPACE_PREFIX)


def remove_stale_namespaces() -> list[str]:
    """Delete the namespaces of fixtures whose pytest process died (SIGKILL, crash)."""
    return tiebreak_netns.remove_stale_namespaces(NAMESPACE_PREFIX)
