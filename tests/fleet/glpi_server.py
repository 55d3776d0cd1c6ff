"""A GLPI REST API fixture server: real HTTPS on 127.0.0.1, answers in the shape GLPI documents.

No GLPI can run here (it needs PHP, a web server and MariaDB), so this server replays the answers
GLPI's `apirest.md` shows, from the rows in tests/fleet/fixtures/glpi/ (README.md there says what
each is based on): `initSession` (App-Token and `Authorization: user_token …`), `killSession`,
item lists and sub-item lists paged with `range` (`Content-Range: start-end/total`, 206 while
partial, `ERROR_RANGE_EXCEED_TOTAL` past the end), and errors as `["ERROR_…", "message"]` with
GLPI's status codes. Scenarios the tests switch on:

- `expire_after`: a session token stops being valid after that many reads
  (`ERROR_SESSION_TOKEN_INVALID`, 401), as when GLPI's session times out;
- `fail_path`: answer 500 (a PHP error page) to reads whose path starts with it;
- `slow_path` / `delay`: wait `delay` seconds before answering those reads.

Requests are recorded (method, path, query, which headers were present) so tests check that
only GET was used and that the session was killed. TLS uses a test CA made by openssl.
"""

from __future__ import annotations

import json
import secrets
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DATA = Path(__file__).with_name("fixtures") / "glpi"
APP_TOKEN = "f7g3csp8mgatg5ebc5elnazakw20i9fyev1qopya7"  # apirest.md's example App-Token
USER_TOKEN = "jeton-utilisateur-de-test-lecture-seule"
EXPANDED = {"Computer", "Item_OperatingSystem", "Software"}
"""Lists whose stored rows have their dropdowns expanded (the client must ask for it)."""


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate for 127.0.0.1 and localhost: (ca, certificate, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "glpi.key", directory / "glpi.csr", directory / "glpi.crt"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-days", "2", "-subj", "/CN=GLPI Test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", ca_key, "-out", ca_crt,
    )  # fmt: skip
    extensions = directory / "glpi.ext"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    _openssl("req", "-new", *ec, "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr)
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-sha256", "-extfile", extensions, "-out", crt,
    )  # fmt: skip
    return ca_crt, crt, key


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: set[str]


@dataclass
class GlpiFixture:
    """The server's data, scenario and log; `url` is the API's base URL once started."""

    app_token: str | None = APP_TOKEN
    user_token: str = USER_TOKEN
    expire_after: int | None = None
    fail_path: str | None = None
    slow_path: str | None = None
    delay: float = 0.0
    max_range: int = 990
    data: dict[str, Any] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    sessions: dict[str, int] = field(default_factory=dict)
    url: str = ""
    server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        for file in DATA.glob("*.json"):
            self.data[file.stem] = json.loads(file.read_text(encoding="utf-8"))

    def start(self, certificate: Path, key: Path) -> str:
        """Serve on 127.0.0.1 (a free port) over TLS; return the apirest.php URL."""
        fixture = self

        class Handler(_Handler):
            glpi = fixture

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"https://127.0.0.1:{server.server_address[1]}/glpi/apirest.php"
        return self.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    glpi: GlpiFixture
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `GlpiFixture.requests`."""

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.send_response(status)
        content_type = "text/html" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", f"{content_type}; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, [code, message])

    def do_POST(self) -> None:
        self._record("POST")
        self._error(400, "ERROR", "this fixture only reads")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _record(self, method: str) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        path = parts.path.removeprefix("/glpi/apirest.php").strip("/")
        self.glpi.requests.append(Recorded(method, path, query, {h.lower() for h in self.headers}))
        return path, query

    def do_GET(self) -> None:
        glpi = self.glpi
        path, query = self._record("GET")
        if glpi.app_token is not None:
            app_token = self.headers.get("App-Token")
            if app_token is None:
                return self._error(400, "ERROR_APP_TOKEN_PARAMETERS_MISSING",
                                   "missing parameter app_token")  # fmt: skip
            if app_token != glpi.app_token:
                return self._error(400, "ERROR_WRONG_APP_TOKEN_PARAMETER",
                                   "parameter app_token seems wrong")  # fmt: skip
        if path == "initSession":
            authorization = self.headers.get("Authorization", "")
            if authorization != f"user_token {glpi.user_token}":
                return self._error(401, "ERROR_GLPI_LOGIN_USER_TOKEN",
                                   "parameter user_token seems invalid")  # fmt: skip
            token = secrets.token_hex(20)
            glpi.sessions[token] = 0
            return self._send(200, {"session_token": token})
        token = self.headers.get("Session-Token", "")
        if not token:
            return self._error(400, "ERROR_SESSION_TOKEN_MISSING",
                               "parameter session_token is missing or empty")  # fmt: skip
        if token not in glpi.sessions or (
            glpi.expire_after is not None and glpi.sessions[token] >= glpi.expire_after
        ):
            return self._error(401, "ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid")
        glpi.sessions[token] += 1
        if path == "killSession":
            del glpi.sessions[token]
            return self._send(200, True)
        if glpi.slow_path is not None and path.startswith(glpi.slow_path):
            time.sleep(glpi.delay)
        if glpi.fail_path is not None and path.startswith(glpi.fail_path):
            return self._send(500, b"<html><body><h1>Internal Server Error</h1></body></html>")
        rows = self._rows(path, query)
        if rows is None:
            return self._error(400, "ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM",
                               "resource not found or not an instance of CommonDBTM")  # fmt: skip
        return self._page(path.split("/")[-1], rows, query)

    def _rows(self, path: str, query: dict[str, str]) -> list[dict[str, Any]] | None:
        parts = path.split("/")
        data = self.glpi.data
        if len(parts) == 3 and parts[0] == "Computer" and parts[2] == "Item_SoftwareVersion":
            installs: dict[str, list[dict[str, Any]]] = data["Item_SoftwareVersion"]
            return installs.get(parts[1], [])
        if len(parts) != 1 or parts[0] not in data or parts[0] == "Item_SoftwareVersion":
            return None
        rows: list[dict[str, Any]] = data[parts[0]]
        if parts[0] in EXPANDED and query.get("expand_dropdowns") != "true":
            # Without expand_dropdowns GLPI gives ids; the fixture keeps only expanded rows.
            return [{key: (0 if isinstance(v, str) and key.endswith("s_id") else v)
                     for key, v in row.items()} for row in rows]  # fmt: skip
        return rows

    def _page(self, itemtype: str, rows: list[dict[str, Any]], query: dict[str, str]) -> None:
        total = len(rows)
        start, _, end = query.get("range", "0-50").partition("-")
        first, last = int(start), min(int(end or start), int(start) + self.glpi.max_range - 1)
        if total and first >= total:
            return self._error(400, "ERROR_RANGE_EXCEED_TOTAL",
                               "Provided range exceed total count of data")  # fmt: skip
        page = rows[first : last + 1]
        shown = f"{first}-{first + len(page) - 1}/{total}" if page else f"0-0/{total}"
        headers = {"Content-Range": shown, "Accept-Range": f"{itemtype} {self.glpi.max_range}"}
        self._send(206 if len(page) < total else 200, page, headers)
