"""The alternatives library page (/catalogue/alternatives): what the catalog says can replace each
product, searched without caring for case or accents, one product by `produit`, and a search typed
in a real browser. Expected lists are computed from the catalog, never written here."""

from __future__ import annotations

import html
import sys
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine

from fingerprints.catalog import default_catalog
from fingerprints.jurisdiction import resolve
from server import admin
from server.labels import LABELS

PAGE = "/catalogue/alternatives"
PASSWORD = "correct horse battery staple"
HOSTILE = "<script>alert(1)</script>"


@dataclass
class Shown:
    """A product block of the page: its anchor, name, and its alternatives' rows."""

    id: str
    name: str = ""
    rows: list[list[str]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


class Blocks(HTMLParser):
    """The product blocks (`section.alt-product`) of the page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[Shown] = []
        self._depth = 0  # <section> nesting inside the current block
        self._in: str | None = None  # "h3", "cell"
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section":
            if "alt-product" in (values.get("class") or "").split():
                self.blocks.append(Shown(values.get("id") or ""))
                self._depth = 1
            elif self._depth:
                self._depth += 1
        if not self._depth:
            return
        if tag == "h3":
            self._in, self._text = "h3", ""
        elif tag == "tr" and self._in is None:
            self.blocks[-1].rows.append([])
        elif tag in ("td", "th"):
            self._in, self._text = "cell", ""
        elif tag == "a" and values.get("href"):
            self.blocks[-1].links.append(values["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if not self._depth:
            return
        if tag == "section":
            self._depth -= 1
        elif tag == "h3" and self._in == "h3":
            self.blocks[-1].name = " ".join(self._text.split())
            self._in = None
        elif tag in ("td", "th") and self._in == "cell":
            self.blocks[-1].rows[-1].append(" ".join(self._text.split()))
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data


def blocks(page: str) -> list[Shown]:
    parser = Blocks()
    parser.feed(page)
    return parser.blocks


def body_rows(block: Shown) -> list[list[str]]:
    """The alternatives' rows (the header row left out)."""
    return block.rows[1:]


def fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text)
    return "".join(c for c in plain if not unicodedata.combining(c)).casefold()


def with_alternatives() -> list[str]:
    """Ids of the catalog's products that have alternatives."""
    return sorted(p.id for p in default_catalog().products.values() if p.alternatives)


def expected_matches(word: str) -> set[str]:
    """Products with alternatives whose name, vendor, domain or alternatives hold `word`."""
    catalog = default_catalog()
    found = set()
    for product_id in with_alternatives():
        product = catalog.products[product_id]
        fields = [
            product.name,
            product.id,
            catalog.vendor(product_id).name,
            product.domain,
            LABELS["fr"]["domain"].get(product.domain, ""),
            LABELS["en"]["domain"].get(product.domain, ""),
            *(catalog.products[a].name for a in product.alternatives),
        ]
        if any(fold(word) in fold(value) for value in fields):
            found.add(product_id)
    return found


@pytest.fixture
def reader(api: Any) -> TestClient:
    """A viewer of organisation A, signed in, reading French."""
    client: TestClient = api.session(api.a.viewer)
    client.headers["Accept-Language"] = "fr-FR,fr;q=0.9"
    return client


def test_the_page_lists_every_product_with_its_alternatives_from_the_catalog(
    reader: TestClient,
) -> None:
    answer = reader.get(PAGE)
    assert answer.status_code == 200
    assert "Bibliothèque d'alternatives" in html.unescape(answer.text)
    shown = {block.id: block for block in blocks(answer.text)}
    assert sorted(shown) == with_alternatives()

    catalog = default_catalog()
    m365 = catalog.products["microsoft-365"]
    block = shown["microsoft-365"]
    assert block.name == m365.name
    rows = body_rows(block)
    assert sorted(row[0] for row in rows) == sorted(
        catalog.products[a].name for a in m365.alternatives
    )
    eu_label = LABELS["fr"]["jurisdiction"]
    for row in rows:
        alternative = next(
            catalog.products[a] for a in m365.alternatives if catalog.products[a].name == row[0]
        )
        vendor = catalog.vendor(alternative.id)
        assert row[1] == vendor.name
        assert eu_label[resolve(catalog, vendor.id).jurisdiction.value] in row[2]
        assert row[3].startswith("oui" if alternative.open_source else "non")
        assert (row[4] != "—") == (alternative.sill is not None)
    # The vendor's jurisdiction of the product itself, with the UI's label.
    assert f"{LABELS['fr']['jurisdiction']['non-eu']}</span>" in answer.text

    # European and open source first.
    def merit(name: str) -> int:
        alt = next(
            catalog.products[a] for a in m365.alternatives if catalog.products[a].name == name
        )
        european = resolve(catalog, catalog.vendor_of[alt.id]).jurisdiction.value in (
            "eu",
            "europe-other",
        )
        return int(european) + int(alt.open_source)

    merits = [merit(row[0]) for row in rows]
    assert merits == sorted(merits, reverse=True)


def test_sill_links_search_the_sill_for_the_alternative() -> None:
    from server.web.catalog import sill_url

    assert sill_url("LibreOffice") == "https://code.gouv.fr/sill/list?search=LibreOffice"
    assert (
        sill_url("Jitsi Meet (self-hosted)") == "https://code.gouv.fr/sill/list?search=Jitsi%20Meet"
    )


def test_a_sill_link_is_shown_for_alternatives_the_catalog_links_to_the_sill(
    reader: TestClient,
) -> None:
    catalog = default_catalog()
    product_id, alternative = next(
        (p.id, catalog.products[a])
        for p in sorted(catalog.products.values(), key=lambda p: p.id)
        for a in p.alternatives
        if catalog.products[a].sill
    )
    block = blocks(reader.get(PAGE, params={"produit": product_id}).text)[0]
    sill = [link for link in block.links if link.startswith("https://code.gouv.fr/sill/")]
    assert sill, block
    searched = [parse_qs(urlsplit(link).query)["search"][0] for link in sill]
    assert any(fold(word) in fold(alternative.name) for word in searched)


def test_search_narrows_the_list_by_domain_or_vendor(reader: TestClient) -> None:
    for word in ("messagerie", "Microsoft"):
        answer = reader.get(PAGE, params={"q": word})
        assert answer.status_code == 200
        shown = {block.id for block in blocks(answer.text)}
        expected = expected_matches(word)
        assert expected and shown == expected, word
        assert len(shown) < len(with_alternatives())
        assert f"« {word} »" in answer.text
        assert f'value="{word}"' in answer.text  # the search is kept in the field
    # Every word must match.
    both = {
        block.id for block in blocks(reader.get(PAGE, params={"q": "Microsoft messagerie"}).text)
    }
    assert both == expected_matches("Microsoft") & expected_matches("messagerie")
    nothing = reader.get(PAGE, params={"q": "zzz-aucun-produit-zzz"})
    assert nothing.status_code == 200
    assert blocks(nothing.text) == []
    assert "Aucun produit ne correspond à cette recherche." in nothing.text


def test_search_ignores_case_and_accents(reader: TestClient) -> None:
    expected = expected_matches("hébergement")
    assert expected
    for typed in ("hebergement", "HÉBERGEMENT", "Hébergement", "héBERgement"):
        shown = {block.id for block in blocks(reader.get(PAGE, params={"q": typed}).text)}
        assert shown == expected, typed
    # And the other way round: an accent typed where the catalog has none.
    plain = {block.id for block in blocks(reader.get(PAGE, params={"q": "microsoft"}).text)}
    accented = {block.id for block in blocks(reader.get(PAGE, params={"q": "MÏCRÔSOFT"}).text)}
    assert plain and accented == plain


def test_a_hostile_search_is_shown_escaped(reader: TestClient) -> None:
    answer = reader.get(PAGE, params={"q": HOSTILE})
    assert answer.status_code == 200
    assert HOSTILE not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
    assert blocks(answer.text) == []
    long = reader.get(PAGE, params={"q": "x" * 5000})
    assert long.status_code == 200


def test_one_product_by_its_id_and_an_unknown_one(reader: TestClient) -> None:
    answer = reader.get(PAGE, params={"produit": "microsoft-365"})
    assert answer.status_code == 200
    assert [block.id for block in blocks(answer.text)] == ["microsoft-365"]

    unknown = reader.get(PAGE, params={"produit": "produit-inexistant"})
    assert unknown.status_code == 404
    assert "Produit inconnu du catalogue : « produit-inexistant »." in unknown.text
    assert blocks(unknown.text) == []
    hostile = reader.get(PAGE, params={"produit": HOSTILE})
    assert hostile.status_code == 404
    assert HOSTILE not in hostile.text

    catalog = default_catalog()
    lonely = next(
        p for p in sorted(catalog.products.values(), key=lambda p: p.id) if not p.alternatives
    )
    answer = reader.get(PAGE, params={"produit": lonely.id})
    assert answer.status_code == 200
    assert "Le catalogue ne répertorie pas d'alternative à ce produit." in html.unescape(
        answer.text
    )
    assert f'id="{lonely.id}"' in answer.text


def test_english_readers_get_english(reader: TestClient) -> None:
    reader.cookies.set("tiebreak_lang", "en")
    answer = reader.get(PAGE)
    assert "Alternatives library" in answer.text
    block = next(b for b in blocks(answer.text) if b.id == "microsoft-365")
    assert block.rows[0] == [
        "Alternative",
        "Vendor",
        "Country and jurisdiction",
        "Open source",
        "SILL",
    ]


def test_signed_out_readers_are_sent_to_sign_in(api: Any) -> None:
    client = TestClient(api.app, follow_redirects=False)
    answer = client.get(PAGE, params={"q": "messagerie"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/connexion?suivant=%2Fcatalogue%2Falternatives")


def test_the_navigation_links_to_the_page(reader: TestClient) -> None:
    queue = reader.get("/revue")
    assert f'<a href="{PAGE}">Alternatives</a>' in queue.text
    assert f'<a href="{PAGE}" aria-current="page">Alternatives</a>' in reader.get(PAGE).text


# --- In a browser ---------------------------------------------------------------------------------


@pytest.mark.service
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_french_reader_searches_the_library_in_chromium(
    engine: Engine, server_process: Any, chromium: Browser
) -> None:
    helpers = sys.modules["tiebreak_test_browser"]  # loaded by conftest.py
    organisation_id, _token = admin.create_organisation(engine, "Commune de Test-sur-Alternatives")
    admin.create_user(engine, "lectrice", PASSWORD, admin.Role.VIEWER, [str(organisation_id)])
    server_process.start()
    context = helpers.context(chromium, server_process.url)
    try:
        page = context.new_page()
        helpers.sign_in(page, "lectrice", PASSWORD)
        page.get_by_role("link", name="Alternatives").click()
        page.wait_for_url(f"**{PAGE}")
        expect(page.locator("h1")).to_have_text("Bibliothèque d'alternatives")
        products = page.locator("section.alt-product")
        expect(products).to_have_count(len(with_alternatives()))

        page.get_by_label("Rechercher").fill("MESSAGERIE")
        with page.expect_navigation():
            page.get_by_role("button", name="Rechercher").click()
        assert parse_qs(urlsplit(page.url).query)["q"] == ["MESSAGERIE"]
        expected = expected_matches("messagerie")
        expect(products).to_have_count(len(expected))
        assert {products.nth(i).get_attribute("id") for i in range(len(expected))} == expected
        expect(page.locator("#count")).to_contain_text("« MESSAGERIE »")
        expect(page.get_by_label("Rechercher")).to_have_value("MESSAGERIE")

        # A finding's link: the anchor of one product.
        page.goto(f"{PAGE}#microsoft-365")
        expect(page.locator("#microsoft-365 h3")).to_have_text(
            default_catalog().products["microsoft-365"].name
        )
        expect(page.locator("#microsoft-365")).to_be_in_viewport()
    finally:
        context.close()
