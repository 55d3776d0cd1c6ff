"""A directory's counts, from the probe's observations to what reviewers and dashboards read:
enabled accounts multiply a per-user price, machines per release show on their finding with the
end of support."""

from __future__ import annotations

import datetime
import html
import uuid
from datetime import UTC
from typing import Any

from sqlalchemy import select

from fingerprints.engine import analyse, finding_id
from inventory import Agent, Inventory, Observation, Organisation
from inventory.channels import Channel
from server import auth, db, review
from server.admin import Role

DC = "dc1.commune.test"
DOMAIN = "commune.test"


def _admin(api: Any) -> auth.User:
    with api.engine.connect() as connection:
        row = connection.execute(select(db.users).where(db.users.c.username == "admin")).one()
    return auth.User(row.id, row.username, Role(row.role), None)


def _observations() -> list[Observation]:
    def directory(channel: Channel, value: str, **attributes: Any) -> Observation:
        return Observation.make("directory", channel, DC, value, attributes)

    return [
        directory(Channel.LDAP_CAPABILITY, "1.2.840.113556.1.4.2237"),
        directory(Channel.LDAP_COUNT, "users", count=212, disabled=9),
        directory(Channel.LDAP_COUNT, "groups", count=40),
        directory(Channel.LDAP_OS, "Windows 11 Pro 10.0 (22631)", count=180),
        directory(Channel.LDAP_OS, "Windows 10 Pro 10.0 (19045)", count=31),
        directory(Channel.LDAP_OS, "Windows Server 2019 Standard 10.0 (17763)", count=6),
        Observation.make("dns", "dns.mx", DOMAIN, "commune-test.mail.protection.outlook.com"),
    ]


def test_directory_counts_reach_the_finding_page_and_the_licence_estimate(api: Any) -> None:
    observations = _observations()
    analysis = analyse(observations, today=datetime.date(2026, 11, 29))
    now = datetime.datetime.now(UTC)
    inventory = Inventory(
        id=uuid.uuid4(),
        organisation=Organisation(name=api.a.name, siren=api.a.siren),
        agent=Agent(version="0.1.0", hostname="agent"),
        started_at=now,
        finished_at=now,
        observations=observations,
        findings=analysis.findings,
        unidentified=analysis.unidentified,
    )
    answer = api.send(inventory, api.a.token)
    assert answer.status_code in (200, 201), answer.text
    client = api.session(api.a.reviewer)

    directory = client.get(
        f"/inventaires/{inventory.id}/constats/{finding_id('active-directory', DC)}"
    )
    assert directory.status_code == 200
    text = html.unescape(directory.text)
    assert "Comptes actifs (annuaire)" in text and ">212<" in text

    windows = client.get(
        f"/inventaires/{inventory.id}/constats/{finding_id('microsoft-windows', DC)}"
    )
    text = html.unescape(windows.text)
    # Windows 10 22H2 (October 2025) and 11 23H2 Pro (November 2025) are both past support
    assert '<dt>Postes</dt><dd class="num">211,' in text and "211 hors support" in text
    assert "Windows 10 Pro 10.0 (19045)" in text and "terminé" in text

    assert review.validate(api.engine, _admin(api), str(inventory.id))
    page = html.unescape(client.get(f"/organisations/{api.a.id}").text)
    # Microsoft 365's reference price per user × the directory's enabled accounts
    assert "× 212 (comptes actifs de l'annuaire)" in page
