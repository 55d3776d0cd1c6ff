"""Figures kept at validation: estimates only from sourced prices, trajectories without the noise
of unchanged scans, territories that sum their organisations, and loops in parent links."""

from __future__ import annotations

import html
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from fingerprints.catalog import default_catalog
from fingerprints.engine import default_engine
from inventory import Agent, Finding, Inventory, Organisation
from server import admin, auth, dashboards, db, metrics, review
from server.admin import Role
from server.errors import Refusal
from server.store import metrics as figures_store


def _admin(api: Any) -> auth.User:
    with api.engine.connect() as connection:
        row = connection.execute(select(db.users).where(db.users.c.username == "admin")).one()
    return auth.User(row.id, row.username, Role(row.role), None)


def _finding(product: str, locus: str = "commune.example") -> Finding:
    return default_engine().describe(product, locus)


def _inventory(name: str, siren: str | None, when: datetime, products: list[str]) -> Inventory:
    return Inventory(
        id=uuid.uuid4(),
        organisation=Organisation(name=name, siren=siren),
        agent=Agent(version="0.1.0", hostname="poste-test"),
        started_at=when,
        finished_at=when,
        findings=[_finding(product) for product in products],
    )


def _validated(api: Any, tenant: Any, when: datetime, products: list[str]) -> str:
    inventory = _inventory(tenant.name, tenant.siren, when, products)
    answer = api.send(inventory, tenant.token)
    assert answer.status_code in (200, 201), answer.text
    assert review.validate(api.engine, _admin(api), str(inventory.id))
    return str(inventory.id)


def _priced(unit: str | None) -> str:
    """A catalog product with a sourced price per `unit` (None: one marked not estimable)."""
    for product in default_catalog().products.values():
        price = product.price
        if price is None:
            continue
        if unit is None and price.not_estimable:
            return product.id
        if unit is not None and price.unit == unit and price.eur_per_year:
            return product.id
    raise AssertionError(f"the catalog has no product priced per {unit}")


def _unpriced() -> str:
    for product in default_catalog().products.values():
        if product.price is None:
            return product.id
    raise AssertionError("every product has a price")


def _entry(product: str, **decided: Any) -> dict[str, Any]:
    finding = _finding(product).model_dump(mode="json")
    return {"key": finding["id"], "origin": "scan", "state": "confirmed", **finding, **decided}


# --- Estimates --------------------------------------------------------------------------------


def test_estimates_come_only_from_sourced_prices_and_stay_apart_from_validated_euros() -> None:
    per_user, unpriced, not_estimable = _priced("user"), _unpriced(), _priced(None)
    price = default_catalog().products[per_user].price
    assert price is not None and price.eur_per_year is not None
    figures = metrics.compute(
        [
            _entry(per_user, licences=212),
            _entry(unpriced),
            _entry(not_estimable),
            _entry("libreoffice", annual_cost_eur=1500.0),
        ]
    )
    lines = {line.product: line for line in figures.products}
    estimate = lines[per_user].estimate
    assert estimate.status == "estimated"
    assert estimate.eur == pytest.approx(round(price.eur_per_year * 212, 2))
    assert estimate.count == 212 and estimate.count_source == "person"
    explained = estimate.explain()
    assert "212" in explained and "nombre saisi par une personne" in explained
    assert price.source in explained
    assert lines[unpriced].estimate.status == "no-price" and lines[unpriced].estimated_eur is None
    assert lines[not_estimable].estimate.status == "not-estimable"
    assert "non estimable" in lines[not_estimable].estimate.explain()
    assert lines["libreoffice"].estimate.status == "validated"
    assert lines["libreoffice"].validated_eur == 1500.0
    assert figures.total_validated == 1500.0
    assert figures.total_estimated == pytest.approx(estimate.eur)


def test_a_user_price_without_any_count_asks_for_one_instead_of_guessing() -> None:
    per_user = _priced("user")
    line = metrics.compute([_entry(per_user)]).products[0]
    assert line.estimate.status == "no-count"
    assert line.estimated_eur is None
    assert "saisissez le nombre" in line.estimate.explain()


def test_a_directory_count_of_users_is_used_when_nobody_entered_one() -> None:
    per_user = _priced("user")
    directory = _entry("active-directory") | {"attributes": {"users": 340}}
    line = next(
        line
        for line in metrics.compute([_entry(per_user), directory]).products
        if line.product == per_user
    )
    assert line.estimate.status == "estimated"
    assert (line.estimate.count, line.estimate.count_source) == (340, "directory")


def test_a_reviewers_criticality_moves_the_index() -> None:
    before = metrics.compute([_entry("microsoft-365")]).index["overall"]
    after = metrics.compute([_entry("microsoft-365", criticality="low")]).index["overall"]
    assert after < before


def test_figures_survive_their_json_round_trip() -> None:
    figures = metrics.compute([_entry(_priced("user"), licences=10), _entry("libreoffice")])
    again = metrics.from_json(metrics.to_json(figures))
    assert again.signature == figures.signature
    assert [line.as_json() for line in again.products] == [
        line.as_json() for line in figures.products
    ]


# --- Trajectory -------------------------------------------------------------------------------


def test_unchanged_scans_extend_a_point_and_a_change_adds_one(api: Any) -> None:
    products = ["microsoft-365", "exchange-online", "libreoffice"]
    first = _validated(api, api.a, datetime(2026, 1, 10, tzinfo=UTC), products)
    _validated(api, api.a, datetime(2026, 2, 10, tzinfo=UTC), products)
    third = _validated(api, api.a, datetime(2026, 5, 10, tzinfo=UTC), ["libreoffice"])
    with api.engine.connect() as connection:
        board = dashboards.organisation_dashboard(connection, _admin(api), api.a.id)
    assert [point.inventory_id for point in board.points] == [first, third]
    assert board.points[0].unchanged_until is not None
    assert board.points[0].unchanged_until.isoformat() == "2026-02-10"
    assert board.validated_count == 3
    assert board.current is not None and board.current.inventory_id == third
    assert board.change is not None
    gone = {line.product for line in board.change.disappeared}
    assert gone == {"microsoft-365", "exchange-online", "entra-id"} & gone
    assert "microsoft-365" in gone
    assert board.change.index_after is not None and board.change.index_before is not None
    assert board.change.index_after < board.change.index_before


def test_reopening_a_validated_inventory_drops_its_figures(api: Any) -> None:
    first = _validated(api, api.a, datetime(2026, 1, 10, tzinfo=UTC), ["microsoft-365"])
    second = _validated(api, api.a, datetime(2026, 3, 10, tzinfo=UTC), ["libreoffice"])
    review.set_status(api.engine, _admin(api), second, "draft")
    with api.engine.connect() as connection:
        board = dashboards.organisation_dashboard(connection, _admin(api), api.a.id)
    assert board.current is not None and board.current.inventory_id == first
    assert [point.inventory_id for point in board.points] == [first]


def test_figures_of_inventories_validated_before_dashboards_are_filled_in(api: Any) -> None:
    inventory_id = _validated(api, api.a, datetime(2026, 1, 10, tzinfo=UTC), ["microsoft-365"])
    with db.write_transaction(api.engine) as connection:
        connection.execute(delete(db.vendor_metrics))
        connection.execute(delete(db.inventory_metrics))
    assert dashboards.fill_missing(api.engine) == 1
    assert dashboards.fill_missing(api.engine) == 0
    with api.engine.connect() as connection:
        board = dashboards.organisation_dashboard(connection, _admin(api), api.a.id)
    assert board.current is not None and board.current.inventory_id == inventory_id


# --- Territories ------------------------------------------------------------------------------


def test_a_territory_sums_its_organisations_and_lists_those_without_figures(api: Any) -> None:
    parent_id, _token = admin.create_organisation(api.engine, "Métropole Test", None)
    admin.set_parent(api.engine, str(api.a.id), str(parent_id))
    admin.set_parent(api.engine, str(api.b.id), str(parent_id))
    admin.create_organisation(api.engine, "Commune sans inventaire", None, parent=str(parent_id))
    _validated(api, api.a, datetime(2026, 1, 10, tzinfo=UTC), ["microsoft-365", "exchange-online"])
    _validated(api, api.b, datetime(2026, 4, 20, tzinfo=UTC), ["libreoffice", "microsoft-365"])
    with api.engine.connect() as connection:
        view = dashboards.territory(connection, _admin(api), parent_id)
        boards = [
            dashboards.organisation_dashboard(connection, _admin(api), org)
            for org in (api.a.id, api.b.id)
        ]
    indexes = [board.figures.index["overall"] for board in boards if board.figures]
    assert view.totals.organisations == 4
    assert view.totals.with_figures == 2
    assert view.totals.index == pytest.approx(sum(indexes) / 2)
    assert sum(view.distribution.values()) == 2
    by_vendor = {row.vendor: row.organisations for row in view.vendors_by_organisations}
    assert by_vendor["microsoft"] == 2
    assert by_vendor["the-document-foundation"] == 1
    missing = [row.name for row in view.organisations if row.inventory_id is None]
    assert sorted(missing) == ["Commune sans inventaire", "Métropole Test"]
    assert [point.organisations for point in view.points] == [1, 2]
    assert view.points[-1].index == pytest.approx(round(sum(indexes) / 2, 1))
    with api.engine.connect() as connection:
        epci = dashboards.territory(connection, _admin(api), parent_id, kind="epci").totals
    assert epci.organisations == 0


def test_a_reviewer_of_a_parent_sees_its_territory_but_not_another(api: Any) -> None:
    parent_id, _token = admin.create_organisation(api.engine, "EPCI Test", None)
    admin.set_parent(api.engine, str(api.a.id), str(parent_id))
    admin.create_user(api.engine, "epci", api.password, Role.REVIEWER, [str(parent_id)])
    with api.engine.connect() as connection:
        user = auth.User(0, "epci", Role.REVIEWER, frozenset({parent_id, api.a.id}))
        assert dashboards.territory(connection, user, parent_id).totals.organisations == 2
        with pytest.raises(Refusal) as refused:
            dashboards.territory(connection, user, api.b.id)
    assert refused.value.status == 404


def test_a_loop_in_parent_links_is_refused_and_named(api: Any) -> None:
    with pytest.raises(admin.AdminError) as refused:
        admin.set_parent(api.engine, str(api.a.id), str(api.a.id))
    assert "boucle" in str(refused.value)
    admin.set_parent(api.engine, str(api.b.id), str(api.a.id))
    with pytest.raises(admin.AdminError):
        admin.set_parent(api.engine, str(api.a.id), str(api.b.id))
    # A loop written behind the tool's back (an import, a hand edit) gets a clear message.
    with db.write_transaction(api.engine) as connection:
        connection.execute(
            update(db.organisations)
            .where(db.organisations.c.id == api.a.id)
            .values(parent_id=api.b.id)
        )
    with api.engine.connect() as connection:
        with pytest.raises(Refusal) as loop:
            dashboards.territory(connection, _admin(api), api.a.id)
        national = dashboards.territory(connection, _admin(api), None)
    assert loop.value.status == 409
    assert api.a.name in loop.value.french and "boucle" in loop.value.french
    assert sorted(national.cycles[0]) == sorted([api.a.name, api.b.name])


# --- Pages and downloads: clear messages, never a 500 -------------------------------------------


def test_exports_refuse_drafts_empty_inventories_and_unknown_formats_with_a_message(
    api: Any,
) -> None:
    client = api.session(api.a.reviewer)
    draft = _inventory(api.a.name, api.a.siren, datetime(2026, 1, 10, tzinfo=UTC), ["zoom"])
    assert api.send(draft, api.a.token).status_code == 201
    answer = client.get(f"/inventaires/{draft.id}/export.csv")
    assert answer.status_code == 409
    assert "seul un inventaire validé s'exporte" in html.unescape(answer.text)
    empty = _validated(api, api.a, datetime(2026, 2, 10, tzinfo=UTC), [])
    answer = client.get(f"/inventaires/{empty}/export.ods")
    assert answer.status_code == 409
    assert "ne contient aucun produit" in answer.text
    full = _validated(api, api.a, datetime(2026, 3, 10, tzinfo=UTC), ["zoom"])
    answer = client.get(f"/inventaires/{full}/export.pdf")
    assert answer.status_code == 404
    assert "format d'export inconnu" in html.unescape(answer.text)
    answer = client.get(f"/inventaires/{full}/export.csv")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    assert "Zoom" in answer.content.decode("utf-8-sig")


def test_pages_say_when_nothing_is_validated_and_speak_english_on_request(api: Any) -> None:
    client = api.session(api.a.viewer)
    page = client.get(f"/organisations/{api.a.id}")
    assert page.status_code == 200
    assert "Aucun inventaire validé" in page.text
    _validated(api, api.a, datetime(2026, 1, 10, tzinfo=UTC), ["microsoft-365", "libreoffice"])
    english = client.get(f"/organisations/{api.a.id}", headers={"Accept-Language": "en"})
    if "Dependency index" not in english.text:  # the reader's choice is a cookie, not a header
        client.get("/langue", params={"l": "en", "suivant": f"/organisations/{api.a.id}"})
        english = client.get(f"/organisations/{api.a.id}")
    assert "Dependency index" in english.text and "How the index is computed" in english.text
    assert client.get(f"/organisations/{api.b.id}").status_code == 404
    territory = client.get("/territoire")
    assert territory.status_code == 200
    assert api.a.name in territory.text and api.b.name not in territory.text


def test_hostile_names_are_shown_as_text_on_dashboards(api: Any) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    parent_id, _token = admin.create_organisation(api.engine, hostile, None)
    admin.set_parent(api.engine, str(api.a.id), str(parent_id))
    _validated(api, api.a, datetime(2026, 1, 10, tzinfo=UTC), ["zoom"])
    page = api.session("admin").get(f"/organisations/{parent_id}/territoire")
    assert page.status_code == 200
    assert hostile not in page.text
    assert "&lt;script&gt;alert(" in page.text


def test_a_territory_of_tens_of_thousands_of_members_is_one_parameter(api: Any) -> None:
    # An IN list of 40,000 bound parameters breaks SQLite (32,766) and slows PostgreSQL down.
    _validated(api, api.a, datetime(2026, 1, 10, tzinfo=UTC), ["zoom"])
    members = frozenset(range(1, 40_001))
    with api.engine.connect() as connection:
        totals = figures_store.territory_totals(connection, members)
        vendors = figures_store.territory_vendors(connection, members)
    assert (totals.organisations, totals.with_figures) == (2, 1)
    assert [row.vendor for row in vendors] == ["zoom"]


def _live_and_kept(api: Any) -> list[tuple[int, Any, Any]]:
    """For every territory (each organisation's, and everyone's): its vendors summed from the
    current rows now, and as kept at validation."""
    from server.store import organisations as org_store

    def shape(rows: Any) -> dict[str, tuple[int, int, float, float]]:
        return {
            row.vendor: (
                row.organisations,
                row.products,
                round(row.euros_validated, 2),
                round(row.euros_estimated, 2),
            )
            for row in rows
        }

    found = []
    with api.engine.connect() as connection:
        roots = [row.id for row in org_store.listing(connection)]
        for root in [*roots, figures_store.EVERYONE]:
            members = None if root == 0 else org_store.descendants(connection, [root])
            live = shape(figures_store.territory_vendors(connection, members))
            kept = shape(figures_store.territory_vendor_totals(connection, [root]))
            found.append((root, live, kept))
    return found


def test_territory_vendor_totals_kept_at_validation_match_the_current_rows(api: Any) -> None:
    parent_id, _token = admin.create_organisation(api.engine, "Région Test", None)
    epci_id, _token = admin.create_organisation(
        api.engine, "EPCI Test", None, parent=str(parent_id)
    )
    admin.set_parent(api.engine, str(api.a.id), str(epci_id))
    when = datetime(2026, 1, 10, tzinfo=UTC)
    _validated(api, api.a, when, ["microsoft-365", "zoom", "libreoffice"])
    _validated(api, api.b, when, ["zoom", "firefox"])
    assert dashboards.recompute(api.engine) == 2  # every figure written again
    _validated(api, api.a, datetime(2026, 4, 10, tzinfo=UTC), ["zoom", "libreoffice"])
    admin.set_parent(api.engine, str(api.b.id), str(epci_id))  # B's subtree joins the EPCI
    later = _validated(api, api.b, datetime(2026, 6, 1, tzinfo=UTC), ["firefox"])
    review.set_status(api.engine, _admin(api), later, "draft")  # B back to its first inventory
    admin.set_parent(api.engine, str(epci_id), None)  # the EPCI leaves the région
    for root, live, kept in _live_and_kept(api):
        assert kept == live, f"territory {root}"
    with api.engine.connect() as connection:
        everyone = {
            row.vendor: row for row in figures_store.territory_vendor_totals(connection, [0])
        }
        region = figures_store.territory_vendor_totals(connection, [parent_id])
    assert everyone["zoom"].organisations == 2
    assert region == []
    # A reader of two separate territories gets their kept totals, summed.
    with api.engine.connect() as connection:
        from server.store import organisations as org_store

        visible = org_store.descendants(connection, [epci_id, parent_id])
        reader = auth.User(0, "lecteur", Role.VIEWER, visible)
        shown = dashboards.territory(connection, reader, None)
        live = figures_store.territory_vendors(connection, visible)
        tops = figures_store.tops(connection, visible)
    assert tops == sorted([epci_id, parent_id])
    assert {row.vendor: row.organisations for row in shown.vendors_by_organisations} == {
        row.vendor: row.organisations for row in live
    }
    # Rebuilding from scratch gives the same totals.
    with db.write_transaction(api.engine) as connection:
        figures_store.rebuild_territory_vendors(connection)
    for root, live, kept in _live_and_kept(api):
        assert kept == live, f"territory {root} after a rebuild"
