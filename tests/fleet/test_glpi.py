"""A GLPI server read through its REST API: the fixture server of tests/fleet/glpi_server.py.

Real HTTPS on 127.0.0.1 with a certificate from a test CA, answers in the shape GLPI's API
documentation gives (tests/fleet/fixtures/glpi/README.md): pagination, an expired session, a
wrong token, a server error and a slow answer, each checked for what the inventory keeps.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

helpers = sys.modules["tiebreak_test_fleet_helpers"]
glpi_server = sys.modules["tiebreak_test_glpi_server"]

# What the fixture's computers are called, and who uses them: none may reach the inventory.
IDENTIFIERS = [
    "PC-ACCUEIL-01",
    "SRV-FICHIERS",
    "CZC41802XY",
    "4C4C4544-0051-3510-8048-B2C04F4A4E32",
    "VMware-42 01 f4 65",
    "jdupont",
    "Jean Dupont",
    "Marie Martin",
    "Rez-de-chaussée",
    "00330-80000-00000-AA000",
    glpi_server.USER_TOKEN,
    glpi_server.APP_TOKEN,
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return glpi_server.make_pki(tmp_path_factory.mktemp("pki"))  # type: ignore[no-any-return]


@pytest.fixture
def glpi(pki: tuple[Path, Path, Path]) -> Iterator[Any]:
    fixture = glpi_server.GlpiFixture()
    fixture.start(pki[1], pki[2])
    yield fixture
    fixture.stop()


def _scan(glpi: Any, pki: tuple[Path, Path, Path], **settings: Any) -> Any:
    settings.setdefault("glpi_url", glpi.url)
    settings.setdefault("ca_file", pki[0])
    settings.setdefault("user_token", glpi_server.USER_TOKEN)
    settings.setdefault("app_token", glpi_server.APP_TOKEN)
    settings.setdefault("page_size", 2)
    settings.setdefault("timeout", 5.0)
    return helpers.scan(**settings)


def test_glpi_computers_are_read_page_by_page_and_counted(glpi: Any, pki: Any) -> None:
    scan = _scan(glpi, pki)
    assert scan.run.status == "ok", scan.run.error
    (source,) = scan.observed("fleet.source").values()
    assert source["count"] == 7  # nine computers, one template and one in the bin
    assert source["kind"] == "glpi" and source["formats"] == {"glpi-api": 7}

    apps = scan.finding("microsoft-365-apps")
    assert (apps.attributes["devices"], apps.attributes["fleet_machines"]) == (4, 7)
    assert scan.finding("firefox").attributes["devices"] == 4  # three Windows, one Ubuntu
    assert scan.finding("microsoft-teams").attributes["devices"] == 3  # PC-ACCUEIL-01 counts once
    assert scan.finding("microsoft-defender").attributes["devices"] == 4  # one Defender inactive
    seven_zip = scan.finding("7-zip")  # on a workstation and on the file server
    assert (seven_zip.attributes["devices"], seven_zip.attributes["servers"]) == (1, 1)
    assert scan.finding("veeam-backup").attributes == {
        **scan.finding("veeam-backup").attributes,
        "servers": 1,
    }
    server = scan.finding("microsoft-windows-server")
    assert server.attributes["servers"] == 1 and "devices" not in server.attributes
    windows = scan.finding("microsoft-windows")
    assert windows.attributes["devices"] == 5
    lines = {line["release"]: line for line in windows.attributes["systems"]}
    assert lines["Windows 10 Professionnel 10.0 (19045)"]["count"] == 2
    assert lines["Windows 10 Professionnel 10.0 (19044)"]["support"]["ended"] is True  # 21H2
    assert scan.observed("fleet.virtualisation")["VMware"]["count"] == 1

    gets = [request for request in glpi.requests]
    assert {request.method for request in gets} == {"GET"}  # read-only
    assert gets[-1].path == "killSession"
    computers = [r.query["range"] for r in gets if r.path == "Computer"]
    assert computers == ["0-1", "2-3", "4-5", "6-7", "8-9"]
    assert all(r.query.get("expand_dropdowns") == "true" for r in gets if r.path == "Computer")
    assert all("app-token" in r.headers for r in gets)


def test_no_name_serial_user_or_token_reaches_the_inventory(glpi: Any, pki: Any) -> None:
    scan = _scan(glpi, pki)
    leaked = [value for value in IDENTIFIERS if value.lower() in scan.json.lower()]
    assert leaked == []


def test_an_expired_session_is_opened_again(glpi: Any, pki: Any) -> None:
    glpi.expire_after = 4
    scan = _scan(glpi, pki)
    assert scan.run.status == "ok", scan.run.error
    assert scan.observed("fleet.source")[glpi.url]["count"] == 7
    assert sum(r.path == "initSession" for r in glpi.requests) >= 3


def test_a_session_refused_again_after_reopening_is_an_error(glpi: Any, pki: Any) -> None:
    glpi.expire_after = 0
    scan = _scan(glpi, pki)
    assert scan.run.status == "failed"
    assert "ERROR_SESSION_TOKEN_INVALID" in scan.run.error
    assert "GLPI 127.0.0.1:" in scan.run.error


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("user_token", "jeton-faux", "jeton utilisateur refusé (ERROR_GLPI_LOGIN_USER_TOKEN)"),
        ("app_token", "faux", "jeton d'application refusé (ERROR_WRONG_APP_TOKEN_PARAMETER)"),
        ("app_token", None, "jeton d'application refusé (ERROR_APP_TOKEN_PARAMETERS_MISSING)"),
    ],
)
def test_a_refused_token_fails_the_run_naming_the_server_and_the_key(
    glpi: Any, pki: Any, setting: str, value: str | None, words: str
) -> None:
    scan = _scan(glpi, pki, **{setting: value})
    assert scan.run.status == "failed"
    assert words in scan.run.error
    assert f"GLPI 127.0.0.1:{glpi.url.split(':')[2].split('/')[0]}" in scan.run.error
    assert "[fleet]" in scan.run.error
    assert "jeton-faux" not in scan.json and glpi_server.USER_TOKEN not in scan.json


def test_a_server_error_keeps_the_computers_read_before(glpi: Any, pki: Any) -> None:
    glpi.fail_path = "Computer/15/"  # the fifth computer's programs
    scan = _scan(glpi, pki)
    assert scan.run.status == "ok", scan.run.error
    (source,) = scan.observed("fleet.source").values()
    assert source["count"] == 4
    assert "HTTP 500" in scan.notes() and "4 machine(s) lue(s) avant" in scan.notes()
    assert "HTTP 500" in source["error"]
    assert scan.finding("microsoft-365-apps").attributes["devices"] == 4
    assert glpi.requests[-1].path == "killSession"


def test_a_slow_answer_is_cut_at_the_timeout_and_keeps_what_was_read(glpi: Any, pki: Any) -> None:
    glpi.slow_path, glpi.delay = "Computer/13/", 3.0
    scan = _scan(glpi, pki, timeout=1.0)
    assert scan.run.status == "ok", scan.run.error
    assert "pas de réponse en 1 s (Computer/13/Item_SoftwareVersion)" in scan.notes()
    assert scan.observed("fleet.source")[glpi.url]["count"] == 2


def test_a_certificate_the_agent_does_not_trust_is_refused(glpi: Any, pki: Any) -> None:
    scan = _scan(glpi, pki, ca_file=None)
    assert scan.run.status == "failed"
    assert "certificat non vérifié" in scan.run.error and "[fleet] ca_file" in scan.run.error
    assert not [r for r in glpi.requests if r.path == "initSession"]


def test_files_and_glpi_together_count_each_machine_once(
    glpi: Any, pki: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "poste.xml").write_text(
        helpers.derived_xml(
            "pc-hors-glpi", "Microsoft Windows 11 Professionnel", "10.0.26200",
            [("Microsoft 365 Apps pour les grandes entreprises - fr-fr", "16.0", "Microsoft")],
        ),
        encoding="utf-8",
    )  # fmt: skip
    scan = _scan(glpi, pki, folders=(folder,))
    sources = scan.observed("fleet.source")
    assert sources[str(folder)]["count"] == 1 and sources[glpi.url]["count"] == 7
    apps = scan.finding("microsoft-365-apps")
    assert (apps.attributes["devices"], apps.attributes["fleet_machines"]) == (5, 8)


def test_reading_stops_in_time_to_emit_before_the_probes_deadline(glpi: Any, pki: Any) -> None:
    glpi.slow_path, glpi.delay = "Computer/12/", 2.0
    scan = _scan(glpi, pki, probe_timeout=6.5)
    assert scan.run.status == "ok", scan.run.error
    assert "lecture arrêtée pour tenir le délai de la sonde" in scan.notes()
    assert scan.observed("fleet.source")[glpi.url]["count"] == 2
    assert scan.finding("microsoft-365-apps").attributes["devices"] == 2
