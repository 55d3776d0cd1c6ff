"""Decisions outlive the scan that prompted them: applied to later drafts, diffed, audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from inventory import Observation
from server import auth, db, review
from server.admin import Role


def _user(api: Any, name: str) -> auth.User:
    with api.engine.connect() as connection:
        row = connection.execute(select(db.users).where(db.users.c.username == name)).one()
    role = Role(row.role)
    visible = None if role is Role.ADMIN else frozenset({api.a.id})
    return auth.User(row.id, row.username, role, visible)


def _review(api: Any, inventory_id: str) -> review.Review:
    with api.engine.connect() as connection:
        meta = review.visible_inventory(connection, _user(api, "admin"), inventory_id)
        return review.build(connection, meta)


@pytest.mark.parametrize(
    ("typed", "euros"),
    [
        ("1200", 1200.0),
        ("1 200,50", 1200.5),
        ("1\u202f200,5 €", 1200.5),
        ("1.200,50", 1200.5),
        ("99.9", 99.9),
        ("", None),
    ],
)
def test_costs_are_read_as_people_type_them(typed: str, euros: float | None) -> None:
    assert review.parse_cost(typed) == euros


def test_bad_fields_are_all_named_at_once() -> None:
    with pytest.raises(review.FormProblems) as caught:
        review.parse_decision(
            {
                "status": "rejected",
                "annual_cost_eur": "douze",
                "licences": "-3",
                "criticality": "énorme",
            }
        )
    assert set(caught.value.fields) == {"reason", "annual_cost_eur", "licences", "criticality"}
    assert "douze" in caught.value.fields["annual_cost_eur"][0]
    with pytest.raises(review.FormProblems) as caught:
        review.parse_decision({"status": "corrected", "product": "no-such-product"})
    assert "inconnu du catalogue" in caught.value.fields["product"][0]


def test_decisions_carry_over_to_the_next_draft_with_the_diff(
    api: Any, make_inventory: Any
) -> None:
    first = make_inventory(api.a.name, api.a.siren, findings=4)
    assert api.send(first, api.a.token).status_code == 201
    reviewer = _user(api, api.a.reviewer)
    keys = [f.id for f in first.findings]
    engine, fid = api.engine, str(first.id)
    assert review.record(engine, reviewer, fid, keys[0], "finding", {"status": "confirmed"})
    rejected = {"status": "rejected", "reason": "poste de test"}
    assert review.record(engine, reviewer, fid, keys[1], "finding", rejected)
    # The same form twice: nothing new is written, not even to the audit log.
    assert not review.record(engine, reviewer, fid, keys[1], "finding", rejected)
    key, values = review.parse_addition({"product": "bluemind", "annual_cost_eur": "3000"})
    assert review.record(engine, reviewer, fid, key, "manual", values)
    assert review.validate(engine, reviewer, fid)
    assert not review.validate(engine, reviewer, fid)
    # Validating confirmed the two findings nobody had decided on.
    assert {item.key: item.state for item in _review(api, fid).findings}[keys[2]] == "confirmed"

    # Next week: finding 3 is gone, a new one appears, the others are seen again.
    second = make_inventory(
        api.a.name,
        api.a.siren,
        findings=3,
        observations=[Observation.make("system", "package", "127.0.0.1", "x")],
    )
    new = make_inventory(api.a.name, api.a.siren, findings=5).findings[4]
    second = second.model_copy(update={"findings": [*second.findings[:3], new]})
    assert api.send(second, api.a.token).status_code == 201
    seen = _review(api, str(second.id))
    states = {item.key: item.state for item in seen.findings}
    assert states[keys[0]] == "confirmed" and states[keys[1]] == "rejected"
    assert states[keys[2]] == "confirmed" and states[new.id] == "pending"
    assert {item.key for item in seen.findings if item.carried} == {
        keys[0],
        keys[1],
        keys[2],
        "add:bluemind",
    }
    assert {item.key for item in seen.findings if item.new} == {new.id}
    assert [entry["key"] for entry in seen.gone] == [keys[3]]
    assert seen.pending == 1  # only the new finding asks for a decision
    with api.engine.connect() as connection:
        audited = connection.scalar(
            select(func.count())
            .select_from(db.audit_log)
            .where(db.audit_log.c.organisation_id == api.a.id)
        )
        snapshot = json.loads(
            connection.scalar(
                select(db.inventories.c.validated_findings).where(db.inventories.c.id == fid)
            )
        )
    assert audited == 6  # three decisions, two confirmations by validating, the validation
    assert keys[1] not in {entry["key"] for entry in snapshot}
    assert next(e for e in snapshot if e["key"] == keys[2])["state"] == "confirmed"
    assert next(e for e in snapshot if e["key"] == "add:bluemind")["annual_cost_eur"] == 3000


def test_a_viewer_cannot_decide_and_another_organisation_does_not_exist(
    api: Any, make_inventory: Any
) -> None:
    mine = make_inventory(api.a.name, api.a.siren, findings=1)
    theirs = make_inventory(api.b.name, api.b.siren, findings=1)
    assert api.send(mine, api.a.token).status_code == 201
    assert api.send(theirs, api.b.token).status_code == 201
    with pytest.raises(review.Refusal) as caught:
        review.record(
            api.engine,
            _user(api, api.a.viewer),
            str(mine.id),
            mine.findings[0].id,
            "finding",
            {"status": "confirmed"},
        )
    assert caught.value.status == 403
    with pytest.raises(review.Refusal) as caught:
        review.record(
            api.engine,
            _user(api, api.a.reviewer),
            str(theirs.id),
            theirs.findings[0].id,
            "finding",
            {"status": "confirmed"},
        )
    assert caught.value.status == 404
    with api.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(db.decisions)) == 0


def test_another_organisations_decision_on_the_same_finding_counts_for_nothing(
    api: Any, make_inventory: Any
) -> None:
    # Finding ids hash product and locus: two organisations may well share one.
    mine = make_inventory(api.a.name, api.a.siren, findings=2)
    theirs = make_inventory(api.b.name, api.b.siren, findings=2)
    assert mine.findings[0].id == theirs.findings[0].id
    assert api.send(mine, api.a.token).status_code == 201
    assert api.send(theirs, api.b.token).status_code == 201
    for finding in mine.findings:
        review.record(
            api.engine,
            _user(api, api.a.reviewer),
            str(mine.id),
            finding.id,
            "finding",
            {"status": "confirmed"},
        )
    from server.store import inventories

    with api.engine.connect() as connection:
        page = inventories.queue(
            connection, None, organisation_ids=None, status="draft", limit=10, offset=0
        )
    pending = {row.id: row.pending for row in page.rows}
    assert pending == {str(mine.id): 0, str(theirs.id): 2}
    assert _review(api, str(theirs.id)).pending == 2


def test_past_a_hundred_organisations_the_queue_searches_by_name_or_siren(
    api: Any, make_inventory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    from fastapi.testclient import TestClient

    import server.web.review as pages

    monkeypatch.setattr(pages, "SELECT_LIMIT", 1)
    assert api.send(make_inventory(api.a.name, api.a.siren), api.a.token).status_code == 201
    assert api.send(make_inventory(api.b.name, api.b.siren), api.b.token).status_code == 201
    client = TestClient(api.app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/connexion").text)
    assert token is not None
    signed = client.post(
        "/connexion",
        data={"csrf": token.group(1), "username": "admin", "password": api.password},
    )
    assert signed.status_code == 200
    everything = client.get("/revue").text
    assert 'type="search"' in everything and f'<option value="{api.a.id}"' not in everything
    assert api.a.name in everything and api.b.name in everything
    by_name = client.get("/revue", params={"organisation": "métropole"}).text
    assert api.b.name in by_name and api.a.name not in by_name
    by_siren = client.get("/revue", params={"organisation": api.a.siren}).text
    assert api.a.name in by_siren and api.b.name not in by_siren
    nothing = client.get("/revue", params={"organisation": "100%_"}).text
    assert api.a.name not in nothing and api.b.name not in nothing


def test_the_inventory_page_says_how_many_older_inventories_the_agents_full_spool_dropped(
    api: Any, make_inventory: Any
) -> None:
    client = api.session(api.a.reviewer)
    plain = make_inventory(api.a.name, api.a.siren, findings=1)
    assert api.send(plain, api.a.token).status_code == 201
    assert 'id="spool-dropped"' not in client.get(f"/inventaires/{plain.id}").text
    after_gap = make_inventory(api.a.name, api.a.siren, findings=1)
    after_gap = after_gap.model_copy(
        update={"agent": after_gap.agent.model_copy(update={"spool_dropped": 2})}
    )
    assert api.send(after_gap, api.a.token).status_code == 201
    assert _review(api, str(after_gap.id)).spool_dropped == 2
    page = client.get(f"/inventaires/{after_gap.id}").text
    assert 'id="spool-dropped"' in page
    assert "<strong>2</strong> inventaire(s) plus ancien(s)" in page
