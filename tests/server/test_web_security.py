"""Security of the web pages (issue 9): autoescaping, the Content-Security-Policy, the anti-forgery
token of every form, isolation between organisations on every page and download, expired
sessions, viewers, and the offline API documentation.

Agents send banners, DNS values and package names: everything in an inventory is
attacker-controlled. The browser tests open the pages in a real headless Chromium against a real
`tiebreak server run`; the route walks come from the application itself, so that a page added
later is checked the day it is added.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, FilePayload, Page
from sqlalchemy import Engine, func, select, update

from fingerprints.catalog import default_catalog
from inventory import (
    Agent,
    Factor,
    Finding,
    Inventory,
    Observation,
    Organisation,
    ProbeRun,
    Score,
)
from server import admin, db
from server.admin import Role

PASSWORD = "un mot de passe assez long pour les tests"

# --- Hostile strings ----------------------------------------------------------------------------

P_SCRIPT = "<script>window.__pwned=1</script>"
P_IMG = '<img src=x onerror="window.__pwned=1">'
P_SVG = '"><svg onload=window.__pwned=1>'
P_JS = "javascript:window.__pwned=1"
P_TEMPLATE = "{{7*7}}"
P_RAW = "{% raw %}{{ config }}{% endraw %}"
RTL = "\u202e"
LONG = "Z" * 20_000

ORG_NAME = f"Commune {P_SCRIPT} {P_TEMPLATE} {P_RAW}"
HOSTNAME = f"poste-{P_IMG}-{RTL}exe.txt"
EVIDENCE_LOCUS = f"hôte {P_SVG}"
EVIDENCE_VALUE = f"paquet {P_SCRIPT} {P_TEMPLATE}"
UNIDENTIFIED_LOCUS = f"{P_RAW} {RTL}rf.elpmexe"
UNIDENTIFIED_VALUE = f"{P_IMG} {P_JS}"
LONG_VALUE = LONG + P_SVG
FINDING_KEY = f"{P_JS};{P_SVG}"  # no "/": the key is one segment of the finding's address
PRODUCT_NAME = f"Produit {P_SCRIPT} {RTL}fdp.exe"
VENDOR_NAME = f"Éditeur {P_IMG}"
FINDING_LOCUS = f"{P_SVG} {P_RAW}"
FINDING_VERSION = f"{P_TEMPLATE}{RTL}"
DOMAIN = f"domaine {P_TEMPLATE}"
EXPOSURE = f"exposition {P_JS}"
ALTERNATIVE = f"alternative {P_IMG}"
SCORE_REASON = f"raison du score {P_IMG} {P_JS}"
REASON = f"raison {P_SCRIPT} {P_TEMPLATE}"
NOTE = f"note {P_IMG} {P_SVG}"

# What a payload would leave in the page if it were not escaped (name: CSS selector).
INJECTED = {
    "inline script": "script:not([src])",
    "img src=x": "img[src='x']",
    "svg": "svg",
    "onload attribute": "[onload]",
    "onerror attribute": "[onerror]",
    "javascript: URL": (
        "[href^='javascript:' i], [src^='javascript:' i], [action^='javascript:' i], "
        "[formaction^='javascript:' i]"
    ),
}

FORGED_TEXT = "formulaire périmé ou envoyé depuis un autre site"

# --- Shared helpers -----------------------------------------------------------------------------

CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf" value="([^"]*)">')


def assert_strict_csp(header: str | None, where: str) -> None:
    """A Content-Security-Policy whose scripts come only from the site itself, no inline."""
    assert header, f"{where}: no Content-Security-Policy"
    directives = {
        parts[0].lower(): parts[1:]
        for parts in (item.split() for item in header.split(";"))
        if parts
    }
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts, f"{where}: the CSP does not restrict scripts: {header}"
    assert scripts == ["'self'"], f"{where}: script-src allows more than 'self': {scripts}"
    for name in ("script-src-elem", "script-src-attr"):
        assert "'unsafe-inline'" not in directives.get(name, []), f"{where}: {name} {header}"
    assert directives.get("object-src") == ["'none'"], f"{where}: {header}"
    assert directives.get("base-uri") == ["'none'"], f"{where}: {header}"
    assert directives.get("frame-ancestors") == ["'none'"], f"{where}: {header}"


@dataclass
class Person:
    """A TestClient signed in through the HTML sign-in form, with its forms' csrf token."""

    client: TestClient
    csrf: str
    username: str

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> Any:
        return self.client.post(path, data=data, **kwargs)


def new_client(app: Any) -> TestClient:
    """A client that shows redirects and server errors as answers."""
    return TestClient(app, follow_redirects=False, raise_server_exceptions=False)


def csrf_in(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, f"no csrf field in the page: {html[:300]}"
    return found.group(1)


def sign_in(app: Any, username: str, password: str, client: TestClient | None = None) -> Person:
    """Sign in with the HTML form: GET /connexion for the token and its cookie, then POST."""
    client = client or new_client(app)
    token = csrf_in(client.get("/connexion").text)
    answer = client.post(
        "/connexion",
        data={"csrf": token, "suivant": "/revue", "username": username, "password": password},
    )
    assert answer.status_code == 303, answer.text[:500]
    assert answer.headers["location"] == "/revue"
    page = client.get("/revue")
    assert page.status_code == 200
    return Person(client, csrf_in(page.text), username)


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as connection:
        found = connection.scalar(select(func.count()).select_from(table).where(*where))
    return int(found or 0)


def inventory_status(engine: Engine, inventory_id: Any) -> str | None:
    with engine.connect() as connection:
        status: str | None = connection.scalar(
            select(db.inventories.c.status).where(db.inventories.c.id == str(inventory_id))
        )
    return status


def web_routes(app: Any) -> list[tuple[str, str, APIRoute]]:
    """Every (method, path, route) of the pages: the app's routes outside /api/."""
    found: list[tuple[str, str, APIRoute]] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path_format
        if isinstance(route, APIRoute) and path and not path.startswith("/api/"):
            found.extend((method, path, route) for method in sorted(route.methods or ()))
    return found


def fill(path_format: str, values: dict[str, str]) -> str:
    """The path with its parameters filled in (unknown names get values["*"])."""
    return re.sub(
        r"\{(\w+)(?::\w+)?\}",
        lambda m: quote(values.get(m.group(1), values["*"]), safe=""),
        path_format,
    )


def a_catalog_product() -> str:
    return sorted(default_catalog().products)[0]


def plain_finding(number: int, evidence: list[str]) -> Finding:
    return Finding(
        id=f"f-{number:016x}",
        product="microsoft-exchange",
        product_name="Microsoft Exchange Server",
        vendor="microsoft",
        vendor_name="Microsoft",
        vendor_country="US",
        jurisdiction="non-eu",
        category="infrastructure",
        domain="messagerie",
        locus="mail.example.fr",
        version=f"15.{number}",
        confidence="strong",
        evidence=evidence,
    )


def plain_inventory(
    name: str, siren: str | None, hostname: str, numbers: range, unidentified: str
) -> tuple[Inventory, Observation]:
    """An inventory with findings `numbers` and one unidentified observation of that value."""
    now = datetime.now(UTC)
    seen = Observation.make("system", "package", "poste", "exchange-server 15.2")
    unknown = Observation.make("dns", "dns.txt", "example.fr", unidentified)
    inventory = Inventory(
        id=uuid.uuid4(),
        organisation=Organisation(name=name, siren=siren),
        agent=Agent(version="0.1.0", hostname=hostname),
        started_at=now,
        finished_at=now,
        observations=[seen, unknown],
        findings=[plain_finding(n, [seen.id]) for n in numbers],
        unidentified=[unknown.id],
    )
    return inventory, unknown


# --- The browser --------------------------------------------------------------------------------


RECORD_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  (window.__cspViolations = window.__cspViolations || []).push(
    event.violatedDirective + " " + event.blockedURI);
});
"""


def new_context(chromium: Browser) -> BrowserContext:
    """A fresh context (no cookies), in French like a French reader."""
    context = chromium.new_context(locale="fr-FR")
    context.set_default_timeout(15_000)
    context.add_init_script(RECORD_VIOLATIONS)
    return context


@dataclass
class Watched:
    """A page and what it did: dialogs, CSP violations, script errors, requests."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        recorded = self.page.evaluate("() => window.__cspViolations || []")
        return {
            "dialogs": self.dialogs,
            "CSP violations (console)": self.violations,
            "CSP violations (events)": list(recorded),
            "script errors": self.errors,
        }


def watch(context: BrowserContext) -> Watched:
    page = context.new_page()
    watched = Watched(page)

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            watched.violations.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    page.on("request", lambda request: watched.requests.append(request.url))
    return watched


def open_all_details(page: Page) -> None:
    closed = page.locator("details:not([open]) > summary")
    for _ in range(closed.count()):
        closed.first.click()
    assert page.locator("details:not([open])").count() == 0


def assert_inert(watched: Watched, shown: list[str], where: str) -> None:
    """Nothing of the payloads ran or became markup, and each one is displayed as text."""
    page = watched.page
    assert page.evaluate("() => typeof window.__pwned") == "undefined", where
    assert {name: page.locator(css).count() for name, css in INJECTED.items()} == dict.fromkeys(
        INJECTED, 0
    ), where
    assert watched.problems() == {
        "dialogs": [],
        "CSP violations (console)": [],
        "CSP violations (events)": [],
        "script errors": [],
    }, where
    text = page.inner_text("body")
    missing = [value[:80] for value in shown if value not in text]
    assert not missing, f"{where}: not shown literally: {missing}"


def browser_sign_in(watched: Watched, base: str, username: str) -> None:
    page = watched.page
    answer = page.goto(f"{base}/connexion")
    assert answer is not None
    assert_strict_csp(answer.headers.get("content-security-policy"), "/connexion")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert urlsplit(page.url).path == "/revue", page.url


def goto(watched: Watched, url: str) -> None:
    answer = watched.page.goto(url)
    assert answer is not None and answer.status == 200, (url, answer and answer.status)
    assert_strict_csp(answer.headers.get("content-security-policy"), url)


# --- 1. Hostile strings in Chromium ---------------------------------------------------------------


def hostile_inventory(name: str = ORG_NAME) -> Inventory:
    now = datetime.now(UTC)
    evidence = Observation.make("system", "package", EVIDENCE_LOCUS, EVIDENCE_VALUE, notes=[P_IMG])
    unknown = Observation.make("dns", "dns.txt", UNIDENTIFIED_LOCUS, UNIDENTIFIED_VALUE)
    long = Observation.make("system", "process", "poste", LONG_VALUE)
    hostile = Finding(
        id=FINDING_KEY,
        product="produit-hostile",
        product_name=PRODUCT_NAME,
        vendor="editeur-hostile",
        vendor_name=VENDOR_NAME,
        vendor_country="US",
        controller=P_SVG,
        jurisdiction="non-eu",
        exposures=[EXPOSURE],
        category="logiciel",
        domain=DOMAIN,
        locus=FINDING_LOCUS,
        version=FINDING_VERSION,
        confidence="weak",
        evidence=[evidence.id],
        alternatives=[ALTERNATIVE],
        score=Score(
            value=42,
            factors=[
                Factor(name="control", value=0.5, weight=1, contribution=0.5, reason=SCORE_REASON)
            ],
        ),
    )
    return Inventory(
        id=uuid.uuid4(),
        organisation=Organisation(name=name),
        agent=Agent(version="0.1.0", hostname=HOSTNAME),
        started_at=now,
        finished_at=now,
        probes=[ProbeRun(name="dns", status="failed", duration_s=1, error=P_SCRIPT, notes=[P_SVG])],
        observations=[evidence, unknown, long],
        findings=[hostile],
        unidentified=[unknown.id, long.id],
    )


FINDING_TEXTS = [PRODUCT_NAME, VENDOR_NAME, FINDING_LOCUS, FINDING_VERSION, EXPOSURE, P_SVG]
INVENTORY_TEXTS = [
    ORG_NAME,
    HOSTNAME,
    DOMAIN,
    *FINDING_TEXTS,
    ALTERNATIVE,
    SCORE_REASON,
    EVIDENCE_LOCUS,
    EVIDENCE_VALUE,
    UNIDENTIFIED_LOCUS,
    UNIDENTIFIED_VALUE,
    LONG_VALUE,
]


def upload(watched: Watched, base: str, organisation_id: int, data: bytes) -> int:
    page = watched.page
    goto(watched, f"{base}/televersement")
    page.select_option("#organisation", str(organisation_id))
    page.set_input_files(
        "#inventaire",
        files=FilePayload(name="inventaire.json", mimeType="application/json", buffer=data),
    )
    with page.expect_navigation() as navigation:
        page.click("form[action='/televersement'] button[type=submit]")
    answer = navigation.value
    assert answer is not None
    assert_strict_csp(answer.headers.get("content-security-policy"), "upload result")
    return answer.status


@pytest.mark.service
def test_hostile_strings_are_inert_and_shown_literally_in_chromium(
    engine: Engine, server_process: Any, chromium: Browser
) -> None:
    organisation_id, token = admin.create_organisation(engine, ORG_NAME)
    admin.create_user(engine, "relecteur", PASSWORD, Role.REVIEWER, [str(organisation_id)])
    server_process.start()
    base = server_process.url
    sent = hostile_inventory()
    answer = requests.post(
        f"{base}/api/v1/inventories",
        data=sent.to_json().encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text

    context = new_context(chromium)
    try:
        watched = watch(context)
        page = watched.page
        browser_sign_in(watched, base, "relecteur")

        # The queue.
        assert_inert(watched, [ORG_NAME, HOSTNAME], "queue")
        assert page.locator("h1").count() == 1

        # The inventory page, every <details> open.
        with page.expect_navigation():
            page.get_by_role("link", name=ORG_NAME).click()
        assert urlsplit(page.url).path == f"/inventaires/{sent.id}"
        open_all_details(page)
        assert page.inner_text("h1") == ORG_NAME  # {{7*7}} not 49, {% raw %} kept
        assert_inert(watched, INVENTORY_TEXTS, "inventory page")

        # The finding page, through its link.
        with page.expect_navigation():
            page.locator("a[href*='/constats/']").first.click()
        assert urlsplit(page.url).path.endswith("/constats/" + quote(FINDING_KEY, safe=""))
        assert page.inner_text("h1").startswith(PRODUCT_NAME)
        assert_inert(
            watched,
            [ORG_NAME, *FINDING_TEXTS, SCORE_REASON, ALTERNATIVE, EVIDENCE_VALUE],
            "finding page",
        )

        # A decision typed by a reviewer is shown back literally, too.
        page.check("input[name=status][value=rejected]")
        page.fill("#reason", REASON)
        page.fill("#note", NOTE)
        with page.expect_navigation() as navigation:
            page.click("section[aria-labelledby=h-decide] button[type=submit]")
        assert navigation.value is not None and navigation.value.status == 200
        assert "fait=decision" in page.url
        open_all_details(page)
        assert_inert(watched, [ORG_NAME, REASON, NOTE, "Décision enregistrée."], "after decision")
        goto(watched, f"{base}/inventaires/{sent.id}/constats/{quote(FINDING_KEY, safe='')}")
        assert page.input_value("#reason") == REASON
        assert page.input_value("#note") == NOTE
        assert_inert(watched, [REASON, NOTE], "finding page with its decision")
        assert page.locator("table.history tbody tr").count() == 1

        # Upload results: two refusals that quote the file, then a stored upload.
        other = hostile_inventory(f"Autre {P_IMG} {P_SVG}").to_json().encode()
        assert upload(watched, base, organisation_id, other) == 403
        assert_inert(watched, [f"Autre {P_IMG} {P_SVG}", ORG_NAME], "upload refused (organisation)")
        extra = sent.to_json()[:-1].rstrip() + f', "{P_SVG.replace(chr(34), "")}": 1}}'
        assert upload(watched, base, organisation_id, extra.encode()) == 422
        assert_inert(watched, [P_SVG.replace('"', "")], "upload refused (unknown field)")
        second = hostile_inventory()
        assert upload(watched, base, organisation_id, second.to_json().encode()) == 200
        assert urlsplit(page.url).path == f"/inventaires/{second.id}"
        open_all_details(page)
        assert_inert(watched, [*INVENTORY_TEXTS, "Inventaire téléversé."], "upload stored")

        # The control: the policy is enforced, and a violation would have been seen.
        page.evaluate(
            """() => { const d = document.createElement("div");
            d.innerHTML = '<img src="x" onerror="window.__pwned=1">';
            document.body.appendChild(d); }"""
        )
        page.wait_for_function("() => (window.__cspViolations || []).length > 0")
        page.wait_for_timeout(200)
        assert page.evaluate("() => typeof window.__pwned") == "undefined"
        assert watched.violations, "the browser's CSP reports are not being seen"
    finally:
        context.close()
    with engine.connect() as connection:
        stored = connection.scalar(
            select(db.decisions.c.reason).where(db.decisions.c.finding_key == FINDING_KEY)
        )
    assert stored == REASON


# --- 1b. The offline API documentation ----------------------------------------------------------


@pytest.mark.service
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_api_docs_render_offline_under_the_csp(server_process: Any, chromium: Browser) -> None:
    server_process.start()
    base = server_process.url
    context = new_context(chromium)
    try:
        watched = watch(context)
        page = watched.page
        answer = page.goto(f"{base}/api/v1/docs")
        assert answer is not None and answer.status == 200
        assert_strict_csp(answer.headers.get("content-security-policy"), "/api/v1/docs")
        page.wait_for_selector(".opblock, .version-pragma, .errors-wrapper")
        shown = page.inner_text("#swagger-ui")
        assert "/api/v1/inventories" in shown, shown[:500]
        assert page.locator(".opblock").count() >= 5
        # Open one operation: its schemas render too.
        page.locator(".opblock-summary").first.click()
        page.wait_for_selector(".opblock-body")
        page.wait_for_load_state("networkidle")
        foreign = [url for url in watched.requests if not url.startswith(base + "/")]
        assert not foreign, f"requests outside the server: {foreign}"
        assert f"{base}/static/swagger-ui/swagger-ui-bundle.js" in watched.requests
        assert f"{base}/api/v1/openapi.json" in watched.requests
        problems = watched.problems()
        assert problems == {
            "dialogs": [],
            "CSP violations (console)": [],
            "CSP violations (events)": [],
            "script errors": [],
        }, problems
    finally:
        context.close()


# --- 2. Isolation on every page and download ------------------------------------------------------

SKIPPED = {("POST", "/connexion"), ("POST", "/deconnexion")}  # no organisation data; own tests


def form_for(csrf: str, organisation_id: int) -> dict[str, str]:
    """A form that every page's POST would accept from someone allowed to send it."""
    return {
        "csrf": csrf,
        "depuis": "inventaire",
        "status": "rejected",
        "reason": "essai",
        "product": a_catalog_product(),
        "name": "Produit ajouté",
        "vendor": "Éditeur",
        "country": "FR",
        "category": "logiciel",
        "organisation": str(organisation_id),
        "username": "nouvel-utilisateur",
        "password": PASSWORD,
        "role": "reviewer",
    }


def test_no_page_or_download_shows_b_to_a(api: Any) -> None:
    b_inventory, b_unknown = plain_inventory(
        api.b.name, api.b.siren, "poste-b-secret", range(0xB00, 0xB02), "b-secret-observation"
    )
    a_inventory, _ = plain_inventory(
        api.a.name, api.a.siren, "poste-a", range(0xA00, 0xA02), "a-observation"
    )
    assert api.send(b_inventory, api.b.token).status_code == 201
    assert api.send(a_inventory, api.a.token).status_code == 201
    b_key = f"f-{0xB00:016x}"
    markers = [
        str(b_inventory.id),
        api.b.name,
        str(api.b.siren),
        "poste-b-secret",
        "b-secret-observation",
        b_key,
        b_unknown.id,
    ]
    values = {
        "inventory_id": str(b_inventory.id),
        "key": b_key,
        "observation_id": b_unknown.id,
        "organisation_id": str(api.b.id),
        "*": str(api.b.id),
    }
    b_file = b_inventory.to_json().encode()
    people = {
        "anonymous": Person(new_client(api.app), "", "anonymous"),
        "a-reviewer": sign_in(api.app, api.a.reviewer, api.password),
        "a-viewer": sign_in(api.app, api.a.viewer, api.password),
    }
    checked = set()
    for method, path_format, route in web_routes(api.app):
        if (method, path_format) in SKIPPED:
            continue
        path = fill(path_format, values)
        query = {
            p.name: str(api.b.id)
            for p in route.dependant.query_params
            if p.name in ("organisation", "organisation_id")
        }
        for who, person in people.items():
            where = f"{who} {method} {path}"
            if method == "POST":
                files = None
                if "televersement" in path_format:
                    files = {"inventaire": ("b.json", b_file, "application/json")}
                answer = person.client.post(
                    path, params=query, data=form_for(person.csrf, api.b.id), files=files
                )
            else:
                answer = person.client.request(method, path, params=query)
            assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text[:300]}"
            assert_strict_csp(answer.headers.get("content-security-policy"), where)
            body = answer.text + answer.headers.get("location", "")
            for echo in (quote(path, safe=""), quote(path, safe="/?=&"), path):
                body = body.replace(echo, "(the address asked)")  # the caller's own words
            leaked = [marker for marker in markers if marker in body]
            assert not leaked, f"{where} shows B ({leaked}): {body[:300]}"
            to_login = answer.status_code == 303 and answer.headers["location"].startswith(
                "/connexion"
            )
            if method != "GET" or "{" in path_format:
                # A change, or a page of B's: refused.
                assert to_login or answer.status_code in (403, 404, 422), (
                    f"{where}: {answer.status_code} {body[:300]}"
                )
            elif who != "anonymous" and answer.status_code >= 400:
                assert answer.status_code in (403, 404), where
            if who == "anonymous":
                assert answer.status_code != 200 or path_format == "/connexion", where
        checked.add((method, path_format))
    assert {
        ("GET", "/revue"),
        ("GET", "/inventaires/{inventory_id}"),
        ("GET", "/inventaires/{inventory_id}/constats/{key}"),
        ("POST", "/inventaires/{inventory_id}/constats/{key}"),
        ("POST", "/inventaires/{inventory_id}/ajout"),
        ("POST", "/inventaires/{inventory_id}/observations/{observation_id}"),
        ("POST", "/inventaires/{inventory_id}/validation"),
        ("POST", "/televersement"),
    } <= checked

    # B's inventory is as it was: no decision, no audit entry, still a draft, nothing uploaded.
    assert count(api.engine, db.decisions) == 0
    assert count(api.engine, db.audit_log, db.audit_log.c.organisation_id == api.b.id) == 0
    assert count(api.engine, db.inventories, db.inventories.c.organisation_id == api.b.id) == 1
    assert count(api.engine, db.inventories) == 2
    assert inventory_status(api.engine, b_inventory.id) == "draft"

    # The control: the same addresses are B's real pages, and B's reviewer may decide there.
    b_reviewer = sign_in(api.app, api.b.reviewer, api.password)
    for path_format in (
        "/inventaires/{inventory_id}",
        "/inventaires/{inventory_id}/constats/{key}",
    ):
        page = b_reviewer.get(fill(path_format, values))
        assert page.status_code == 200 and api.b.name in page.text, path_format
    assert "poste-b-secret" in b_reviewer.get("/revue").text
    decided = b_reviewer.post(
        fill("/inventaires/{inventory_id}/constats/{key}", values),
        form_for(b_reviewer.csrf, api.b.id),
    )
    assert decided.status_code == 303, decided.text[:300]
    assert count(api.engine, db.decisions, db.decisions.c.organisation_id == api.b.id) == 1


def test_a_parent_organisation_sees_its_children_and_not_the_reverse(api: Any) -> None:
    parent_id, parent_token = admin.create_organisation(api.engine, "Métropole Parente")
    child_id, child_token = admin.create_organisation(
        api.engine, "Commune Enfant", parent=str(parent_id)
    )
    admin.create_user(api.engine, "parent-reviewer", PASSWORD, Role.REVIEWER, [str(parent_id)])
    admin.create_user(api.engine, "child-reviewer", PASSWORD, Role.REVIEWER, [str(child_id)])
    parent_inventory, _ = plain_inventory(
        "Métropole Parente", None, "poste-parent", range(0xC00, 0xC01), "obs-parent"
    )
    child_inventory, _ = plain_inventory(
        "Commune Enfant", None, "poste-enfant", range(0xD00, 0xD01), "obs-enfant"
    )
    assert api.send(parent_inventory, parent_token).status_code == 201
    assert api.send(child_inventory, child_token).status_code == 201
    child_finding = f"/inventaires/{child_inventory.id}/constats/f-{0xD00:016x}"
    parent_finding = f"/inventaires/{parent_inventory.id}/constats/f-{0xC00:016x}"

    parent = sign_in(api.app, "parent-reviewer", PASSWORD)
    queue = parent.get("/revue").text
    assert "poste-parent" in queue and "poste-enfant" in queue
    assert "Commune Enfant" in parent.get(f"/revue?organisation={child_id}").text
    page = parent.get(f"/inventaires/{child_inventory.id}")
    assert page.status_code == 200 and "poste-enfant" in page.text
    assert parent.get(child_finding).status_code == 200
    decided = parent.post(child_finding, form_for(parent.csrf, child_id))
    assert decided.status_code == 303, decided.text[:300]
    assert count(api.engine, db.decisions, db.decisions.c.organisation_id == child_id) == 1
    assert api.a.name not in queue and api.b.name not in queue

    child = sign_in(api.app, "child-reviewer", PASSWORD)
    queue = child.get("/revue").text
    assert "poste-enfant" in queue
    assert "poste-parent" not in queue and "Métropole Parente" not in queue
    filtered = child.get(f"/revue?organisation={parent_id}&statut=all").text
    assert "poste-parent" not in filtered and "Métropole Parente" not in filtered
    for path in (f"/inventaires/{parent_inventory.id}", parent_finding):
        answer = child.get(path)
        assert answer.status_code == 404, path
        assert "poste-parent" not in answer.text and "Métropole Parente" not in answer.text
    refused = child.post(parent_finding, form_for(child.csrf, parent_id))
    assert refused.status_code == 404
    assert (
        child.post(
            f"/inventaires/{parent_inventory.id}/validation", {"csrf": child.csrf}
        ).status_code
        == 404
    )
    assert count(api.engine, db.decisions, db.decisions.c.organisation_id == parent_id) == 0
    assert inventory_status(api.engine, parent_inventory.id) == "draft"
    assert child.get(child_finding).status_code == 200


# --- 3. CSRF ------------------------------------------------------------------------------------

# The review pages' forms, and what a valid post of them answers (the walk's control).
KNOWN_POSTS = {
    "/inventaires/{inventory_id}/constats/{key}",
    "/inventaires/{inventory_id}/ajout",
    "/inventaires/{inventory_id}/observations/{observation_id}",
    "/inventaires/{inventory_id}/validation",
    "/televersement",
}


def stored_state(engine: Engine) -> dict[str, int]:
    return {
        "decisions": count(engine, db.decisions),
        "audit": count(engine, db.audit_log),
        "inventories": count(engine, db.inventories),
        "users": count(engine, db.users),
        "validated": count(engine, db.inventories, db.inventories.c.status != "draft"),
    }


def test_every_form_refuses_a_missing_or_wrong_csrf_token(api: Any) -> None:
    inventory, unknown = plain_inventory(
        api.a.name, api.a.siren, "poste-a", range(2), "a-observation"
    )
    assert api.send(inventory, api.a.token).status_code == 201
    values = {
        "inventory_id": str(inventory.id),
        "key": f"f-{0:016x}",
        "observation_id": unknown.id,
        "*": str(api.a.id),
    }
    # An administrator may send every form: only the token can refuse them.
    person = sign_in(api.app, "admin", api.password)
    someone_else = sign_in(api.app, api.a.reviewer, api.password)
    assert someone_else.csrf != person.csrf
    fresh, _ = plain_inventory(api.a.name, api.a.siren, "poste-a2", range(1), "a-observation-2")
    upload_file = fresh.to_json().encode()
    wrong_tokens = {
        "missing": None,
        "empty": "",
        "made up": "A" * len(person.csrf),
        "another session's": someone_else.csrf,
        "truncated": person.csrf[:-1],
    }
    before = stored_state(api.engine)
    posts = [(path, route) for method, path, route in web_routes(api.app) if method == "POST"]
    posts = [(path, route) for path, route in posts if path != "/connexion"]
    assert {path for path, _ in posts} >= KNOWN_POSTS | {"/deconnexion"}
    for path_format, _route in posts:
        path = fill(path_format, values)
        files = None
        if path_format == "/televersement":
            files = {"inventaire": ("a.json", upload_file, "application/json")}
        for what, token in wrong_tokens.items():
            form = form_for(person.csrf, api.a.id)
            if token is None:
                del form["csrf"]
            else:
                form["csrf"] = token
            answer = person.client.post(path, data=form, files=files)
            where = f"{what} token: POST {path}"
            assert answer.status_code == 403, f"{where}: {answer.status_code} {answer.text[:300]}"
            assert FORGED_TEXT in answer.text, where
        # The token in the address instead of the form is refused too.
        form = form_for(person.csrf, api.a.id)
        del form["csrf"]
        answer = person.client.post(path, params={"csrf": person.csrf}, data=form, files=files)
        assert answer.status_code == 403, f"token in the query: POST {path}"
    assert stored_state(api.engine) == before
    assert person.get("/revue").status_code == 200  # the refused sign-out closed nothing

    # The control: the very same posts with the right token are accepted.
    validation = "/inventaires/{inventory_id}/validation"
    for path_format in [*sorted(KNOWN_POSTS - {validation}), validation]:
        files = None
        if path_format == "/televersement":
            files = {"inventaire": ("a.json", upload_file, "application/json")}
        answer = person.client.post(
            fill(path_format, values), data=form_for(person.csrf, api.a.id), files=files
        )
        assert answer.status_code == 303, f"{path_format}: {answer.text[:300]}"
        if path_format == "/televersement":
            assert count(api.engine, db.inventories) == before["inventories"] + 1
    with api.engine.connect() as connection:
        keys = set(connection.scalars(select(db.decisions.c.finding_key)))
    assert {values["key"], f"obs:{unknown.id}", f"add:{a_catalog_product()}"} <= keys
    assert inventory_status(api.engine, inventory.id) == "validated"
    signed_out = person.client.post("/deconnexion", data={"csrf": person.csrf})
    assert signed_out.status_code == 303
    assert person.get("/revue").headers["location"].startswith("/connexion")


def test_the_sign_in_form_refuses_a_missing_or_wrong_token(api: Any) -> None:
    client = new_client(api.app)
    token = csrf_in(client.get("/connexion").text)
    credentials = {"username": api.a.reviewer, "password": api.password, "suivant": "/revue"}
    for form in (credentials, credentials | {"csrf": "A" * len(token)}, credentials | {"csrf": ""}):
        answer = client.post("/connexion", data=form)
        assert answer.status_code == 403 and FORGED_TEXT in answer.text
        assert "tiebreak_session" not in answer.headers.get("set-cookie", "")
    cookieless = new_client(api.app)
    answer = cookieless.post("/connexion", data=credentials | {"csrf": token})
    assert answer.status_code == 403 and "tiebreak_session" not in answer.headers.get(
        "set-cookie", ""
    )
    assert count(api.engine, db.sessions) == 0
    assert client.post("/connexion", data=credentials | {"csrf": token}).status_code == 303
    assert count(api.engine, db.sessions) == 1


class _AttackerSite:
    """Another origin (another port of 127.0.0.1) whose pages auto-submit forms to tiebreak."""

    def __init__(self, pages: dict[str, str]) -> None:
        site_pages = pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site_pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def attack_page(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{name}" value="{value}">' for name, value in fields.items()
    )
    return (
        f'<!doctype html><form method="post" action="{action}">{inputs}</form>'
        "<script>document.forms[0].submit()</script>"
    )


@pytest.mark.service
def test_a_cross_site_form_stores_nothing(
    engine: Engine, server_process: Any, chromium: Browser
) -> None:
    organisation_id, token = admin.create_organisation(engine, "Commune Ciblée")
    admin.create_user(engine, "relecteur", PASSWORD, Role.REVIEWER, [str(organisation_id)])
    server_process.start()
    base = server_process.url
    inventory, _ = plain_inventory("Commune Ciblée", None, "poste", range(2), "obs")
    answer = requests.post(
        f"{base}/api/v1/inventories",
        data=inventory.to_json().encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    audit_before = count(engine, db.audit_log)
    decision_url = f"{base}/inventaires/{inventory.id}/constats/f-{0:016x}"
    decision = {"status": "rejected", "reason": "attaque", "depuis": "inventaire"}
    site = _AttackerSite(
        {
            "/sans-jeton": attack_page(decision_url, decision),
            "/faux-jeton": attack_page(decision_url, decision | {"csrf": "A" * 43}),
            "/validation": attack_page(f"{base}/inventaires/{inventory.id}/validation", {}),
            "/televersement": attack_page(f"{base}/televersement", {"organisation": "1"}),
        }
    )
    context = new_context(chromium)
    try:
        watched = watch(context)
        page = watched.page
        browser_sign_in(watched, base, "relecteur")
        for attack in ("/sans-jeton", "/faux-jeton", "/validation", "/televersement"):
            with page.expect_response(
                lambda r: r.request.method == "POST" and r.url.startswith(base)
            ) as posted:
                page.goto(site.url + attack)
            # The session cookie went along (same site, another origin): only the token refused.
            assert posted.value.status == 403, (attack, posted.value.status)
            page.wait_for_url(f"{base}/**")
            assert FORGED_TEXT in page.inner_text("body"), attack
        assert count(engine, db.decisions) == 0
        assert count(engine, db.audit_log) == audit_before
        assert count(engine, db.inventories) == 1
        assert inventory_status(engine, inventory.id) == "draft"

        # The control: the same session, from tiebreak's own page, does store the decision.
        goto(watched, f"{base}/inventaires/{inventory.id}")
        page.locator("details > summary").first.click()
        form = page.locator("form.quick").first
        form.locator("input[name=reason]").fill("vraie décision")
        with page.expect_navigation():
            form.locator("button[value=rejected]").click()
        assert "fait=decision" in page.url
        assert count(engine, db.decisions) == 1
    finally:
        context.close()
        site.close()


# --- 4. Expired sessions ------------------------------------------------------------------------


def test_an_expired_session_asks_to_sign_in_again_and_loses_no_decision(api: Any) -> None:
    inventory, _ = plain_inventory(api.a.name, api.a.siren, "poste-a", range(2), "obs")
    assert api.send(inventory, api.a.token).status_code == 201
    page_path = f"/inventaires/{inventory.id}"
    first, second = (f"{page_path}/constats/f-{n:016x}" for n in range(2))
    person = sign_in(api.app, api.a.reviewer, api.password)
    kept = person.post(first, {"csrf": person.csrf, "status": "confirmed"})
    assert kept.status_code == 303

    with api.engine.begin() as connection:
        user_id = connection.scalar(
            select(db.users.c.id).where(db.users.c.username == api.a.reviewer)
        )
        connection.execute(
            update(db.sessions)
            .where(db.sessions.c.user_id == user_id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )

    answer = person.get("/revue")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/connexion?suivant=%2Frevue&expiree=1"
    notice = person.get(answer.headers["location"])
    assert notice.status_code == 200 and "Votre session a expiré" in notice.text
    assert person.get(page_path).headers["location"] == (
        f"/connexion?suivant={quote(page_path, safe='')}&expiree=1"
    )

    late = person.post(
        second,
        {"csrf": person.csrf, "status": "rejected", "reason": "trop tard"},
        headers={"Referer": f"http://testserver{page_path}"},
    )
    assert late.status_code == 303
    assert late.headers["location"] == f"/connexion?suivant={quote(page_path, safe='')}&expiree=1"
    with api.engine.connect() as connection:
        rows = connection.execute(select(db.decisions.c.finding_key, db.decisions.c.status)).all()
    assert [tuple(row) for row in rows] == [(f"f-{0:016x}", "confirmed")]

    # Signing in again comes back to the inventory, with the decision made before.
    login = person.get(late.headers["location"])
    token = csrf_in(login.text)
    back = person.client.post(
        "/connexion",
        data={
            "csrf": token,
            "suivant": page_path,
            "username": api.a.reviewer,
            "password": api.password,
        },
    )
    assert back.status_code == 303 and back.headers["location"] == page_path
    page = person.get(page_path)
    assert page.status_code == 200
    assert 'id="count-pending">1<' in page.text
    # The old session's token is dead; the new one works.
    stale = person.post(second, {"csrf": person.csrf, "status": "rejected", "reason": "x"})
    assert stale.status_code == 403
    person.csrf = csrf_in(page.text)
    redone = person.post(second, {"csrf": person.csrf, "status": "rejected", "reason": "trop tard"})
    assert redone.status_code == 303
    with api.engine.connect() as connection:
        rows = connection.execute(
            select(db.decisions.c.finding_key, db.decisions.c.status).order_by(
                db.decisions.c.finding_key
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (f"f-{0:016x}", "confirmed"),
        (f"f-{1:016x}", "rejected"),
    ]


# --- 5. Viewers ---------------------------------------------------------------------------------


def test_a_viewer_reads_the_pages_but_every_decision_form_is_refused(api: Any) -> None:
    inventory, unknown = plain_inventory(
        api.a.name, api.a.siren, "poste-a", range(2), "a-observation"
    )
    assert api.send(inventory, api.a.token).status_code == 201
    values = {
        "inventory_id": str(inventory.id),
        "key": f"f-{0:016x}",
        "observation_id": unknown.id,
        "*": str(api.a.id),
    }
    viewer = sign_in(api.app, api.a.viewer, api.password)
    assert "poste-a" in viewer.get("/revue").text
    for path_format in (
        "/inventaires/{inventory_id}",
        "/inventaires/{inventory_id}/constats/{key}",
    ):
        page = viewer.get(fill(path_format, values))
        assert page.status_code == 200 and api.a.name in page.text
        # No decision form is offered: the only form posting is the sign-out.
        assert re.findall(r'<form method="post" action="([^"]*)"', page.text) == ["/deconnexion"]
    upload_file = plain_inventory(api.a.name, api.a.siren, "poste-a2", range(1), "o2")[0]
    before = stored_state(api.engine)
    refused = 0
    for method, path_format, _route in web_routes(api.app):
        if method != "POST" or (method, path_format) in SKIPPED:
            continue
        files = None
        if path_format == "/televersement":
            files = {"inventaire": ("a.json", upload_file.to_json().encode(), "application/json")}
        answer = viewer.client.post(
            fill(path_format, values), data=form_for(viewer.csrf, api.a.id), files=files
        )
        assert answer.status_code in (403, 404), f"{path_format}: {answer.status_code}"
        if path_format in KNOWN_POSTS:
            assert answer.status_code == 403, path_format
            refused += 1
    assert refused == len(KNOWN_POSTS)
    assert stored_state(api.engine) == before
    # The control: a reviewer's identical post is accepted.
    reviewer = sign_in(api.app, api.a.reviewer, api.password)
    path = fill("/inventaires/{inventory_id}/constats/{key}", values)
    assert reviewer.post(path, form_for(reviewer.csrf, api.a.id)).status_code == 303


def test_a_finding_key_with_slashes_is_reachable_and_classifying_needs_a_real_observation(
    api: Any,
) -> None:
    inventory, unknown = plain_inventory(api.a.name, api.a.siren, "poste", range(1), "x")
    odd = inventory.findings[0].model_copy(update={"id": "f/../../revue?x=1#é"})
    inventory = inventory.model_copy(update={"findings": [odd]})
    assert api.send(inventory, api.a.token).status_code == 201
    reviewer = sign_in(api.app, api.a.reviewer, api.password)
    page = reviewer.get(f"/inventaires/{inventory.id}")
    link = f"/inventaires/{inventory.id}/constats/f%2F..%2F..%2Frevue%3Fx%3D1%23%C3%A9"
    assert link in page.text
    assert reviewer.get(link).status_code == 200
    saved = reviewer.post(link, {"csrf": reviewer.csrf, "status": "confirmed"})
    assert saved.status_code == 303
    # The decision returns to the finding's own block: the fragment is an id of the page.
    fragment = saved.headers["location"].split("#", 1)[1]
    assert f'id="{fragment}"' in reviewer.get(saved.headers["location"]).text
    assert count(api.engine, db.decisions, db.decisions.c.finding_key == odd.id) == 1

    product = a_catalog_product()
    made_up = reviewer.post(
        f"/inventaires/{inventory.id}/observations/o-0000000000000000",
        {"csrf": reviewer.csrf, "product": product},
    )
    assert made_up.status_code == 404
    real = reviewer.post(
        f"/inventaires/{inventory.id}/observations/{unknown.id}",
        {"csrf": reviewer.csrf, "product": product},
    )
    assert real.status_code == 303
    assert count(api.engine, db.decisions, db.decisions.c.finding_key.like("obs:%")) == 1
