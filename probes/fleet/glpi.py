"""A GLPI server read through its REST API (`apirest.php`), read-only, over verified HTTPS.

What GLPI's API documentation (`apirest.md`) describes, and only reads:

- `initSession` with the `App-Token` header (when the API client has one) and
  `Authorization: user_token …`; `killSession` at the end, whatever happened;
- every list is read in pages with `range=start-end` until `Content-Range: start-end/total` says
  it is complete (200 or 206); `ERROR_RANGE_EXCEED_TOTAL` is an empty list;
- dictionaries first, each one list: `Software` (name, publisher), `SoftwareVersion` (version of a
  software), `Item_OperatingSystem` (name, version and kernel version of each computer's OS, as
  GLPI's inventory stores `full_name`, `version` and `kernel_version`), the antivirus
  (`ComputerAntivirus`, `ItemAntivirus` since GLPI 10.1); then `Computer`, page by page, and for
  each computer its installations (`Computer/:id/Item_SoftwareVersion`): a computer counts once
  all of it is read, so an error halfway keeps every computer read before it, complete;
- errors come as `["ERROR_…", "message"]`: an expired session (`ERROR_SESSION_TOKEN_INVALID`,
  401) is opened again once; a refused token, a server error, a slow answer (`timeout` seconds)
  or an unverified certificate end the reading with `GlpiError`, whose message names the server.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from probes.fleet.machine import Machine, text

ANTIVIRUS_ITEMTYPES: Final = ("ComputerAntivirus", "ItemAntivirus")
_CONTENT_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*/\s*(\d+)\s*$")
MAX_ROWS: Final = 5_000_000
"""Rows of one list read at most (a GLPI answering pages forever is cut)."""


class GlpiError(Exception):
    """GLPI could not be read; the message names the server and says why, French then English."""


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    rows: list[dict[str, Any]]
    content_range: str


def _error_code(response: requests.Response) -> tuple[str, str]:
    """GLPI's `["ERROR_…", "message"]` of an error answer, or ("", start of the body)."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if isinstance(body, list) and body and isinstance(body[0], str):
        message = body[1] if len(body) > 1 and isinstance(body[1], str) else ""
        return body[0], message[:200]
    return "", str(body)[:200]


class GlpiClient:
    """One session on a GLPI server; use as a context manager (the session is killed on exit)."""

    def __init__(
        self,
        url: str,
        user_token: str,
        app_token: str | None = None,
        ca_file: Path | None = None,
        timeout: float = 30.0,
        page_size: int = 200,
    ) -> None:
        self.url = url.rstrip("/")
        self.where = urlsplit(self.url).netloc or self.url
        self.user_token = user_token
        self.timeout = timeout
        self.page_size = page_size
        self.http = requests.Session()
        self.http.trust_env = False  # no proxy from the environment between us and GLPI
        self.http.verify = str(ca_file) if ca_file is not None else True
        self.http.headers["Content-Type"] = "application/json"
        self.http.headers["User-Agent"] = "tiebreak (inventaire TIE Break)"
        if app_token:
            self.http.headers["App-Token"] = app_token
        self.session_token: str | None = None
        self.requests = 0

    def __enter__(self) -> GlpiClient:
        self.init_session()
        return self

    def __exit__(self, *_: object) -> None:
        self.kill_session()
        self.http.close()

    def _fail(self, french: str, english: str) -> GlpiError:
        return GlpiError(f"GLPI {self.where} : {french} / GLPI {self.where}: {english}")

    def _send(
        self, path: str, params: dict[str, str] | None, headers: dict[str, str]
    ) -> requests.Response:
        self.requests += 1
        try:
            return self.http.get(
                f"{self.url}/{path}", params=params, headers=headers, timeout=self.timeout
            )
        except requests.exceptions.SSLError as exc:
            raise self._fail(
                f"certificat non vérifié ({_short(exc)}) ; voir [fleet] ca_file",
                f"certificate not verified ({_short(exc)}); see [fleet] ca_file",
            ) from None
        except requests.exceptions.Timeout:
            raise self._fail(
                f"pas de réponse en {self.timeout:g} s ({path.split('?')[0]})",
                f"no answer within {self.timeout:g} s ({path.split('?')[0]})",
            ) from None
        except requests.exceptions.RequestException as exc:
            raise self._fail(
                f"connexion impossible ({_short(exc)})", f"cannot connect ({_short(exc)})"
            ) from None

    def init_session(self) -> None:
        """Open a session with the user token (and the app token when there is one)."""
        response = self._send(
            "initSession", None, {"Authorization": f"user_token {self.user_token}"}
        )
        code, message = _error_code(response) if response.status_code != 200 else ("", "")
        if response.status_code != 200:
            if code in ("ERROR_GLPI_LOGIN_USER_TOKEN", "ERROR_LOGIN_PARAMETERS_MISSING"):
                raise self._fail(
                    f"jeton utilisateur refusé ({code}) ; voir [fleet] user_token_file",
                    f"user token refused ({code}); see [fleet] user_token_file",
                )
            if code in ("ERROR_WRONG_APP_TOKEN_PARAMETER", "ERROR_APP_TOKEN_PARAMETERS_MISSING"):
                raise self._fail(
                    f"jeton d'application refusé ({code}) ; voir [fleet] app_token_file",
                    f"application token refused ({code}); see [fleet] app_token_file",
                )
            raise self._fail(
                f"ouverture de session refusée (HTTP {response.status_code} {code} {message})",
                f"session refused (HTTP {response.status_code} {code} {message})",
            )
        try:
            token = response.json().get("session_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise self._fail(
                "réponse d'initSession sans session_token",
                "initSession answer has no session_token",
            )
        self.session_token = token

    def kill_session(self) -> None:
        """Close the session; a failure here changes nothing to what was read."""
        if self.session_token is None:
            return
        with contextlib.suppress(requests.exceptions.RequestException):
            self.http.get(
                f"{self.url}/killSession",
                headers={"Session-Token": self.session_token},
                timeout=self.timeout,
            )
        self.session_token = None

    def get(self, path: str, params: dict[str, str]) -> _Answer:
        """One read; an expired session is opened again once."""
        for attempt in (1, 2):
            assert self.session_token is not None
            response = self._send(path, params, {"Session-Token": self.session_token})
            if response.status_code in (200, 206):
                try:
                    rows = response.json()
                except ValueError:
                    raise self._fail(
                        f"réponse illisible pour {path} (pas du JSON)",
                        f"unreadable answer for {path} (not JSON)",
                    ) from None
                if isinstance(rows, dict):
                    rows = [rows]
                if not isinstance(rows, list):
                    raise self._fail(
                        f"réponse inattendue pour {path}", f"unexpected answer for {path}"
                    )
                items = [row for row in rows if isinstance(row, dict)]
                return _Answer(
                    response.status_code, items, response.headers.get("Content-Range", "")
                )
            code, message = _error_code(response)
            if code == "ERROR_SESSION_TOKEN_INVALID" and attempt == 1:
                self.init_session()
                continue
            if code == "ERROR_RANGE_EXCEED_TOTAL":
                return _Answer(response.status_code, [], "")
            raise self._fail(
                f"{path} : HTTP {response.status_code} {code} {message}".rstrip(),
                f"{path}: HTTP {response.status_code} {code} {message}".rstrip(),
            )
        raise AssertionError("unreachable")

    def pages(self, path: str, params: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a list, read `page_size` rows at a time."""
        start = 0
        while start < MAX_ROWS:
            query = {**(params or {}), "range": f"{start}-{start + self.page_size - 1}"}
            answer = self.get(path, query)
            yield from answer.rows
            match = _CONTENT_RANGE.match(answer.content_range)
            if match is None or not answer.rows:
                return  # no Content-Range: GLPI gave the whole list at once
            end, total = int(match.group(2)), int(match.group(3))
            if end + 1 >= total:
                return
            start = end + 1


def _short(exc: Exception) -> str:
    reason = str(exc)
    return reason if len(reason) <= 160 else reason[:157] + "…"


def _id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dropdown(value: Any) -> str:
    """An expanded dropdown's name; GLPI writes "&nbsp;" or 0 for none."""
    if value in (None, 0, "0", "&nbsp;"):
        return ""
    return text(value).replace("&nbsp;", "").strip()


@dataclass(slots=True)
class _Dictionaries:
    versions: dict[int, tuple[str, str, str]]  # version id -> (software, version, publisher)
    systems: dict[int, tuple[str, str, str]]  # computer id -> (name, version, kernel version)
    antivirus: dict[int, list[str]]


def _dictionaries(client: GlpiClient, notes: list[str]) -> _Dictionaries:
    expanded = {"expand_dropdowns": "true", "get_hateoas": "false"}
    software: dict[int, tuple[str, str]] = {}
    for row in client.pages("Software", expanded):
        key = _id(row.get("id"))
        if key is not None:
            software[key] = (text(row.get("name")), _dropdown(row.get("manufacturers_id")))
    versions: dict[int, tuple[str, str, str]] = {}
    for row in client.pages("SoftwareVersion", {"get_hateoas": "false"}):
        key, owner = _id(row.get("id")), _id(row.get("softwares_id"))
        if key is not None and owner in software:
            name, publisher = software[owner]
            versions[key] = (name, text(row.get("name")), publisher)
    systems: dict[int, tuple[str, str, str]] = {}
    for row in client.pages("Item_OperatingSystem", expanded):
        key = _id(row.get("items_id"))
        if key is not None and row.get("itemtype") == "Computer":
            systems[key] = (
                _dropdown(row.get("operatingsystems_id")),
                _dropdown(row.get("operatingsystemversions_id")),
                _dropdown(row.get("operatingsystemkernelversions_id")),
            )
    antivirus: dict[int, list[str]] = {}
    for itemtype in ANTIVIRUS_ITEMTYPES:
        try:
            rows = list(client.pages(itemtype, {"get_hateoas": "false"}))
        except GlpiError as exc:
            if "ERROR_ITEMTYPE_NOT_FOUND" in str(exc) or "HTTP 404" in str(exc):
                continue
            raise
        for row in rows:
            key = _id(row.get("computers_id") if "computers_id" in row else row.get("items_id"))
            name = text(row.get("name"))
            if key is not None and name and row.get("is_active") not in (0, False):
                antivirus.setdefault(key, []).append(name)
        break
    else:
        notes.append(
            f"GLPI {client.where} : antivirus non lus (ni ComputerAntivirus ni ItemAntivirus) / "
            "antivirus not read (neither ComputerAntivirus nor ItemAntivirus)"
        )
    return _Dictionaries(versions, systems, antivirus)


def read_glpi(
    client: GlpiClient,
    accept: Callable[[Machine, str], bool],
    keep_going: Callable[[], bool],
    notes: list[str],
) -> int:
    """Read every computer of GLPI and hand each, complete, to `accept(machine, fallback)`.

    `keep_going()` is asked before each computer (the probe's deadline, the fleet's bound);
    returns the number of computers read. GlpiError stops the reading: what was accepted stays.
    """
    tables = _dictionaries(client, notes)
    read = 0
    for row in client.pages("Computer", {"expand_dropdowns": "true", "get_hateoas": "false"}):
        if row.get("is_template") in (1, True) or row.get("is_deleted") in (1, True):
            continue
        computer = _id(row.get("id"))
        if computer is None:
            continue
        if not keep_going():
            break
        machine = Machine(format="glpi-api")
        machine.add_identity("uuid", text(row.get("uuid")))
        machine.manufacturer = _dropdown(row.get("manufacturers_id"))
        machine.model = _dropdown(row.get("computermodels_id"))
        serial = text(row.get("serial"))
        if serial:
            machine.add_identity("serial", f"{machine.manufacturer}/{serial}")
        machine.add_identity("name", text(row.get("name")))
        machine.os_name, machine.os_version, machine.kernel_version = tables.systems.get(
            computer, ("", "", "")
        )
        machine.date = text(row.get("last_inventory_update") or row.get("date_mod"))
        for name in tables.antivirus.get(computer, []):
            machine.add_antivirus(name)
        for install in client.pages(
            f"Computer/{computer}/Item_SoftwareVersion", {"get_hateoas": "false"}
        ):
            if install.get("is_deleted") in (1, True):
                continue
            version_id = _id(install.get("softwareversions_id"))
            found = tables.versions.get(version_id) if version_id is not None else None
            if found is not None:
                machine.add_software(*found)
        accept(machine, f"glpi:{client.where}/{computer}")
        read += 1
    return read
