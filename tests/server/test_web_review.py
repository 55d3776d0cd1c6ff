"""The review pages end to end: headless Chromium against a real `tiebreak server run`.

Inventories are real ones: observations as the probes write them (an MX record, packages of a
workstation, an in-house package no matcher knows), identified by `fingerprints.engine.analyse`,
sent with the agent's token over the API or uploaded through /televersement. Every assertion is
about what a person sees in the browser. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import Engine, func, select

from fingerprints.engine import analyse, finding_id
from inventory import Agent, Inventory, Observation, Organisation, Summary
from server import admin, db
from server.review import block_id

pytestmark = [pytest.mark.service, pytest.mark.slow]

PASSWORD = "correct horse battery staple"
COMMUNE = "Commune de Kerbriant-sur-Test"
COMMUNE_SIREN = "213105554"
INTERCO = "Communauté de communes du Val-Test"
INTERCO_SIREN = "200046977"
REVIEWER = "claire.martin"
ADMIN = "admin.dsi"
HOST = "srv-mairie-01"
WORKSTATION = "poste-accueil"
DOMAIN = "kerbriant.fr"
IN_HOUSE = "etatcivil-client-maison 4.2"

# Keys of the findings the engine makes of the commune's observations (product + locus).
EXCHANGE = finding_id("exchange-online", DOMAIN)
M365 = finding_id("microsoft-365", DOMAIN)
ENTRA = finding_id("entra-id", DOMAIN)
FIREFOX = finding_id("firefox", WORKSTATION)
ANYDESK = finding_id("anydesk", WORKSTATION)
LIBREOFFICE = finding_id("libreoffice", WORKSTATION)
SEVEN_ZIP = finding_id("7-zip", WORKSTATION)


def _helpers() -> Any:
    """tests/server/browser.py, loaded by conftest.py (tests are not a package)."""
    return sys.modules["tiebreak_test_browser"]


def commune_observations(*, firefox: bool = True, seven_zip: bool = False) -> list[Observation]:
    """What the agent of the commune sees: Microsoft 365 mail, a workstation, an in-house tool."""
    packages = ["libreoffice", "anydesk"]
    packages += ["firefox"] if firefox else []
    packages += ["7zip"] if seven_zip else []
    return [
        Observation.make("dns", "dns.mx", DOMAIN, "kerbriant-fr.mail.protection.outlook.com"),
        *(Observation.make("system", "package", WORKSTATION, name) for name in packages),
        Observation.make("system", "package", WORKSTATION, IN_HOUSE),
    ]


def inventory_of(
    name: str, siren: str, hostname: str, observations: list[Observation]
) -> Inventory:
    """A draft inventory as `tiebreak scan` writes it, findings from the real engine."""
    analysis = analyse(observations)
    now = datetime.now(UTC)
    return Inventory(
        id=uuid.uuid4(),
        organisation=Organisation(name=name, siren=siren),
        agent=Agent(version="0.1.0", hostname=hostname),
        started_at=now,
        finished_at=now,
        observations=observations,
        findings=analysis.findings,
        unidentified=analysis.unidentified,
        summary=Summary(
            observations=len(observations),
            findings=len(analysis.findings),
            unidentified=len(analysis.unidentified),
        ),
    )


@dataclass
class Site:
    """A real server with two organisations, a reviewer of the commune and an administrator."""

    url: str
    engine: Engine
    commune: int
    commune_token: str
    interco: int
    interco_token: str

    def send(self, inventory: Inventory, token: str) -> str:
        """POST the inventory with the agent's token; the stored inventory's id."""
        return str(_helpers().post_inventory(self.url, inventory, token))

    def stored(self) -> int:
        """How many inventories the database holds."""
        with self.engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(db.inventories)) or 0)


@pytest.fixture
def site(engine: Engine, server_process: Any) -> Site:
    """The server, started on the test's database after its organisations and people."""
    commune, commune_token = admin.create_organisation(engine, COMMUNE, COMMUNE_SIREN)
    interco, interco_token = admin.create_organisation(engine, INTERCO, INTERCO_SIREN)
    admin.create_user(engine, REVIEWER, PASSWORD, admin.Role.REVIEWER, [str(commune)])
    admin.create_user(engine, ADMIN, PASSWORD, admin.Role.ADMIN, [])
    server_process.start()
    return Site(server_process.url, engine, commune, commune_token, interco, interco_token)


@pytest.fixture
def page(chromium: Browser, site: Site) -> Iterator[Page]:
    """A French reader's tab on the server, with no cookie yet."""
    context = _helpers().context(chromium, site.url)
    try:
        yield context.new_page()
    finally:
        context.close()


def block(page: Page, key: str) -> Locator:
    """A finding's block on the inventory page, opened."""
    found = page.locator(f"#{block_id(key)}")
    if found.get_attribute("open") is None:
        found.locator("summary").click()
    return found


def submit(page: Page, button: Locator) -> None:
    """Click a form's button and wait for the page that answers."""
    with page.expect_navigation():
        button.click()


def queue_row(page: Page, organisation: str) -> list[str]:
    """The cells of the queue's row of an organisation."""
    row = page.locator("tbody tr").filter(has_text=organisation)
    expect(row).to_have_count(1)
    return [cell.strip() for cell in row.locator("td").all_inner_texts()]


def test_sign_in_then_the_queue_lists_and_filters_drafts_in_french_or_english(
    site: Site, page: Page
) -> None:
    commune_id = site.send(
        inventory_of(COMMUNE, COMMUNE_SIREN, HOST, commune_observations()), site.commune_token
    )
    interco_observations = [
        Observation.make("dns", "dns.mx", "valtest.fr", "valtest-fr.mail.protection.outlook.com")
    ]
    site.send(
        inventory_of(INTERCO, INTERCO_SIREN, "poste-dgs", interco_observations),
        site.interco_token,
    )

    page.goto("/revue")
    assert "/connexion" in page.url  # the queue needs a signed-in person
    page.fill("#username", ADMIN)
    page.fill("#password", "mauvais mot de passe")
    submit(page, page.get_by_role("button", name="Se connecter"))
    expect(page.locator("#login-problem")).to_have_text(
        "nom d'utilisateur ou mot de passe incorrect"
    )
    expect(page.locator("#username")).to_have_value(ADMIN)
    page.fill("#password", PASSWORD)
    submit(page, page.get_by_role("button", name="Se connecter"))
    assert page.url == f"{site.url}/revue"
    expect(page.locator("h1")).to_have_text("Inventaires à relire")

    expect(page.locator("tbody tr")).to_have_count(2)
    cells = queue_row(page, COMMUNE)
    assert [cells[0], *cells[2:]] == [COMMUNE, HOST, "6", "6", "brouillon"]
    assert queue_row(page, INTERCO)[2:5] == ["poste-dgs", "3", "3"]
    link = page.get_by_role("link", name=COMMUNE)
    assert link.get_attribute("href") == f"/inventaires/{commune_id}"

    page.select_option("#f-organisation", str(site.commune))
    submit(page, page.get_by_role("button", name="Filtrer"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text(COMMUNE)
    expect(page.locator("main")).to_contain_text("1 inventaire(s)")

    page.select_option("#f-statut", "validated")
    submit(page, page.get_by_role("button", name="Filtrer"))
    expect(page.locator("tbody tr")).to_have_count(0)
    expect(page.locator(".empty")).to_have_text("Aucun inventaire ne correspond à ces filtres.")

    page.select_option("#f-organisation", str(site.interco))
    page.select_option("#f-statut", "draft")
    submit(page, page.get_by_role("button", name="Filtrer"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text(INTERCO)
    expect(page.locator("tbody")).not_to_contain_text(COMMUNE)

    # The language switch: English, on the same page with the same filters, then back.
    submit(page, page.get_by_role("button", name="English"))
    expect(page.locator("h1")).to_have_text("Review queue")
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("thead")).to_contain_text("To decide")
    expect(page.locator("main")).to_contain_text("1 inventory(ies)")
    expect(page.locator("tbody")).to_contain_text(INTERCO)
    expect(page.locator(".st-draft")).to_have_text("draft")
    page.goto(f"/inventaires/{commune_id}")
    expect(page.get_by_role("button", name="Validate the inventory")).to_be_visible()
    expect(page.locator(".summary")).to_contain_text("to decide")
    submit(page, page.get_by_role("button", name="Français"))
    assert page.url == f"{site.url}/inventaires/{commune_id}"
    expect(page.get_by_role("button", name="Valider l'inventaire")).to_be_visible()
    page.goto("/revue")
    expect(page.locator("h1")).to_have_text("Inventaires à relire")
    assert page.locator("html").get_attribute("lang") == "fr"


def test_review_validate_and_the_next_draft_keeps_the_decisions(site: Site, page: Page) -> None:
    first = inventory_of(COMMUNE, COMMUNE_SIREN, HOST, commune_observations())
    assert {f.id for f in first.findings} == {EXCHANGE, M365, ENTRA, FIREFOX, ANYDESK, LIBREOFFICE}
    assert len(first.unidentified) == 1
    unidentified = first.unidentified[0]
    first_id = site.send(first, site.commune_token)
    _helpers().sign_in(page, REVIEWER, PASSWORD)
    page.goto(f"/inventaires/{first_id}")
    expect(page.locator("h1")).to_have_text(COMMUNE)
    expect(page.locator("#count-pending")).to_have_text("6")

    # Confirm Exchange Online from the inventory page.
    submit(page, block(page, EXCHANGE).get_by_role("button", name="Confirmer"))
    expect(page.locator(".notice")).to_have_text("Décision enregistrée.")
    expect(page.locator(f"#{block_id(EXCHANGE)} summary .s-confirmed")).to_have_text("confirmé")
    expect(page.locator("#count-pending")).to_have_text("5")

    # Reject AnyDesk: without a reason, the message stands beside the field and nothing is lost.
    submit(page, block(page, ANYDESK).get_by_role("button", name="Rejeter (faux positif)"))
    anydesk = page.locator(f"#{block_id(ANYDESK)}")
    expect(anydesk).to_have_attribute("open", "")
    expect(anydesk.locator(".field-problem")).to_have_text(
        "indiquez pourquoi c'est un faux positif"
    )
    expect(anydesk.locator("input[name=reason]")).to_have_attribute("aria-invalid", "true")
    expect(anydesk.locator("summary .s-pending")).to_have_text("à décider")
    expect(page.locator(f"#{block_id(EXCHANGE)} summary .s-confirmed")).to_have_text("confirmé")
    expect(page.locator("#count-pending")).to_have_text("5")
    reason = "paquet résiduel : AnyDesk désinstallé en 2023, plus aucun accès distant"
    anydesk.locator("input[name=reason]").fill(reason)
    submit(page, anydesk.get_by_role("button", name="Rejeter (faux positif)"))
    anydesk = block(page, ANYDESK)
    expect(anydesk.locator("summary .s-rejected")).to_have_text("faux positif")
    expect(anydesk.locator(".facts")).to_contain_text(reason)
    expect(page.locator("#count-pending")).to_have_text("4")

    for key in (ENTRA, FIREFOX, M365):
        submit(page, block(page, key).get_by_role("button", name="Confirmer"))
    expect(page.locator("#count-pending")).to_have_text("1")

    # Microsoft 365's cost and licences on its finding page; "douze" is not an amount.
    submit(page, block(page, M365).get_by_role("link", name="Corriger, compléter, historique…"))
    assert page.url.endswith(f"/inventaires/{first_id}/constats/{M365}")
    expect(page.locator("h1")).to_contain_text("Microsoft 365")
    expect(page.locator("input[name=status][value=confirmed]")).to_be_checked()
    page.fill("#annual_cost_eur", "douze")
    page.fill("#licences", "85")
    page.select_option("#criticality", "high")
    page.fill("#note", "marché UGAP 2024-2027")
    submit(page, page.get_by_role("button", name="Enregistrer"))
    expect(page.locator("#err-annual_cost_eur")).to_contain_text(
        "« douze » n'est pas un montant : saisissez un nombre d'euros"
    )
    expect(page.locator("#annual_cost_eur")).to_have_attribute(
        "aria-describedby", "err-annual_cost_eur"
    )
    expect(page.locator("#annual_cost_eur")).to_have_value("douze")
    expect(page.locator("#licences")).to_have_value("85")
    expect(page.locator("#criticality")).to_have_value("high")
    expect(page.locator("#note")).to_have_value("marché UGAP 2024-2027")
    expect(page.locator("input[name=status][value=confirmed]")).to_be_checked()
    page.fill("#annual_cost_eur", "1 200,50")
    submit(page, page.get_by_role("button", name="Enregistrer"))
    expect(page.locator(".notice")).to_have_text("Décision enregistrée.")
    facts = block(page, M365).locator(".facts")
    expect(facts).to_contain_text("1\u202f200,50 €")
    expect(facts).to_contain_text("85")
    expect(facts).to_contain_text("haute")
    expect(facts).to_contain_text("marché UGAP 2024-2027")
    # A decided finding has no quick buttons left; saving the same form again changes nothing.
    expect(block(page, M365).get_by_role("button", name="Confirmer")).to_have_count(0)
    page.goto(f"/inventaires/{first_id}/constats/{M365}")
    submit(page, page.get_by_role("button", name="Enregistrer"))
    expect(page.locator(".notice")).to_have_text("Déjà enregistré : rien n'a changé.")
    expect(block(page, M365).locator(".facts")).to_contain_text("1\u202f200,50 €")

    # The finding page keeps who decided what, before and after.
    page.goto(f"/inventaires/{first_id}/constats/{M365}")
    history = page.locator("table.history tbody tr")
    expect(history).to_have_count(2)
    latest = history.nth(0).locator("td").all_inner_texts()
    earliest = history.nth(1).locator("td").all_inner_texts()
    assert latest[1] == earliest[1] == REVIEWER
    assert earliest[2] == "—"
    assert json.loads(earliest[3])["status"] == "confirmed"
    before, after = json.loads(latest[2]), json.loads(latest[3])
    assert (before["annual_cost_eur"], before["licences"]) == (None, None)
    assert (after["annual_cost_eur"], after["licences"], after["status"]) == (
        1200.5,
        85,
        "confirmed",
    )
    expect(page.locator("#annual_cost_eur")).to_have_value("1200.50")

    # LibreOffice was in fact ONLYOFFICE: corrected on its finding page.
    page.goto(f"/inventaires/{first_id}/constats/{LIBREOFFICE}")
    expect(page.locator("table.history")).to_have_count(0)
    page.get_by_label("un autre produit (corriger)").check()
    page.fill("#product", "onlyoffice-desktop-editors")
    submit(page, page.get_by_role("button", name="Enregistrer"))
    expect(block(page, LIBREOFFICE).locator("summary .name")).to_have_text(
        "ONLYOFFICE Desktop Editors"
    )
    page.goto(f"/inventaires/{first_id}/constats/{LIBREOFFICE}")
    expect(page.locator("h1")).to_contain_text("ONLYOFFICE Desktop Editors")
    expect(page.locator("h1 .s-corrected")).to_have_text("corrigé")
    expect(page.locator(".facts")).to_contain_text("LibreOffice — The Document Foundation")
    row = page.locator("table.history tbody tr")
    expect(row).to_have_count(1)
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == REVIEWER
    assert json.loads(cells[3])["product"] == "onlyoffice-desktop-editors"

    # Products no scan saw: one from the catalog, one by free entry.
    page.goto(f"/inventaires/{first_id}")
    page.fill("#add-product", "ciril-civil-net-finances")
    submit(page, page.get_by_role("button", name="Ajouter", exact=True))
    expect(page.locator(".notice")).to_have_text("Produit ajouté.")
    added = page.locator(f"#{block_id('add:ciril-civil-net-finances')}")
    expect(added.locator("summary")).to_contain_text("Civil Net Finances")
    expect(added.locator("summary .manual")).to_have_text("ajouté à la main")
    page.fill("#add-name", "Menus & Cantine")
    page.fill("#add-vendor", "Restauration Logiciels SARL")
    page.fill("#add-country", "fr")
    page.select_option("#add-category", "logiciel")
    page.fill("#add-annual_cost_eur", "3 400")
    submit(page, page.get_by_role("button", name="Ajouter", exact=True))
    expect(page.locator(".notice")).to_have_text("Produit ajouté.")
    free = block(page, "add:restauration-logiciels-sarl-menus-cantine")
    expect(free.locator("summary .name")).to_have_text("Menus & Cantine")
    expect(free.locator(".facts")).to_contain_text("Restauration Logiciels SARL")
    expect(free.locator(".facts .registered")).to_have_text("France (FR)")
    expect(free.locator(".facts")).to_contain_text("3\u202f400,00 €")

    # The in-house package no matcher knows, classified as e.magnus.
    observation = page.locator(f"#{block_id('obs:' + unidentified)}")
    expect(observation).to_contain_text(IN_HOUSE)
    observation.locator("input[name=product]").fill("berger-levrault-e-magnus")
    submit(page, observation.get_by_role("button", name="Classer"))
    expect(page.locator(".notice")).to_have_text("Observation classée.")
    expect(page.locator("ul.unidentified li")).to_have_count(0)
    classified = block(page, "obs:" + unidentified)
    expect(classified.locator("summary .name")).to_contain_text("e.magnus")
    expect(classified.locator("summary .manual")).to_have_text("classé à la main")
    expect(classified.locator(".evidence")).to_contain_text(IN_HOUSE)
    expect(page.locator("#count-pending")).to_have_text("0")
    expect(page.locator("#count-findings")).to_have_text("9")

    submit(page, page.get_by_role("button", name="Valider l'inventaire"))
    expect(page.locator(".notice")).to_contain_text("Inventaire validé")
    expect(page.locator(".meta .st-validated")).to_have_text("validé")
    expect(page.locator(".meta")).to_contain_text(f"par {REVIEWER}")
    expect(page.get_by_role("button", name="Valider l'inventaire")).to_be_disabled()
    page.goto("/revue")
    expect(page.locator("tbody tr")).to_have_count(0)
    page.goto("/revue?statut=validated")
    assert queue_row(page, COMMUNE)[5] == "validé"

    # The next scan: Firefox is gone, 7-Zip is new, everything else was decided before.
    second = inventory_of(
        COMMUNE, COMMUNE_SIREN, HOST, commune_observations(firefox=False, seven_zip=True)
    )
    assert {f.id for f in second.findings} == {
        EXCHANGE,
        M365,
        ENTRA,
        ANYDESK,
        LIBREOFFICE,
        SEVEN_ZIP,
    }
    second_id = site.send(second, site.commune_token)
    page.goto("/revue")
    assert queue_row(page, COMMUNE)[3:5] == ["6", "1"]
    page.goto(f"/inventaires/{second_id}")
    expect(page.locator("#count-pending")).to_have_text("1")
    expect(page.locator("#count-new")).to_have_text("1")
    expect(page.locator("#count-gone")).to_have_text("1")
    expect(page.locator("#gone-list li")).to_have_text(
        ["Mozilla Firefox — Mozilla (poste-accueil)"]
    )
    seven_zip = page.locator(f"#{block_id(SEVEN_ZIP)} summary")
    expect(seven_zip.locator(".new")).to_have_text("nouveau")
    expect(seven_zip.locator(".s-pending")).to_have_text("à décider")
    expect(page.locator("summary .new")).to_have_count(1)
    for key, state in (
        (EXCHANGE, "confirmé"),
        (ENTRA, "confirmé"),
        (M365, "confirmé"),
        (ANYDESK, "faux positif"),
        (LIBREOFFICE, "corrigé"),
        ("obs:" + unidentified, "confirmé"),
        ("add:ciril-civil-net-finances", "confirmé"),
    ):
        summary = page.locator(f"#{block_id(key)} summary")
        expect(summary.locator(".carried")).to_have_text("décision antérieure")
        expect(summary.locator(".badge[class*=' s-']")).to_have_text(state)
    expect(page.locator(f"#{block_id(LIBREOFFICE)} summary .name")).to_have_text(
        "ONLYOFFICE Desktop Editors"
    )
    expect(block(page, M365).locator(".facts")).to_contain_text("1\u202f200,50 €")
    expect(block(page, ANYDESK).locator(".facts")).to_contain_text(reason)
    expect(page.locator("ul.unidentified li")).to_have_count(0)


def test_upload_an_inventory_file_once_and_refuse_what_is_not_one(
    site: Site, page: Page, tmp_path: Path
) -> None:
    inventory = inventory_of(COMMUNE, COMMUNE_SIREN, "poste-sans-reseau", commune_observations())
    scanned = tmp_path / "inventaire-kerbriant.json"
    scanned.write_text(inventory.to_json())
    not_inventory = tmp_path / "compte-rendu.json"
    not_inventory.write_text(json.dumps({"conseil": "compte rendu du 12 mars", "points": 4}))

    _helpers().sign_in(page, REVIEWER, PASSWORD, next_path="/televersement")
    assert page.url == f"{site.url}/televersement"
    for attempt in range(2):
        page.goto("/televersement")
        page.select_option("#organisation", str(site.commune))
        page.set_input_files("#inventaire", str(scanned))
        submit(page, page.get_by_role("button", name="Téléverser", exact=True))
        assert page.url == f"{site.url}/inventaires/{inventory.id}?fait=televerse", attempt
        expect(page.locator(".notice")).to_have_text("Inventaire téléversé.")
        expect(page.locator("h1")).to_have_text(COMMUNE)
        expect(page.locator(".meta")).to_contain_text("poste-sans-reseau")
        expect(page.locator(".meta")).to_contain_text("(téléversé)")
        expect(page.locator("#count-findings")).to_have_text("6")
    assert site.stored() == 1
    page.goto("/revue")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("main")).to_contain_text("1 inventaire(s)")

    page.goto("/televersement")
    page.select_option("#organisation", str(site.commune))
    page.set_input_files("#inventaire", str(not_inventory))
    submit(page, page.get_by_role("button", name="Téléverser", exact=True))
    assert page.url == f"{site.url}/televersement"
    problem = page.locator("#err-inventaire")
    expect(problem).to_contain_text("ce fichier n'est pas un inventaire tiebreak")
    expect(page.locator("#inventaire")).to_have_attribute("aria-describedby", "err-inventaire")
    expect(page.locator("#organisation")).to_have_value(str(site.commune))
    assert re.search(r"inventaire invalide", problem.inner_text())
    assert site.stored() == 1
