"""User administration from the CLI (`tiebreak server users …`, `audit-export`) and from the web
pages /admin/utilisateurs and /admin/journal, with the audit log they write."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.cli import main
from server import admin
from server.exports import AUDIT_COLUMNS, neutralise
from server.store import audit
from tests.server.conftest import PASSWORD, Api

NEW_PASSWORD = "un tout nouveau mot de passe"


@pytest.fixture
def data(database_url: str, tmp_path: Path) -> list[str]:
    """The database options for the CLI: the test's SQLite file, or its PostgreSQL schema."""
    if database_url.startswith("postgresql"):
        return ["--database-url", database_url]
    return ["--data-dir", str(tmp_path / "data")]


def api_login(api: Api, username: str, password: str = PASSWORD) -> int:
    """The status of a sign-in through the API."""
    client = TestClient(api.app)
    answer = client.post("/api/v1/session", json={"username": username, "password": password})
    return answer.status_code


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def signed_in(api: Api, username: str) -> TestClient:
    """A client signed in through the /connexion form."""
    client = TestClient(api.app)
    page = client.get("/connexion")
    answer = client.post(
        "/connexion",
        data={
            "csrf": _csrf(page.text),
            "username": username,
            "password": PASSWORD,
            "suivant": "/revue",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def page_csrf(client: TestClient) -> str:
    """The anti-forgery token of the signed-in client's forms."""
    page = client.get("/admin/utilisateurs")
    assert page.status_code == 200, page.text
    return _csrf(page.text)


def users_by_name(api: Api) -> dict[str, dict[str, object]]:
    return {user["username"]: user for user in admin.list_users(api.engine)}


def actions(api: Api) -> list[tuple[str, str, str]]:
    with api.engine.connect() as connection:
        return [(row.username, row.action, row.subject) for row in audit.every(connection)]


# --- the command line -------------------------------------------------------------------------


def test_cli_lists_users_with_role_state_and_organisations(
    api: Api, data: list[str], capsys: pytest.CaptureFixture[str], french: None
) -> None:
    assert main(["server", "users", "list", *data]) == 0
    lines = capsys.readouterr().out.splitlines()
    by_name = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert set(by_name) == {"admin", api.a.reviewer, api.a.viewer, api.b.reviewer, api.b.viewer}
    assert by_name[api.a.reviewer][1] == "reviewer"
    assert by_name[api.a.reviewer][3] == "actif"
    assert by_name[api.a.reviewer][4] == api.a.name
    assert by_name["admin"][1] == "admin"


def test_cli_disable_refuses_sign_in_and_enable_restores_it(
    api: Api, data: list[str], capsys: pytest.CaptureFixture[str], french: None
) -> None:
    reviewer = api.session(api.a.reviewer)
    assert reviewer.get("/api/v1/session").status_code == 200

    assert main(["server", "users", "disable", api.a.reviewer, *data]) == 0
    assert "désactivé" in capsys.readouterr().out
    assert api_login(api, api.a.reviewer) == 401
    assert reviewer.get("/api/v1/session").status_code == 401  # the open session ended
    assert main(["server", "users", "list", *data]) == 0
    assert "désactivé le" in capsys.readouterr().out

    assert main(["server", "users", "enable", api.a.reviewer, *data]) == 0
    assert api_login(api, api.a.reviewer) == 200

    assert main(["server", "users", "disable", "personne", *data]) == 2
    assert "introuvable" in capsys.readouterr().err
    assert [a for _, a, s in actions(api) if s == f"user:{api.a.reviewer}"][-2:] == [
        "user.disable",
        "user.enable",
    ]


def test_cli_reset_password_reads_a_file_and_replaces_the_old_one(
    api: Api, data: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], french: None
) -> None:
    secret = tmp_path / "nouveau"
    secret.write_text(NEW_PASSWORD + "\n")
    command = ["server", "users", "reset-password", api.b.viewer, *data]
    assert main([*command, "--password-file", str(secret)]) == 0
    assert api_login(api, api.b.viewer, PASSWORD) == 401
    assert api_login(api, api.b.viewer, NEW_PASSWORD) == 200

    short = tmp_path / "court"
    short.write_text("court\n")
    capsys.readouterr()
    assert main([*command, "--password-file", str(short)]) == 2
    assert "trop court" in capsys.readouterr().err
    assert api_login(api, api.b.viewer, NEW_PASSWORD) == 200
    assert main([*command, "--password-file", str(tmp_path / "absent")]) == 2


def test_cli_assign_sets_role_and_organisations(
    api: Api, data: list[str], capsys: pytest.CaptureFixture[str], french: None
) -> None:
    command = ["server", "users", "assign", api.a.viewer, *data]
    assert main([*command, "--role", "reviewer", "--org", str(api.a.id), "--org", "200046977"]) == 0
    user = users_by_name(api)[api.a.viewer]
    assert user["role"] == "reviewer"
    assert user["organisations"] == sorted([api.a.name, api.b.name])
    session = api.session(api.a.viewer).get("/api/v1/session").json()
    assert session["role"] == "reviewer"
    assert set(session["organisations"]) == {api.a.id, api.b.id}

    assert main([*command, "--role", "viewer"]) == 2
    assert "au moins une organisation" in capsys.readouterr().err
    assert main([*command, "--role", "viewer", "--org", "Inconnue"]) == 2
    assert users_by_name(api)[api.a.viewer]["role"] == "reviewer"


def test_cli_delete_removes_the_user(
    api: Api, data: list[str], capsys: pytest.CaptureFixture[str], french: None
) -> None:
    assert main(["server", "users", "delete", api.b.reviewer, *data]) == 0
    assert api.b.reviewer not in users_by_name(api)
    assert api_login(api, api.b.reviewer) == 401
    assert main(["server", "users", "delete", api.b.reviewer, *data]) == 2
    assert "introuvable" in capsys.readouterr().err
    assert ("(ligne de commande)", "user.delete", f"user:{api.b.reviewer}") in actions(api)


def test_cli_audit_export_writes_every_action_with_formulas_neutralised(
    api: Api, data: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], french: None
) -> None:
    admin.create_user(
        api.engine, "=HYPERLINK(1)", PASSWORD, admin.Role.VIEWER, [str(api.a.id)], actor="-2+3"
    )
    assert main(["server", "users", "disable", "=HYPERLINK(1)", *data]) == 0
    output = tmp_path / "journal.csv"
    assert main(["server", "audit-export", "--output", str(output), *data]) == 0
    with output.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == AUDIT_COLUMNS
    records = [dict(zip(AUDIT_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert len(records) == 7  # the tenants' four users, the admin, "=HYPERLINK(1)", disabling
    assert [r["action"] for r in records[-2:]] == ["user.create", "user.disable"]
    assert records[-2]["username"] == "'-2+3"  # a formula once neutralised
    assert records[-1]["subject"] == "user:=HYPERLINK(1)"
    assert records[-1]["username"] == "(ligne de commande)"
    assert records[-1]["before"] == '{"disabled": false}'
    assert records[-1]["at"].endswith("+00:00")
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)

    capsys.readouterr()
    assert main(["server", "audit-export", *data]) == 0
    assert capsys.readouterr().out.replace("\r\n", "\n") == output.read_text().replace("\r\n", "\n")


def test_formula_cells_get_an_apostrophe() -> None:
    for dangerous in ("=1+1", "+33 1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(dangerous) == "'" + dangerous
    assert neutralise("user:=1") == "user:=1"
    assert neutralise(None) == ""
    assert neutralise(42) == "42"


# --- the web pages --------------------------------------------------------------------------


def test_admin_creates_a_user_from_the_web(api: Api) -> None:
    client = signed_in(api, "admin")
    csrf = page_csrf(client)
    answer = client.post(
        "/admin/utilisateurs/creer",
        data={
            "csrf": csrf,
            "username": "claire",
            "role": "reviewer",
            "organisations": [str(api.a.id), str(api.b.id)],
            "password": NEW_PASSWORD,
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/admin/utilisateurs?fait=cree"
    created = users_by_name(api)["claire"]
    assert created["role"] == "reviewer"
    assert created["organisations"] == sorted([api.a.name, api.b.name])
    assert api_login(api, "claire", NEW_PASSWORD) == 200
    assert ("admin", "user.create", "user:claire") in actions(api)
    page = client.get(answer.headers["location"])
    assert "Utilisateur créé." in page.text and "claire" in page.text

    # A short password and a reviewer without organisation are refused beside their field.
    refused = client.post(
        "/admin/utilisateurs/creer",
        data={"csrf": csrf, "username": "denis", "role": "viewer", "password": "court"},
    )
    assert refused.status_code == 422
    assert 'id="err-organisations"' in refused.text
    assert "au moins une organisation" in refused.text
    assert 'value="denis"' in refused.text  # the name typed is kept
    refused = client.post(
        "/admin/utilisateurs/creer",
        data={
            "csrf": csrf,
            "username": "denis",
            "role": "viewer",
            "organisations": str(api.a.id),
            "password": "court",
        },
    )
    assert refused.status_code == 422
    assert 'id="err-password"' in refused.text and "trop court" in refused.text
    assert "court" not in re.findall(r'type="password"[^>]*', refused.text)[0]
    duplicate = client.post(
        "/admin/utilisateurs/creer",
        data={"csrf": csrf, "username": "claire", "role": "admin", "password": NEW_PASSWORD},
    )
    assert duplicate.status_code == 422 and "existe déjà" in duplicate.text
    assert "denis" not in users_by_name(api)


def test_admin_disables_and_enables_a_user_from_the_web(api: Api) -> None:
    client = signed_in(api, "admin")
    victim = api.session(api.a.reviewer)
    csrf = page_csrf(client)
    answer = client.post(
        "/admin/utilisateurs/desactiver",
        data={"csrf": csrf, "utilisateur": api.a.reviewer},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/utilisateurs?fait=desactive"
    assert users_by_name(api)[api.a.reviewer]["disabled_at"] is not None
    assert victim.get("/api/v1/session").status_code == 401
    assert api_login(api, api.a.reviewer) == 401
    assert "Réactiver" in client.get("/admin/utilisateurs").text

    answer = client.post(
        "/admin/utilisateurs/activer",
        data={"csrf": csrf, "utilisateur": api.a.reviewer},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert users_by_name(api)[api.a.reviewer]["disabled_at"] is None
    assert api_login(api, api.a.reviewer) == 200

    own = client.post("/admin/utilisateurs/desactiver", data={"csrf": csrf, "utilisateur": "admin"})
    assert own.status_code == 422 and "votre propre compte" in own.text
    assert users_by_name(api)["admin"]["disabled_at"] is None


def test_admin_deletes_a_user_only_with_the_confirmation(api: Api) -> None:
    client = signed_in(api, "admin")
    csrf = page_csrf(client)
    refused = client.post(
        "/admin/utilisateurs/supprimer", data={"csrf": csrf, "utilisateur": api.b.viewer}
    )
    assert refused.status_code == 422
    assert 'id="err-confirm"' in refused.text
    assert "cochez la case pour confirmer" in refused.text
    assert 'aria-invalid="true" aria-describedby="err-confirm"' in refused.text
    assert api.b.viewer in users_by_name(api)

    answer = client.post(
        "/admin/utilisateurs/supprimer",
        data={"csrf": csrf, "utilisateur": api.b.viewer, "confirm": "oui"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/utilisateurs?fait=supprime"
    assert api.b.viewer not in users_by_name(api)
    assert ("admin", "user.delete", f"user:{api.b.viewer}") in actions(api)

    own = client.post(
        "/admin/utilisateurs/supprimer",
        data={"csrf": csrf, "utilisateur": "admin", "confirm": "oui"},
    )
    assert own.status_code == 422 and "propre compte" in own.text


def test_admin_resets_a_password_from_the_web(api: Api) -> None:
    client = signed_in(api, "admin")
    csrf = page_csrf(client)
    short = client.post(
        "/admin/utilisateurs/mot-de-passe",
        data={"csrf": csrf, "utilisateur": api.a.viewer, "password": "court"},
    )
    assert short.status_code == 422 and "trop court" in short.text
    assert api_login(api, api.a.viewer, PASSWORD) == 200

    answer = client.post(
        "/admin/utilisateurs/mot-de-passe",
        data={"csrf": csrf, "utilisateur": api.a.viewer, "password": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert api_login(api, api.a.viewer, PASSWORD) == 401
    assert api_login(api, api.a.viewer, NEW_PASSWORD) == 200
    assert ("admin", "user.password", f"user:{api.a.viewer}") in actions(api)


def test_admin_assigns_role_and_organisations_from_the_web(api: Api) -> None:
    client = signed_in(api, "admin")
    csrf = page_csrf(client)
    answer = client.post(
        "/admin/utilisateurs/attribuer",
        data={
            "csrf": csrf,
            "utilisateur": api.a.viewer,
            "role": "reviewer",
            "organisations": [str(api.a.id), str(api.b.id)],
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/utilisateurs?fait=attribue"
    user = users_by_name(api)[api.a.viewer]
    assert user["role"] == "reviewer"
    assert user["organisations"] == sorted([api.a.name, api.b.name])

    unknown = client.post(
        "/admin/utilisateurs/attribuer",
        data={"csrf": csrf, "utilisateur": api.a.viewer, "role": "viewer", "organisations": "999"},
    )
    assert unknown.status_code == 422 and "organisation inconnue" in unknown.text
    bad_role = client.post(
        "/admin/utilisateurs/attribuer",
        data={"csrf": csrf, "utilisateur": api.a.viewer, "role": "roi"},
    )
    assert bad_role.status_code == 422 and 'id="err-role"' in bad_role.text
    assert users_by_name(api)[api.a.viewer]["role"] == "reviewer"


def test_non_admins_do_not_see_the_admin_pages(api: Api) -> None:
    reviewer = signed_in(api, api.a.reviewer)
    for path in ("/admin/utilisateurs", "/admin/journal", "/admin/journal.csv"):
        answer = reviewer.get(path)
        assert answer.status_code == 404, path
        assert "tiebreak-journal" not in answer.headers.get("content-disposition", "")
    page = reviewer.get("/revue")
    assert "/admin/utilisateurs" not in page.text
    forged = reviewer.post(
        "/admin/utilisateurs/desactiver",
        data={"csrf": _csrf(page.text), "utilisateur": "admin"},
    )
    assert forged.status_code == 404
    assert users_by_name(api)["admin"]["disabled_at"] is None

    anonymous = TestClient(api.app).get("/admin/utilisateurs", follow_redirects=False)
    assert anonymous.status_code == 303 and "/connexion" in anonymous.headers["location"]


def test_a_form_without_the_anti_forgery_token_is_refused(api: Api) -> None:
    client = signed_in(api, "admin")
    answer = client.post(
        "/admin/utilisateurs/supprimer", data={"utilisateur": api.a.viewer, "confirm": "oui"}
    )
    assert answer.status_code == 403
    answer = client.post(
        "/admin/utilisateurs/creer",
        data={"csrf": "faux", "username": "x", "role": "admin", "password": NEW_PASSWORD},
    )
    assert answer.status_code == 403
    assert api.a.viewer in users_by_name(api) and "x" not in users_by_name(api)


def test_the_journal_shows_and_exports_what_the_admin_did(api: Api) -> None:
    client = signed_in(api, "admin")
    csrf = page_csrf(client)
    for path, fields in (
        ("desactiver", {"utilisateur": api.b.reviewer}),
        ("supprimer", {"utilisateur": api.b.viewer, "confirm": "oui"}),
    ):
        answer = client.post(
            f"/admin/utilisateurs/{path}", data={"csrf": csrf, **fields}, follow_redirects=False
        )
        assert answer.status_code == 303
    admin.create_user(api.engine, "@evil", PASSWORD, admin.Role.ADMIN, [], actor="=cmd|calc")

    page = client.get("/admin/journal")
    assert page.status_code == 200
    assert "user.disable" in page.text and f"user:{api.b.reviewer}" in page.text
    assert page.text.index("=cmd|calc") < page.text.index("user.delete")  # newest first

    export = client.get("/admin/journal.csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"] == 'attachment; filename="tiebreak-journal.csv"'
    rows = list(csv.reader(io.StringIO(export.text)))
    assert tuple(rows[0]) == AUDIT_COLUMNS
    records = [dict(zip(AUDIT_COLUMNS, row, strict=True)) for row in rows[1:]]
    done = [(r["username"], r["action"], r["subject"]) for r in records]
    assert ("admin", "user.disable", f"user:{api.b.reviewer}") in done
    assert ("admin", "user.delete", f"user:{api.b.viewer}") in done
    assert records[-1]["username"] == "'=cmd|calc"
    assert records[-1]["subject"] == "user:@evil"
    assert len(records) == 8
