"""The review pages: the queue of drafts, an inventory's findings, one finding's decision form.

Every form posts back with the anti-forgery token; a valid post redirects (so reloading never
posts twice), an invalid one shows the same page with each message beside its field and the
values typed kept. Decisions are recorded by `server.review`, which also writes the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from fingerprints.catalog import default_catalog
from inventory import Category
from server import review
from server.api import deps
from server.auth import User
from server.errors import Refusal
from server.store import audit, inventories, organisations
from server.web.forms import WebUser, checked_form, text_fields
from server.web.render import english, render, translator

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
SELECT_LIMIT = 100
UNIDENTIFIED_SHOWN = 200
STATUSES = ("draft", "validated", "rejected")
CATEGORY_ORDER = [c.value for c in Category]


@lru_cache(maxsize=1)
def _names() -> dict[str, dict[str, str]]:
    catalog = default_catalog()
    return {
        "products": {p.id: p.name for p in catalog.products.values()},
        "vendors": {v.id: v.name for v in catalog.vendors.values()},
    }


@lru_cache(maxsize=1)
def catalog_datalist() -> Markup:
    """The <datalist> of catalog products the product fields offer, built once per process
    (through a template macro it cost most of an inventory page's time)."""
    options = "".join(
        f'<option value="{escape(product)}">{escape(name)} — {escape(vendor)}</option>'
        for product, name, vendor in _catalog_choices()
    )
    return Markup(f'<datalist id="catalogue">{options}</datalist>')  # noqa: S704 (escaped above)


@lru_cache(maxsize=1)
def _catalog_choices() -> list[tuple[str, str, str]]:
    catalog = default_catalog()
    return sorted(
        ((p.id, p.name, catalog.vendor(p.id).name) for p in catalog.products.values()),
        key=lambda item: item[1].lower(),
    )


@router.get("/revue", response_class=HTMLResponse)
def queue(
    request: Request,
    user: WebUser,
    organisation: Annotated[str, Query()] = "",
    statut: Annotated[str, Query()] = "draft",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Drafts waiting for review (or validated, rejected, all), newest first."""
    status = statut if statut in STATUSES else None
    wanted = organisation.strip()[:200]
    with deps.engine(request).connect() as connection:
        # A drop-down up to SELECT_LIMIT organisations; beyond, a search by name or SIREN.
        many = organisations.count(connection, user.visible) > SELECT_LIMIT
        chosen: list[int] | None = None
        if wanted.isdigit() and not (many and len(wanted) == 9):
            chosen = [int(wanted)] if user.sees(int(wanted)) else []
        elif wanted:
            chosen = organisations.matching(connection, wanted, user.visible)
        found = inventories.queue(
            connection,
            user.visible,
            organisation_ids=chosen,
            status=status,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        choices = [] if many else organisations.listing(connection, user.visible)
    pages = max(1, -(-found.total // PAGE_SIZE))
    return render(
        request,
        "queue.html",
        {
            "rows": found.rows,
            "total": found.total,
            "page": page,
            "pages": pages,
            "organisations": choices,
            "search": many,
            "organisation": wanted,
            "status": status or "all",
        },
        user=user,
    )


def _inventory_page(
    request: Request,
    user: User,
    inventory_id: str,
    *,
    query: str = "",
    category: str = "",
    errors: Mapping[str, tuple[str, str]] | None = None,
    form: Mapping[str, str] | None = None,
    form_name: str = "",
    status: int = 200,
    notice: str | None = None,
) -> HTMLResponse:
    with deps.engine(request).connect() as connection:
        meta = review.visible_inventory(connection, user, inventory_id)
        built = review.build(connection, meta)
    findings = built.findings
    if category in CATEGORY_ORDER:
        findings = [item for item in findings if item.data.get("category") == category]
    groups: dict[str, dict[str, list[review.ReviewedFinding]]] = {}
    for item in sorted(
        findings, key=lambda i: (str(i.data.get("domain")), i.data["product_name"].lower())
    ):
        groups.setdefault(item.data.get("category", "logiciel"), {}).setdefault(
            str(item.data.get("domain") or "autre"), []
        ).append(item)
    ordered = [(name, groups[name]) for name in CATEGORY_ORDER if name in groups]
    unidentified = built.unidentified
    needle = query.strip().lower()
    if needle:
        unidentified = [
            o
            for o in unidentified
            if needle in o["value"].lower()
            or needle in o["locus"].lower()
            or needle in o["channel"]
        ]
    english_reader = english(request)
    return render(
        request,
        "inventory.html",
        {
            "review": built,
            "meta": meta,
            "groups": ordered,
            "category": category,
            "query": query,
            "unidentified": unidentified[:UNIDENTIFIED_SHOWN],
            "unidentified_total": len(unidentified),
            "catalog": catalog_datalist(),
            "names": _names(),
            "can_decide": user.role.value != "viewer",
            "errors": {name: pair[english_reader] for name, pair in (errors or {}).items()},
            "form": form or {},
            "form_name": form_name,
            "notice": notice,
        },
        status=status,
        user=user,
    )


@router.get("/inventaires/{inventory_id}", response_class=HTMLResponse)
def inventory_page(
    request: Request,
    user: WebUser,
    inventory_id: str,
    q: Annotated[str, Query(max_length=200)] = "",
    categorie: Annotated[str, Query(max_length=40)] = "",
    fait: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """One inventory: findings by category and domain, decisions, diff, unidentified evidence."""
    t = translator(request)
    notices = {
        "decision": t("Décision enregistrée.", "Decision saved."),
        "inchange": t("Déjà enregistré : rien n'a changé.", "Already saved: nothing changed."),
        "ajout": t("Produit ajouté.", "Product added."),
        "classe": t("Observation classée.", "Observation classified."),
        "valide": t(
            "Inventaire validé : c'est l'inventaire de référence de l'organisation.",
            "Inventory validated: it is now the organisation's reference inventory.",
        ),
        "deja-valide": t(
            "Cet inventaire était déjà validé.", "This inventory was already validated."
        ),
        "televerse": t("Inventaire téléversé.", "Inventory uploaded."),
    }
    return _inventory_page(
        request, user, inventory_id, query=q, category=categorie, notice=notices.get(fait)
    )


def _form_again(
    request: Request,
    user: User,
    inventory_id: str,
    problems: review.FormProblems,
    form: Mapping[str, str],
    form_name: str,
) -> HTMLResponse:
    """The inventory page again (422), each problem beside its field in the form it came from,
    with the values typed kept."""
    return _inventory_page(
        request,
        user,
        inventory_id,
        errors=problems.fields,
        form=form,
        form_name=form_name,
        status=422,
    )


def _back(inventory_id: str, done: str, anchor: str = "") -> RedirectResponse:
    target = f"/inventaires/{quote(inventory_id)}?fait={done}"
    return RedirectResponse(target + (f"#{anchor}" if anchor else ""), status_code=303)


def _finding_page(
    request: Request,
    user: User,
    inventory_id: str,
    key: str,
    *,
    errors: Mapping[str, tuple[str, str]] | None = None,
    form: Mapping[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with deps.engine(request).connect() as connection:
        meta = review.visible_inventory(connection, user, inventory_id)
        built = review.build(connection, meta)
        item = built.find(key)
        if item is None:
            raise Refusal(404, "constat introuvable dans cet inventaire", "no such finding here")
        history = audit.of_subject(connection, meta.organisation_id, key)
    english_reader = english(request)
    return render(
        request,
        "finding.html",
        {
            "review": built,
            "meta": meta,
            "item": item,
            "history": history,
            "catalog": catalog_datalist(),
            "names": _names(),
            "can_decide": user.role.value != "viewer",
            "errors": {name: pair[english_reader] for name, pair in (errors or {}).items()},
            "form": form,
        },
        status=status,
        user=user,
    )


@router.get("/inventaires/{inventory_id}/constats/{key:path}", response_class=HTMLResponse)
def finding_page(request: Request, user: WebUser, inventory_id: str, key: str) -> HTMLResponse:
    """One finding: its evidence, score, alternatives, decision form and history."""
    return _finding_page(request, user, inventory_id, key)


@router.post("/inventaires/{inventory_id}/constats/{key:path}")
async def decide(request: Request, user: WebUser, inventory_id: str, key: str) -> Response:
    """Confirm, reject, correct or complete a finding."""
    form = text_fields(await checked_form(request))
    review.require_reviewer(user)
    engine = deps.engine(request)

    def known() -> review.ReviewedFinding | None:
        with engine.connect() as connection:
            meta = review.visible_inventory(connection, user, inventory_id)
            return review.build(connection, meta).find(key)

    item = await run_in_threadpool(known)
    if item is None:
        raise Refusal(404, "constat introuvable dans cet inventaire", "no such finding here")
    try:
        values = review.parse_decision(form)
    except review.FormProblems as problems:
        if form.get("depuis") == "inventaire":
            return _form_again(request, user, inventory_id, problems, form, key)
        return _finding_page(
            request, user, inventory_id, key, errors=problems.fields, form=form, status=422
        )
    if form.get("depuis") == "inventaire" and item.decision is not None:
        # The quick buttons of the inventory page only set the status: keep the cost,
        # licences, criticality, replaceability and note already decided.
        values |= {name: getattr(item.decision, name) for name in review.DETAIL_FIELDS}
        if values["status"] == "confirmed" and item.decision.status == "corrected":
            # Confirming a corrected finding confirms the correction, not the scan's product.
            values |= {"status": "corrected", "product": item.decision.product}
    if item.origin == "manual":
        values |= {
            "product": item.decision.product if item.decision else None,
            "manual": item.decision.manual if item.decision else None,
        }
        if values["status"] is None:
            values["status"] = "confirmed"
    kind = {"scan": "finding", "classified": "observation", "manual": "manual"}[item.origin]
    if item.origin == "classified" and values["status"] != "rejected":
        values["product"] = values["product"] or (item.decision.product if item.decision else None)
    changed = await run_in_threadpool(review.record, engine, user, inventory_id, key, kind, values)
    return _back(inventory_id, "decision" if changed else "inchange", review.block_id(key))


@router.post("/inventaires/{inventory_id}/ajout")
async def add_product(request: Request, user: WebUser, inventory_id: str) -> Response:
    """Add a product that no scan saw (from the catalog, or a free entry)."""
    form = text_fields(await checked_form(request))
    review.require_reviewer(user)
    try:
        key, values = review.parse_addition(form)
    except review.FormProblems as problems:
        return _form_again(request, user, inventory_id, problems, form, "ajout")
    changed = await run_in_threadpool(
        review.record, deps.engine(request), user, inventory_id, key, "manual", values
    )
    return _back(inventory_id, "ajout" if changed else "inchange", review.block_id(key))


@router.post("/inventaires/{inventory_id}/observations/{observation_id}")
async def classify(
    request: Request, user: WebUser, inventory_id: str, observation_id: str
) -> Response:
    """Classify an unidentified observation as a catalog product."""
    form = text_fields(await checked_form(request))
    review.require_reviewer(user)
    try:
        product = review.check_product(form.get("product", ""))
    except review.FormProblems as problems:
        return _form_again(request, user, inventory_id, problems, form, f"obs:{observation_id}")
    engine = deps.engine(request)

    def unidentified() -> set[str]:
        with engine.connect() as connection:
            meta = review.visible_inventory(connection, user, inventory_id)
            return {o["id"] for o in review.build(connection, meta).unidentified}

    if observation_id not in await run_in_threadpool(unidentified):
        raise Refusal(
            404,
            "observation non identifiée introuvable dans cet inventaire",
            "no such unidentified observation in this inventory",
        )
    values: dict[str, Any] = {"status": "confirmed", "product": product}
    key = f"obs:{observation_id}"
    changed = await run_in_threadpool(
        review.record, engine, user, inventory_id, key, "observation", values
    )
    return _back(inventory_id, "classe" if changed else "inchange", review.block_id(key))


@router.post("/inventaires/{inventory_id}/validation")
async def validate(request: Request, user: WebUser, inventory_id: str) -> Response:
    """Validate the whole inventory."""
    await checked_form(request)
    changed = await run_in_threadpool(review.validate, deps.engine(request), user, inventory_id)
    return _back(inventory_id, "valide" if changed else "deja-valide")
