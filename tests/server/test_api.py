"""The ingestion and read API on SQLite and PostgreSQL: bad-input rules, idempotency, roles."""

from __future__ import annotations

import gzip
import json
from typing import Any

from sqlalchemy import func, select

from server import db


def _count(api: Any, table: Any) -> int:
    with api.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def test_an_inventory_is_stored_and_read_back_intact(api: Any, make_inventory: Any) -> None:
    inventory = make_inventory(api.a.name, api.a.siren, findings=5)
    answer = api.send(inventory, api.a.token)
    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    assert receipt["id"] == str(inventory.id)
    assert receipt["organisation_id"] == api.a.id
    assert (receipt["findings"], receipt["observations"]) == (5, 1)

    admin = api.session("admin")
    stored = admin.get(receipt["url"]).json()
    assert stored["document"] == json.loads(inventory.to_json())
    findings = admin.get(receipt["url"] + "/findings").json()
    assert [f["id"] for f in findings] == [f.id for f in inventory.findings]
    assert _count(api, db.findings) == 5


def test_a_resend_answers_as_the_first_time_and_stores_nothing(
    api: Any, make_inventory: Any
) -> None:
    inventory = make_inventory(api.a.name, api.a.siren, findings=4)
    first = api.send(inventory, api.a.token)
    again = api.send(inventory, api.a.token)
    zipped = api.send(
        gzip.compress(inventory.to_json().encode()), api.a.token, **{"Content-Encoding": "gzip"}
    )
    assert first.status_code == again.status_code == zipped.status_code == 201
    assert first.json() == again.json() == zipped.json()
    assert _count(api, db.inventories) == 1
    assert _count(api, db.findings) == 4


def test_the_same_id_with_other_content_is_a_conflict(api: Any, make_inventory: Any) -> None:
    inventory = make_inventory(api.a.name, api.a.siren, findings=1)
    assert api.send(inventory, api.a.token).status_code == 201
    altered = inventory.model_copy(update={"findings": []})
    answer = api.send(altered, api.a.token)
    assert answer.status_code == 409
    assert "identifiant" in answer.json()["detail"]
    # Another organisation reusing the id must not overwrite or read anything either.
    stolen = make_inventory(api.b.name, api.b.siren, id=inventory.id)
    assert api.send(stolen, api.b.token).status_code == 409
    assert _count(api, db.findings) == 1


def test_missing_unknown_and_revoked_tokens_are_refused(api: Any, make_inventory: Any) -> None:
    from server.admin import rotate_token

    body = make_inventory(api.a.name, api.a.siren).to_json().encode()
    missing = api.client.post("/api/v1/inventories", content=body)
    assert missing.status_code == 401
    assert "jeton d'agent manquant" in missing.json()["detail"]
    english = api.client.post(
        "/api/v1/inventories", content=body, headers={"Accept-Language": "en-GB,fr;q=0.5"}
    )
    assert "missing agent token" in english.json()["detail"]
    unknown = api.send(body, "tbk_00000000_" + "x" * 43)
    assert unknown.status_code == 401
    assert "inconnu" in unknown.json()["detail"]
    assert api.send(body, "not-a-token").status_code == 401

    new_token = rotate_token(api.engine, str(api.a.id))
    revoked = api.send(body, api.a.token)
    assert revoked.status_code == 401
    assert "révoqué" in revoked.json()["detail"]
    assert _count(api, db.inventories) == 0
    assert api.send(body, new_token).status_code == 201


def test_bad_bodies_get_their_status_and_a_message_naming_the_problem(
    api: Any, make_inventory: Any
) -> None:
    good = json.loads(make_inventory(api.a.name, api.a.siren).to_json())

    malformed = api.send(b'{"schema": "1.0", ', api.a.token)
    assert malformed.status_code == 400
    assert "JSON" in malformed.json()["detail"]

    future = api.send(json.dumps(good | {"schema": "9.0"}).encode(), api.a.token)
    assert future.status_code == 422
    assert "schema" in future.json()["detail"] and "1.0" in future.json()["detail"]

    bad_siren = good | {"organisation": {"name": api.a.name, "siren": "123456789"}}
    invalid = api.send(json.dumps(bad_siren).encode(), api.a.token)
    assert invalid.status_code == 422
    assert "organisation.siren" in invalid.json()["detail"]
    assert invalid.json()["errors"][0]["field"] == "organisation.siren"

    bad_finding = json.loads(json.dumps(good))
    bad_finding["findings"][1]["jurisdiction"] = "mars"
    nested = api.send(json.dumps(bad_finding).encode(), api.a.token)
    assert nested.status_code == 422
    assert "findings.1.jurisdiction" in nested.json()["detail"]

    wrong_type = api.send(json.dumps(good).encode(), api.a.token, **{"Content-Type": "text/xml"})
    assert wrong_type.status_code == 415
    assert _count(api, db.inventories) == 0


def test_size_limits_refuse_big_bodies_and_compression_bombs(api: Any, make_inventory: Any) -> None:
    big = make_inventory(api.a.name, api.a.siren, findings=6000).to_json().encode()
    assert len(big) > 2 * 1024 * 1024
    too_big = api.send(big, api.a.token)
    assert too_big.status_code == 413
    assert "Mo" in too_big.json()["detail"]

    # 4 MB of inflated limit: a 40 MB bomb compresses to about 40 KB and must be stopped early.
    bomb = gzip.compress(b'{"schema": "1.0", "x": "' + b"a" * 40_000_000 + b'"}')
    assert len(bomb) < 100_000
    exploded = api.send(bomb, api.a.token, **{"Content-Encoding": "gzip"})
    assert exploded.status_code == 413
    assert "décompressé" in exploded.json()["detail"]

    corrupt = api.send(b"\x1f\x8b\x08\x00garbage", api.a.token, **{"Content-Encoding": "gzip"})
    assert corrupt.status_code == 400
    brotli = api.send(big[:100], api.a.token, **{"Content-Encoding": "br"})
    assert brotli.status_code == 415

    medium = make_inventory(api.a.name, api.a.siren, findings=3000)
    packed = gzip.compress(medium.to_json().encode())
    assert len(packed) < 2 * 1024 * 1024 < len(medium.to_json())
    accepted = api.send(packed, api.a.token, **{"Content-Encoding": "gzip"})
    assert accepted.status_code == 201, accepted.text
    assert _count(api, db.inventories) == 1


def test_an_inventory_of_another_organisation_is_refused(api: Any, make_inventory: Any) -> None:
    answer = api.send(make_inventory(api.b.name, api.b.siren), api.a.token)
    assert answer.status_code == 403
    assert "213105554" in answer.json()["detail"] and "200046977" in answer.json()["detail"]
    # SIREN decides when both sides have one, even if the names are the same.
    same_name = api.send(make_inventory(api.a.name, api.b.siren), api.a.token)
    assert same_name.status_code == 403
    # Without SIREN in the inventory, the name decides, ignoring case, accents and punctuation.
    assert api.send(make_inventory(api.b.name), api.a.token).status_code == 403
    loose = make_inventory("COMMUNE DE SAINT ETIENNE DU TEST")
    assert api.send(loose, api.a.token).status_code == 201
    assert _count(api, db.inventories) == 1


def test_hostile_strings_are_stored_and_returned_intact(api: Any, make_inventory: Any) -> None:
    hostile = [
        "<script>alert('x')</script>",
        "'; DROP TABLE inventories; --",
        'Robert"); DELETE FROM findings WHERE ("1"="1',
        "\x00\x01\x07\x1b[31mrouge\x1b[0m\r\n\t\x7f",
        "v" * 65536,
        "émoji 🦀 et ‮inversé",
    ]
    inventory = make_inventory(
        api.a.name, api.a.siren, findings=0, locus=hostile[0], scope={"domains": hostile}
    )
    model = make_inventory(api.a.name, findings=1).findings[0]
    findings = [
        model.model_copy(update={"locus": text, "version": text, "product": text})
        for text in hostile
    ]
    inventory = inventory.model_copy(update={"findings": findings})
    answer = api.send(inventory, api.a.token)
    assert answer.status_code == 201, answer.text
    stored = api.session("admin").get(answer.json()["url"]).json()["document"]
    assert stored["scope"]["domains"] == hostile
    assert [f["locus"] for f in stored["findings"]] == hostile
    assert [f["version"] for f in stored["findings"]] == hostile
    assert [f["product"] for f in stored["findings"]] == hostile
    assert _count(api, db.inventories) == 1


def test_login_sets_a_safe_cookie_and_is_rate_limited(api: Any) -> None:
    client = api.client
    answer = client.post("/api/v1/session", json={"username": "admin", "password": api.password})
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/api/v1/session").json()["role"] == "admin"
    assert client.delete("/api/v1/session").status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/session").status_code == 401

    for _ in range(5):
        wrong = client.post("/api/v1/session", json={"username": "admin", "password": "nope"})
        assert wrong.status_code == 401
    blocked = client.post("/api/v1/session", json={"username": "admin", "password": api.password})
    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers
    assert "trop de tentatives" in blocked.json()["detail"]


def test_login_with_control_characters_is_a_clear_422(api: Any) -> None:
    # Found by schemathesis: a NUL in the user name reached PostgreSQL and gave a 500.
    for name in ("\u0000", "admin\u0000", "ad\nmin"):
        answer = api.client.post("/api/v1/session", json={"username": name, "password": "x"})
        assert answer.status_code == 422, (name, answer.text)
        assert "username" in answer.text


def test_roles_decide_what_a_user_may_read_and_validate(api: Any, make_inventory: Any) -> None:
    from server.admin import create_organisation

    inventory = make_inventory(api.a.name, api.a.siren)
    receipt = api.send(inventory, api.a.token).json()
    viewer, reviewer = api.session(api.a.viewer), api.session(api.a.reviewer)
    assert viewer.get(receipt["url"]).status_code == 200
    refused = viewer.post(receipt["url"] + "/review", json={"status": "validated"})
    assert refused.status_code == 403
    assert "lecteur" in refused.json()["detail"]
    nonsense = reviewer.post(receipt["url"] + "/review", json={"status": "bof"})
    assert nonsense.status_code == 422
    assert "champ(s) status" in nonsense.json()["detail"]
    accepted = reviewer.post(receipt["url"] + "/review", json={"status": "validated"})
    assert accepted.status_code == 200
    assert viewer.get(receipt["url"]).json()["status"] == "validated"
    # A resend after the decision still gets the answer of the first send.
    again = api.send(inventory, api.a.token)
    assert (again.status_code, again.json()) == (201, receipt)

    # A commune under organisation A is visible to A's people; B's people see none of it.
    child_id, child_token = create_organisation(
        api.engine, "Commune Fille", "217500016", parent=str(api.a.id)
    )
    child = api.send(make_inventory("Commune Fille", "217500016"), child_token).json()
    assert reviewer.get(child["url"]).status_code == 200
    assert {o["id"] for o in reviewer.get("/api/v1/organisations").json()} == {api.a.id, child_id}
    assert api.session(api.b.reviewer).get(child["url"]).status_code == 404
    everything = api.session("admin").get("/api/v1/inventories").json()
    assert {i["id"] for i in everything} == {receipt["id"], child["id"]}


def test_the_openapi_document_describes_the_inventory_body(api: Any) -> None:
    document = api.client.get("/api/v1/openapi.json").json()
    body = document["paths"]["/api/v1/inventories"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/Inventory")
    assert "Finding" in document["components"]["schemas"]
    assert "413" in document["paths"]["/api/v1/inventories"]["post"]["responses"]


def test_an_expired_session_is_refused(api: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    client = api.session(api.a.viewer)
    assert client.get("/api/v1/organisations").status_code == 200
    with api.engine.begin() as connection:
        connection.execute(
            update(db.sessions).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = client.get("/api/v1/organisations")
    assert expired.status_code == 401
    assert "expirée" in expired.json()["detail"]


def test_a_database_outage_answers_503_not_a_traceback(api: Any, make_inventory: Any) -> None:
    from server.db import make_engine

    # Nothing listens on port 1 of the loopback address: every connection is refused.
    api.app.state.engine = make_engine("postgresql://postgres@127.0.0.1:1/absent")
    answer = api.send(make_inventory(api.a.name, api.a.siren), api.a.token)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "60"
    assert "rien n'a été enregistré" in answer.json()["detail"]
    assert "psycopg" not in answer.text
