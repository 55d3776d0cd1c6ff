"""The contract: models round-trip through JSON, SIREN keys, timestamps, and schema drift."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from inventory import (
    Agent,
    Confidence,
    Finding,
    Inventory,
    Jurisdiction,
    Observation,
    Organisation,
    ProbeRun,
    ProbeStatus,
    siren_is_valid,
)
from inventory.schema import render


def _inventory() -> Inventory:
    obs = Observation.make(
        "system", "os", "mairie-pc", "debian", {"version": "12", "tags": ["a", "b"]}
    )
    finding = Finding(
        id="f-1",
        product="debian",
        product_name="Debian",
        vendor="debian",
        vendor_name="Debian",
        jurisdiction=Jurisdiction.COMMUNITY,
        category="infrastructure",
        domain="systeme",
        locus="mairie-pc",
        confidence=Confidence.STRONG,
        evidence=[obs.id],
    )
    return Inventory(
        organisation=Organisation(name="Commune d'Exemple", siren="213105554", type="commune"),
        agent=Agent(version="0.1.0", hostname="mairie-pc"),
        started_at=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        finished_at=datetime(2026, 11, 28, 9, 1, tzinfo=UTC),
        probes=[ProbeRun(name="system", status=ProbeStatus.OK, duration_s=0.01, observations=1)],
        observations=[obs],
        findings=[finding],
    )


def test_inventory_round_trips_through_json() -> None:
    inventory = _inventory()
    text = inventory.to_json()
    assert json.loads(text)["schema"] == "1.0"
    assert Inventory.model_validate_json(text) == inventory


def test_the_bytes_form_is_the_text_form_encoded_with_the_same_names_and_escapes() -> None:
    inventory = _inventory()
    hostile = inventory.organisation.model_copy(update={"name": 'Saint-Étienne "\u2028" \\ é'})
    inventory = inventory.model_copy(update={"organisation": hostile})
    data = inventory.to_json_bytes()
    assert data == inventory.to_json().encode("utf-8")
    assert b'"schema": "1.0"' in data
    assert Inventory.model_validate_json(data) == inventory


@pytest.mark.parametrize(
    ("siren", "valid"),
    [
        ("213105554", True),  # Toulouse
        ("217500016", True),  # Paris
        ("213105555", False),  # wrong key
        ("21310555", False),  # 8 digits
        ("2131055540", False),  # 10 digits
        ("21310555A", False),
        ("２１３１０５５５４", False),  # full-width digits are not ASCII
    ],
)
def test_siren_luhn_key(siren: str, valid: bool) -> None:
    assert siren_is_valid(siren) is valid


def test_organisation_rejects_bad_siren() -> None:
    with pytest.raises(ValidationError, match="Luhn"):
        Organisation(name="X", siren="213105555")


def test_timestamps_must_carry_a_zone_and_are_stored_in_utc() -> None:
    data = json.loads(_inventory().to_json())
    data["started_at"] = "2026-11-28T10:00:00+01:00"
    assert Inventory.model_validate(data).started_at == datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert Inventory.model_validate(data).started_at.utcoffset() == timedelta(0)
    data["started_at"] = "2026-11-28T10:00:00"
    with pytest.raises(ValidationError, match="time zone"):
        Inventory.model_validate(data)


def test_unknown_fields_and_wrong_schema_version_are_refused() -> None:
    data = json.loads(_inventory().to_json())
    with pytest.raises(ValidationError, match="schema"):
        Inventory.model_validate({**data, "schema": "9.9"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        Inventory.model_validate({**data, "surprise": 1})


def test_inventory_id_is_a_uuid() -> None:
    data = json.loads(_inventory().to_json())
    assert uuid.UUID(data["id"])
    with pytest.raises(ValidationError):
        Inventory.model_validate({**data, "id": "not-a-uuid"})


def test_observation_id_is_stable_and_content_derived() -> None:
    a = Observation.make("dns", "dns.mx", "exemple.fr", "mx1.mail.ovh.net")
    b = Observation.make("dns", "dns.mx", "exemple.fr", "mx1.mail.ovh.net", {"pref": 1})
    c = Observation.make("dns", "dns.mx", "exemple.fr", "mx2.mail.ovh.net")
    assert a.id == b.id != c.id


def test_hostile_values_survive_serialisation() -> None:
    hostile = "<script>alert(1)</script>' OR 1=1; --\x00\x1b[31m" + "A" * 65536 + "\udcff"
    obs = Observation.make("dns", "dns.txt", "exemple.fr", hostile, {"raw": hostile})
    text = obs.model_dump_json()
    back = Observation.model_validate_json(text)
    assert back.value.startswith("<script>alert(1)</script>' OR 1=1; --\x00\x1b[31m")
    assert len(back.value) == len(hostile)
    assert back.value.endswith("\ufffd")  # the lone surrogate became U+FFFD, the rest intact
    assert back.attributes["raw"] == back.value


def test_committed_schema_matches_the_models(repo: Path) -> None:
    committed = (repo / "docs" / "inventory.schema.json").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/inventory.schema.json is stale: "
        "run `python -m inventory.schema > docs/inventory.schema.json`"
    )


def test_contract_imports_no_other_part(repo: Path) -> None:
    for module in (repo / "inventory").glob("*.py"):
        text = module.read_text(encoding="utf-8")
        for other in ("agent", "probes", "fingerprints", "server"):
            assert f"from {other}" not in text and f"import {other}" not in text, module


def test_json_input_cannot_carry_a_lone_surrogate() -> None:
    # Cleaning runs on Python input only: JSON input with a lone surrogate is refused whole,
    # so nothing unencodable can reach storage either way.
    text = _inventory().to_json().replace('"value": "debian"', '"value": "deb\\udcffian"')
    assert "\\udcff" in text
    with pytest.raises(ValidationError, match="surrogate"):
        Inventory.model_validate_json(text)
    clean = Observation.make("system", "os", "poste", "deb\udcffian")
    assert (
        Inventory.model_validate_json(
            _inventory().model_copy(update={"observations": [clean]}).to_json()
        )
        .observations[0]
        .value
        == "deb\ufffdian"
    )
