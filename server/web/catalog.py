"""The alternatives library: for each catalog product that has alternatives, who makes it, under
which jurisdiction, and what could replace it — European and open-source alternatives first.

`GET /catalogue/alternatives` lists them, grouped by domain; `?q=` narrows the list (product,
vendor, domain or alternative name; case and accents ignored, every word must match);
`?produit=<id>` shows one product, and every product has the anchor `#<id>`, so that a finding
can link to `/catalogue/alternatives#<id>`.

The catalog does not change while the server runs: the list, with each entry's search text, is
built once per process.

SILL links: the catalog's `sill` field is the numeric id of the 2022 SILL exports (`_id` of
sill-api's `sill-softwares.json`, `id` of code.gouv.fr's `sill.json`: 227 for Keycloakify). The SILL
site (code.gouv.fr/sill) opened a software's page by name (`/sill/detail?name=`) until late 2025,
and since by the id of its own database (`/sill/detail?id=`, 243 for Keycloakify): neither is what
the catalog holds, and the SILL names are not shipped. So an alternative linked to the SILL gets
the site's search for its name (`/sill/list?search=`), which both versions of the site answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from fingerprints.catalog import Catalog, default_catalog
from fingerprints.jurisdiction import resolve
from server.labels import LABELS
from server.web.forms import WebUser
from server.web.render import english, render

router = APIRouter(include_in_schema=False)

PATH = "/catalogue/alternatives"
SILL_SEARCH = "https://code.gouv.fr/sill/list?search="
QUERY_CHARS = 200
EUROPEAN = frozenset({"eu", "europe-other"})
_RANK = {"eu": 0, "europe-other": 1, "community": 2, "unknown": 3, "non-eu": 4}
_PARENTHESES = re.compile(r"\s*\([^)]*\)")


def fold(text: str) -> str:
    """Lower-case, without accents, spaces collapsed: what searching compares."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def sill_url(name: str) -> str:
    """The SILL site's search for a software (parenthesised precisions left out)."""
    return SILL_SEARCH + quote(_PARENTHESES.sub("", name).strip() or name, safe="")


@dataclass(frozen=True, slots=True)
class Alternative:
    """A product that can replace another, as the page shows it."""

    id: str
    name: str
    vendor: str
    country: str | None
    jurisdiction: str
    open_source: bool
    licence: str
    sill: str | None
    """Link to the SILL's search, when the catalog links the product to the SILL."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A catalog product with its alternatives (best first) and its search text."""

    id: str
    name: str
    vendor: str
    country: str | None
    jurisdiction: str
    domain: str
    open_source: bool
    alternatives: tuple[Alternative, ...]
    search: str


def _alternative(catalog: Catalog, product_id: str) -> Alternative:
    product = catalog.products[product_id]
    vendor = catalog.vendor(product_id)
    return Alternative(
        id=product.id,
        name=product.name,
        vendor=vendor.name,
        country=vendor.country,
        jurisdiction=resolve(catalog, vendor.id).jurisdiction.value,
        open_source=product.open_source,
        licence=product.licence,
        sill=sill_url(product.name) if product.sill else None,
    )


def _best_first(alternative: Alternative) -> tuple[int, int, str]:
    """European and open source (2), one of the two (1), neither (0); then jurisdiction, name."""
    merit = (alternative.jurisdiction in EUROPEAN) + alternative.open_source
    return (-merit, _RANK.get(alternative.jurisdiction, 9), alternative.name.casefold())


@lru_cache(maxsize=1)
def _entries() -> dict[str, Entry]:
    """Every catalog product as an entry, by id (built once: the catalog does not change)."""
    catalog = default_catalog()
    domains = {
        domain: (LABELS["fr"]["domain"].get(domain, ""), LABELS["en"]["domain"].get(domain, ""))
        for domain in {p.domain for p in catalog.products.values()}
    }
    entries = {}
    for product in catalog.products.values():
        vendor = catalog.vendor(product.id)
        alternatives = tuple(
            sorted(
                (_alternative(catalog, a) for a in product.alternatives),
                key=_best_first,
            )
        )
        searched = [
            product.name,
            product.id,
            vendor.name,
            product.domain,
            *domains[product.domain],
            *(a.name for a in alternatives),
        ]
        entries[product.id] = Entry(
            id=product.id,
            name=product.name,
            vendor=vendor.name,
            country=vendor.country,
            jurisdiction=resolve(catalog, vendor.id).jurisdiction.value,
            domain=product.domain,
            open_source=product.open_source,
            alternatives=alternatives,
            search=fold(" | ".join(searched)),
        )
    return entries


@lru_cache(maxsize=1)
def library() -> tuple[Entry, ...]:
    """The products that have alternatives, by name."""
    return tuple(
        sorted(
            (entry for entry in _entries().values() if entry.alternatives),
            key=lambda entry: (entry.name.casefold(), entry.id),
        )
    )


def matching(entries: Iterable[Entry], query: str) -> list[Entry]:
    """The entries whose search text holds every word of the query (case and accents ignored)."""
    words = fold(query).split()
    return [entry for entry in entries if all(word in entry.search for word in words)]


def _badge(jurisdiction: str, language: str) -> str:
    """The jurisdiction badge of the other pages (`_macros.html`'s `jurisdiction`)."""
    name = LABELS[language]["jurisdiction"].get(jurisdiction, jurisdiction)
    return f'<span class="badge j-{escape(jurisdiction)}">{escape(name)}</span>'


_WORDS = {
    # name: (French, English)
    "vendor": ("Éditeur :", "Vendor:"),
    "vendor_column": ("Éditeur", "Vendor"),
    "alternatives_to": ("Alternatives à", "Alternatives to"),
    "alternative": ("Alternative", "Alternative"),
    "country": ("Pays et juridiction", "Country and jurisdiction"),
    "open_source": ("Logiciel libre", "Open source"),
    "yes": ("oui", "yes"),
    "no": ("non", "no"),
    "sill": ("recherche :", "search:"),
}


@lru_cache(maxsize=1024)
def block(product_id: str, language: str) -> Markup:
    """A product's block: who makes it, and the table of its alternatives.

    Built once per product and language, in Python: through the template, the 500 rows of the
    full page cost most of its time, and their garbage made the collector pause it now and then.
    """
    entry = _entries()[product_id]
    word = {name: pair[language == "en"] for name, pair in _WORDS.items()}
    e = {name: escape(getattr(entry, name)) for name in ("id", "name", "vendor")}
    country = f" ({escape(entry.country)})" if entry.country else ""
    rows = []
    for a in entry.alternatives:
        licence = f'{word["yes"]} <span class="hint">{escape(a.licence)}</span>'
        sill = (
            f'<a href="{escape(a.sill)}" rel="external noreferrer">SILL<span'
            f' class="visually-hidden"> ({escape(word["sill"])} {escape(a.name)})</span></a>'
            if a.sill
            else "—"
        )
        rows.append(
            f'<tr><th scope="row">{escape(a.name)}</th><td>{escape(a.vendor)}</td>'
            f"<td>{escape(a.country or '—')} {_badge(a.jurisdiction, language)}</td>"
            f"<td>{licence if a.open_source else word['no']}</td><td>{sill}</td></tr>"
        )
    headers = "".join(
        f'<th scope="col">{escape(word[name])}</th>'
        for name in ("alternative", "vendor_column", "country", "open_source")
    )
    return Markup(  # noqa: S704 (every value escaped above)
        f'<section class="card alt-product" id="{e["id"]}" aria-labelledby="p-{e["id"]}">'
        f'<h3 id="p-{e["id"]}">{e["name"]}</h3>'
        f'<p class="alt-of">{escape(word["vendor"])} {e["vendor"]}{country}'
        f" {_badge(entry.jurisdiction, language)}</p>"
        f'<div class="table-wrap"><table><caption class="visually-hidden">'
        f"{escape(word['alternatives_to'])} {e['name']}</caption>"
        f'<thead><tr>{headers}<th scope="col">SILL</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def grouped(entries: Sequence[Entry], language: str) -> list[tuple[str, str, list[Markup]]]:
    """(domain, its name, its products' blocks), by the domains' names in the reader's language."""
    names = LABELS[language]["domain"]
    groups: dict[str, list[Markup]] = {}
    for entry in entries:
        groups.setdefault(entry.domain, []).append(block(entry.id, language))
    return sorted(
        ((domain, names.get(domain, domain), items) for domain, items in groups.items()),
        key=lambda group: fold(group[1]),
    )


@router.get(PATH, response_class=HTMLResponse)
def alternatives_page(
    request: Request,
    user: WebUser,
    q: Annotated[str, Query()] = "",
    produit: Annotated[str, Query()] = "",
) -> HTMLResponse:
    """The alternatives library, searched by `q`, or one product (`produit`)."""
    query = q.strip()[:QUERY_CHARS]
    wanted = produit.strip()[:QUERY_CHARS]
    every = library()
    shown: list[Entry] = list(every)
    product: Entry | None = None
    status = 200
    if wanted:
        product = _entries().get(wanted)
        shown = [product] if product is not None and product.alternatives else []
        status = 200 if product is not None else 404
    if query:
        shown = matching(shown, query)
    return render(
        request,
        "alternatives.html",
        {
            "groups": grouped(shown, "en" if english(request) else "fr"),
            "shown": len(shown),
            "alternatives_shown": sum(len(entry.alternatives) for entry in shown),
            "total": len(every),
            "query": query,
            "wanted": wanted,
            "product": product,
            "path_page": PATH,
        },
        status=status,
        user=user,
    )
