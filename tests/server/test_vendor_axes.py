"""The finding panel of the server shows both axes of jurisdiction (where the vendor is registered,
who controls it) and, for a distribution's build of a US firm's software, who develops it."""

from __future__ import annotations

import datetime
import html
import re
import uuid
from datetime import UTC
from typing import Any

from pydantic import JsonValue

from fingerprints.engine import analyse, default_engine, finding_id
from inventory import Agent, Inventory, Observation, Organisation

HOST = "127.0.0.1"


def _text(page: str) -> str:
    """The page as text, tags dropped, so assertions read like what people see."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_inventory_and_finding_pages_show_registration_control_and_developer(api: Any) -> None:
    debian: dict[str, JsonValue] = {
        "source": "dpkg",
        "publisher": "Debian Nginx Maintainers <x@lists.debian.org>",
    }
    observations = [Observation.make("host", "package", HOST, "nginx", debian)]
    findings = [
        *analyse(observations).findings,
        default_engine().describe("cegid-xrp-flex", HOST),
    ]
    now = datetime.datetime.now(UTC)
    inventory = Inventory(
        id=uuid.uuid4(),
        organisation=Organisation(name=api.a.name, siren=api.a.siren),
        agent=Agent(version="0.1.0", hostname="agent"),
        started_at=now,
        finished_at=now,
        observations=observations,
        findings=findings,
    )
    answer = api.send(inventory, api.a.token)
    assert answer.status_code in (200, 201), answer.text
    client = api.session(api.a.reviewer)

    page = client.get(f"/inventaires/{inventory.id}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Immatriculé en France (FR) Contrôlé par Silver Lake, États-Unis (US)" in text
    assert "Immatriculé en États-Unis (US) Contrôlé par lui-même, sans société au-dessus" in text
    assert "Développé par F5, États-Unis (US)" in text
    assert "distribué par Debian : la dépendance est au projet, pas à un contrat" in text
    assert "Cegid : immatriculé en France (FR), contrôlé par Silver Lake (États-Unis, US)" in text

    cegid = client.get(f"/inventaires/{inventory.id}/constats/{finding_id('cegid-xrp-flex', HOST)}")
    assert cegid.status_code == 200
    text = _text(cegid.text)
    assert "Immatriculé en France (FR) Contrôlé par Silver Lake, États-Unis (US)" in text
    assert "Développé par" not in text  # proprietary: no developer line
