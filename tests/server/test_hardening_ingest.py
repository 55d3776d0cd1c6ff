"""Ingestion hardening (issue 10): documents that used to answer 500 or be stored other than as
sent, a token without SIREN, bytes after the gzip member, and the bound on concurrent ingests."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from server import admin, db, ingest
from server.settings import DEFAULT_MAX_DECOMPRESSED

A_NAME, A_SIREN = "Commune de Saint-Étienne-du-Test", "213105554"


def _document(**fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    document: dict[str, Any] = {
        "schema": "1.0",
        "id": str(uuid.uuid4()),
        "organisation": {"name": A_NAME, "siren": A_SIREN},
        "agent": {"version": "0.1.0", "hostname": "poste-test"},
        "started_at": now,
        "finished_at": now,
    }
    return document | fields


def _post(api: Any, body: bytes, token: str | None = None, **headers: str) -> Any:
    return api.send(body, token or api.a.token, **headers)


def _stored(api: Any) -> int:
    with api.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(db.inventories)) or 0)


# Item 6 (a): a document without `findings` is accepted, and its findings read back empty.
def test_an_inventory_without_findings_is_accepted_and_its_findings_read_back(api: Any) -> None:
    document = _document(observations=[])
    answer = _post(api, json.dumps(document).encode())
    assert answer.status_code == 201, answer.text
    assert answer.json()["findings"] == 0
    viewer = api.session(api.a.viewer)
    findings = viewer.get(f"/api/v1/inventories/{document['id']}/findings")
    assert (findings.status_code, findings.json()) == (200, [])
    read = viewer.get(f"/api/v1/inventories/{document['id']}")
    assert read.status_code == 200
    assert "findings" not in read.json()["document"]  # stored exactly as sent

    answer = _post(api, json.dumps(_document(findings=None)).encode())
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "findings"


# Item 6 (b): timestamps out of any sane range, or overflowing once in UTC.
@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
    ],
)
@pytest.mark.parametrize("field", ["started_at", "finished_at"])
def test_a_timestamp_out_of_range_is_refused_naming_the_field(
    api: Any, field: str, value: str
) -> None:
    answer = _post(api, json.dumps(_document(**{field: value})).encode())
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field
    assert _stored(api) == 0


def test_a_timestamp_at_the_edges_of_the_range_is_accepted(api: Any) -> None:
    document = _document(started_at="2000-01-01T00:00:00Z", finished_at="2099-12-31T23:59:59Z")
    assert _post(api, json.dumps(document).encode()).status_code == 201


_PROBE = {"name": "system", "status": "ok", "duration_s": "@"}
_OBSERVATION = {
    "id": "o-0123456789abcdef",
    "probe": "system",
    "channel": "package",
    "locus": "127.0.0.1",
    "value": "paquet",
    "attributes": {"taille": [1, {"octets": "@"}]},
}
_FINDING = {
    "id": "f-1",
    "product": "p",
    "product_name": "P",
    "vendor": "v",
    "vendor_name": "V",
    "jurisdiction": "eu",
    "category": "logiciel",
    "domain": "d",
    "locus": "127.0.0.1",
    "confidence": "strong",
    "evidence": [],
    "attributes": {"prix": "@"},
}


# Item 6 (c): numbers JSON does not have, or that overflow to infinity, anywhere.
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"probes": [_PROBE]}, "probes.0.duration_s"),
        ({"observations": [_OBSERVATION]}, "observations.0.attributes"),
        ({"findings": [_FINDING]}, "findings.0.attributes"),
        ({"findings": [_FINDING | {"attributes": {}, "annual_cost_eur": "@"}]}, "findings.0"),
        ({"summary": {"dependency_index": {"overall": "@"}}}, "summary.dependency_index"),
    ],
)
def test_a_number_that_is_not_finite_is_refused_naming_the_field(
    api: Any, number: str, fields: dict[str, Any], field: str
) -> None:
    body = json.dumps(_document(**fields)).replace('"@"', number).encode()
    answer = _post(api, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"].startswith(field), answer.json()
    assert _stored(api) == 0


def test_large_finite_numbers_are_still_accepted(api: Any) -> None:
    body = json.dumps(_document(observations=[_OBSERVATION])).replace('"@"', "1.7e308")
    assert _post(api, body.encode()).status_code == 201


# Item 6 (d): a token of an organisation without SIREN.
def test_a_token_without_siren_cannot_send_another_organisations_siren(
    api: Any, make_inventory: Any
) -> None:
    _org, token = admin.create_organisation(api.engine, "Métropole Autre Sans SIREN")
    # B's SIREN under the token organisation's own name: the names match, the SIREN is B's.
    inventory = make_inventory("Métropole Autre Sans SIREN", api.b.siren)
    answer = api.send(inventory, token)
    assert answer.status_code == 403, answer.text
    assert _stored(api) == 0
    # Without SIREN, the name still identifies it.
    assert api.send(make_inventory("Métropole Autre Sans SIREN"), token).status_code == 201
    # And an organisation with a SIREN still receives an inventory without one, by its name.
    assert api.send(make_inventory(api.a.name), api.a.token).status_code == 201


# Item 6 (e): bytes after the (first) gzip member.
@pytest.mark.parametrize(
    "trailer",
    [b"garbage", gzip.compress(b'{"schema": "1.0"}'), b"\x00"],
    ids=["garbage", "second-member", "one-nul"],
)
def test_bytes_after_the_gzip_member_are_refused(
    api: Any, make_inventory: Any, trailer: bytes
) -> None:
    body = gzip.compress(make_inventory(A_NAME, A_SIREN).to_json().encode()) + trailer
    answer = _post(api, body, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 400, answer.text
    assert "gzip" in answer.json()["detail"]
    assert _stored(api) == 0


def test_a_single_gzip_member_is_still_accepted(api: Any, make_inventory: Any) -> None:
    body = gzip.compress(make_inventory(A_NAME, A_SIREN).to_json().encode())
    assert _post(api, body, **{"Content-Encoding": "gzip"}).status_code == 201


# Item 3: memory of ingestion.
def test_the_inflated_limit_leaves_room_for_the_largest_realistic_inventory(
    make_inventory: Any,
) -> None:
    """5,000 findings and 50,000 observations, indented as `Inventory.to_json` does."""
    from inventory import Observation

    observations = [
        Observation.make("system", "package", f"127.0.{n // 250}.{n % 250}", f"paquet {n}")
        for n in range(50_000)
    ]
    inventory = make_inventory(A_NAME, A_SIREN, findings=5_000, observations=observations)
    size = len(inventory.to_json().encode())
    assert 2 * size <= DEFAULT_MAX_DECOMPRESSED <= 32 * 1024 * 1024, size


def test_an_inventory_waiting_too_long_for_an_ingest_slot_gets_503(
    api: Any, make_inventory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "INGEST_SLOTS", 0)
    monkeypatch.setattr(ingest, "INGEST_WAIT_S", 0.2)
    answer = api.send(make_inventory(A_NAME, A_SIREN), api.a.token)
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "60"
    assert _stored(api) == 0


def test_concurrent_ingests_are_bounded(
    api: Any, make_inventory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "INGEST_SLOTS", 2)
    running, most = [0], [0]
    lock = threading.Lock()
    accept_body = ingest.accept_body

    def slow_accept(*args: Any) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.3)
            return accept_body(*args)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(ingest, "accept_body", slow_accept)
    answers: list[int] = []

    def send() -> None:
        answers.append(api.send(make_inventory(A_NAME, A_SIREN), api.a.token).status_code)

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [201] * 5
    assert most[0] == 2
    assert _stored(api) == 5


# Item 6, as a fuzzer would find it: valid inventories of A with one field pushed to its edges
# (timestamps over the whole calendar in every offset, numbers that JSON can write but a float
# cannot hold, keys left out). Every answer is a refusal or a stored inventory that reads back
# exactly as sent: never a server error.
_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "-0.0", "0", "12.5"]
_DROPPABLE = ["findings", "observations", "probes", "summary", "scope", "unidentified"]


def _fuzz_body(make_inventory: Any, data: Any) -> tuple[bytes, bool]:
    from datetime import timedelta, timezone

    from hypothesis import strategies as st

    document = json.loads(make_inventory(A_NAME, A_SIREN, findings=2).to_json())
    offset = timezone(timedelta(minutes=data.draw(st.integers(-14 * 60, 14 * 60))))
    moment = data.draw(st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)))
    document[data.draw(st.sampled_from(["started_at", "finished_at"]))] = moment.replace(
        tzinfo=offset
    ).isoformat()
    where = data.draw(st.sampled_from(["cost", "attribute", "duration", "none"]))
    sentinel = "__number__"
    if where == "cost":
        document["findings"][0]["annual_cost_eur"] = sentinel
    elif where == "attribute":
        document["observations"][0]["attributes"] = {"n": sentinel}
    elif where == "duration":
        document["probes"] = [{"name": "system", "status": "ok", "duration_s": sentinel}]
    for key in data.draw(st.lists(st.sampled_from(_DROPPABLE), max_size=3, unique=True)):
        document.pop(key, None)
    text = json.dumps(document).replace(f'"{sentinel}"', data.draw(st.sampled_from(_NUMBERS)))
    return text.encode(), where != "none"


def test_fuzzed_edges_of_an_inventory_never_make_a_server_error(
    api: Any, make_inventory: Any
) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    reader = api.session("admin")

    @given(data=st.data())
    @settings(
        max_examples=150,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(data: Any) -> None:
        body, _ = _fuzz_body(make_inventory, data)
        answer = _post(api, body)
        assert answer.status_code in (201, 400, 422), (answer.status_code, body[:300])
        if answer.status_code != 201:
            return
        address = answer.json()["url"]
        assert reader.get(address + "/findings").status_code == 200
        stored = reader.get(address)
        assert stored.status_code == 200
        assert stored.json()["document"] == json.loads(body)

    fuzz()
