"""Dashboard pages: an organisation's dependency and euros with its trajectory, a territory's
(an organisation and those below it, or all that the reader sees), and the exports of both.

Figures come from `server.dashboards`, which reads what validation stored; nothing here reads
findings. Charts are SVG drawn on the server (`server.web.chart`), each with its table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from fingerprints.scoring import default_scoring
from inventory import OrganisationType
from server import dashboards, exports, metrics, review
from server.api import deps
from server.errors import Refusal
from server.store import metrics as figures_store
from server.web.chart import Series, trajectory_svg
from server.web.forms import WebUser
from server.web.render import english, render

router = APIRouter(include_in_schema=False)

INVENTORY_FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", "ods"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "json": ("application/json", "json"),
    "cdx.json": ("application/vnd.cyclonedx+json", "cdx.json"),
}
TERRITORY_FORMATS = {key: INVENTORY_FORMATS[key] for key in ("csv", "ods")}
KINDS = tuple(kind.value for kind in OrganisationType)
TOP = 10


def _trajectory(points: Sequence[dashboards.Point], lang: str, territory: bool) -> Markup:
    fr = lang == "fr"
    return trajectory_svg(
        [
            Series(
                label="Indice de dépendance" if fr else "Dependency index",
                points=[(point.at, point.index) for point in points],
                css_class="tc-index",
                axis="left",
            ),
            Series(
                label="Euros par an (validés + estimés)"
                if fr
                else "Euros a year (validated + estimated)",
                points=[(point.at, point.euros) for point in points],
                css_class="series-euros",
                axis="right",
            ),
        ],
        title=(
            ("Trajectoire du territoire" if fr else "Territory trajectory")
            if territory
            else ("Trajectoire de l'organisation" if fr else "Organisation trajectory")
        ),
        left_label="Indice (0–100)" if fr else "Index (0–100)",
        right_label="€ par an" if fr else "€ a year",
        horizon=dashboards.HORIZON,
        horizon_label="Horizon TIE Break 2030" if fr else "TIE Break 2030 horizon",
        lang=lang,
    )


def _weights() -> list[tuple[str, float]]:
    weights = default_scoring().weights
    total = sum(weights.model_dump().values()) or 1.0
    return [(name, round(100 * value / total)) for name, value in weights.model_dump().items()]


@router.get("/organisations/{organisation_id}", response_class=HTMLResponse)
def organisation_page(request: Request, user: WebUser, organisation_id: int) -> HTMLResponse:
    """An organisation's dependency: indexes, euros, top non-European vendors, what changed,
    trajectory."""
    with deps.engine(request).connect() as connection:
        board = dashboards.organisation_dashboard(connection, user, organisation_id)
    lang = "en" if english(request) else "fr"
    figures = board.figures
    context: dict[str, Any] = {
        "board": board,
        "figures": figures,
        "chart": _trajectory(board.points, lang, territory=False),
        "weights": _weights(),
        "formats": list(INVENTORY_FORMATS),
        "english": lang == "en",
    }
    if figures is not None:
        context |= {
            "non_eu": figures.non_eu_products()[:TOP],
            "vendors_by_criticality": figures.top_non_eu_vendors("criticality", TOP),
            "vendors_by_euros": figures.top_non_eu_vendors("euros", TOP),
            "jurisdictions": [
                key
                for key in metrics.JURISDICTIONS
                if key in figures.findings_by_jurisdiction
                or key in figures.euros_validated
                or key in figures.euros_estimated
            ],
            "estimated": [line for line in figures.products if line.estimate.status != "no-price"],
        }
    return render(request, "organisation.html", context, user=user)


def _territory_page(
    request: Request,
    user: Any,
    root_id: int | None,
    kind: str,
    order: str,
    page: int,
) -> HTMLResponse:
    wanted = kind if kind in KINDS else None
    with deps.engine(request).connect() as connection:
        view = dashboards.territory(connection, user, root_id, kind=wanted, order=order, page=page)
    lang = "en" if english(request) else "fr"
    base = "/territoire" if root_id is None else f"/organisations/{root_id}/territoire"
    largest = max(view.distribution.values(), default=0)
    return render(
        request,
        "territory.html",
        {
            "view": view,
            "base": base,
            "kinds": KINDS,
            "kind": wanted or "",
            "chart": _trajectory(view.points, lang, territory=True),
            "bands": [(band, view.distribution.get(band, 0)) for band in range(10)],
            "largest": largest,
            "formats": list(TERRITORY_FORMATS),
            "query": f"type={quote(wanted or '')}&tri={quote(view.order)}",
        },
        user=user,
    )


@router.get("/territoire", response_class=HTMLResponse)
def territory_page(
    request: Request,
    user: WebUser,
    type: Annotated[str, Query(max_length=20)] = "",
    tri: Annotated[str, Query(max_length=10)] = "name",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Every organisation the reader sees (all of them for an administrator)."""
    return _territory_page(request, user, None, type, tri, page)


@router.get("/organisations/{organisation_id}/territoire", response_class=HTMLResponse)
def organisation_territory_page(
    request: Request,
    user: WebUser,
    organisation_id: int,
    type: Annotated[str, Query(max_length=20)] = "",
    tri: Annotated[str, Query(max_length=10)] = "name",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """An organisation and every organisation below it (a métropole and its communes)."""
    return _territory_page(request, user, organisation_id, type, tri, page)


# --- Exports -----------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _file_name(name: str, when: date | None, extension: str) -> str:
    slug = _UNSAFE_NAME.sub("-", name.encode("ascii", "ignore").decode()).strip("-")[:60]
    stamp = f"-{when.isoformat()}" if when else ""
    return f"tiebreak-{slug or 'export'}{stamp}.{extension}"


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _format(name: str, formats: dict[str, tuple[str, str]]) -> tuple[str, str]:
    found = formats.get(name)
    if found is None:
        raise Refusal(
            404,
            f"format d'export inconnu « {name[:20]} » : {', '.join(formats)}",
            f"unknown export format '{name[:20]}': {', '.join(formats)}",
        )
    return found


@router.get("/inventaires/{inventory_id}/export.{fmt}")
def export_inventory(request: Request, user: WebUser, inventory_id: str, fmt: str) -> Response:
    """A validated inventory as CSV, ODS, XLSX, JSON or CycloneDX."""
    media_type, extension = _format(fmt, INVENTORY_FORMATS)
    with deps.engine(request).connect() as connection:
        meta = review.visible_inventory(connection, user, inventory_id)
        organisation = dashboards.visible_organisation(connection, user, meta.organisation_id)
        row = figures_store.of_inventory(connection, inventory_id)
    if meta.status != "validated" or row is None:
        raise Refusal(
            409,
            "seul un inventaire validé s'exporte : validez d'abord ce brouillon dans la revue",
            "only a validated inventory can be exported: validate this draft in the review first",
        )
    figures = metrics.from_json(row.data)
    if not figures.products:
        raise Refusal(
            409,
            "cet inventaire validé ne contient aucun produit : il n'y a rien à exporter",
            "this validated inventory holds no product: there is nothing to export",
        )
    header = exports.InventoryHeader(
        organisation=organisation.name,
        siren=organisation.siren,
        organisation_type=organisation.type,
        inventory_id=inventory_id,
        scanned_at=meta.finished_at,
        validated_at=meta.validated_at,
        validated_by=meta.validated_by,
    )
    in_english = english(request)
    writers = {
        "csv": lambda: exports.inventory_csv(header, figures, in_english),
        "ods": lambda: exports.inventory_ods(header, figures, in_english),
        "xlsx": lambda: exports.inventory_xlsx(header, figures, in_english),
        "json": lambda: exports.inventory_json(header, figures),
        "cdx.json": lambda: exports.inventory_cyclonedx(header, figures),
    }
    body = writers[fmt]()
    return _download(
        body, media_type, _file_name(organisation.name, meta.finished_at.date(), extension)
    )


def _export_territory(
    request: Request, user: Any, root_id: int | None, fmt: str, kind: str
) -> Response:
    media_type, extension = _format(fmt, TERRITORY_FORMATS)
    wanted = kind if kind in KINDS else None
    with deps.engine(request).connect() as connection:
        root, members, _loops = dashboards.territory_members(connection, user, root_id)
        rows = dashboards.territory_all_rows(connection, members, wanted)
    in_english = english(request)
    title = "Territory" if in_english else "Territoire"
    if root is not None:
        title = root.name
    if not rows:
        raise Refusal(
            409,
            "aucune organisation dans ce territoire : rien à exporter",
            "no organisation in this territory: nothing to export",
        )
    if fmt == "csv":
        body = exports.territory_csv(title, rows, in_english)
    else:
        body = exports.territory_ods(title, rows, in_english)
    return _download(body, media_type, _file_name(title, date.today(), extension))


@router.get("/territoire/export.{fmt}")
def export_territory(
    request: Request,
    user: WebUser,
    fmt: str,
    type: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Every organisation the reader sees, with its figures, as CSV or ODS."""
    return _export_territory(request, user, None, fmt, type)


@router.get("/organisations/{organisation_id}/territoire/export.{fmt}")
def export_organisation_territory(
    request: Request,
    user: WebUser,
    organisation_id: int,
    fmt: str,
    type: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """An organisation and those below it, with their figures, as CSV or ODS."""
    return _export_territory(request, user, organisation_id, fmt, type)
