"""Tenant isolation over every route: nothing of organisation B is reachable from organisation A.

The routes come from the application itself, so a new route is covered the day it is added: it
either refuses A's callers (401, 403, 404, or 422 for a body it does not understand) or answers
without any of B's data. Only the routes listed in PUBLIC may skip the check, and they carry no
organisation data.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select

from server import db

PUBLIC = {
    ("GET", "/api/v1/health"),
    ("POST", "/api/v1/session"),
    ("GET", "/api/v1/session"),
    ("DELETE", "/api/v1/session"),
    ("GET", "/api/v1/docs"),
}
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/inventories/{inventory_id}/review"): {"status": "rejected"},
}


def test_nothing_of_b_is_reachable_from_a_on_any_route(api: Any, make_inventory: Any) -> None:
    b_inventory = make_inventory(api.b.name, api.b.siren, findings=2)
    assert api.send(b_inventory, api.b.token).status_code == 201
    assert api.send(make_inventory(api.a.name, api.a.siren), api.a.token).status_code == 201
    markers = [str(b_inventory.id), api.b.name, str(api.b.siren), f'"organisation_id":{api.b.id}']
    values = {"inventory_id": str(b_inventory.id), "organisation_id": str(api.b.id)}
    bodies = {
        ("POST", "/api/v1/inventories"): b_inventory.to_json().encode(),
    }
    callers = {
        "anonymous": api.client,
        "a-token": api.client,
        "a-reviewer": api.session(api.a.reviewer),
        "a-viewer": api.session(api.a.viewer),
    }
    checked = set()
    for context in iter_route_contexts(api.app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.path_format.startswith("/api/"):
            continue
        for method in sorted(route.methods):
            if (method, context.path_format) in PUBLIC:
                continue
            path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], context.path_format)
            query = {
                p.name: values[p.name] for p in route.dependant.query_params if p.name in values
            }
            raw = bodies.get((method, context.path_format))
            if raw is None:
                raw = json.dumps(BODIES.get((method, context.path_format), {})).encode()
            for who, client in callers.items():
                headers = {"Content-Type": "application/json"}
                if who == "a-token":
                    headers["Authorization"] = f"Bearer {api.a.token}"
                answer = client.request(method, path, params=query, content=raw, headers=headers)
                where = f"{who} {method} {path}"
                assert answer.status_code < 500, where
                if answer.status_code < 400:
                    text = answer.text.replace(" ", "")
                    assert not [m for m in markers if m in text], f"{where} leaks B: {text[:300]}"
                else:
                    assert answer.status_code in (401, 403, 404, 422), where
            checked.add((method, context.path_format))
    assert ("POST", "/api/v1/inventories") in checked
    assert ("GET", "/api/v1/inventories/{inventory_id}/findings") in checked
    assert len(checked) >= 7
    with api.engine.connect() as connection:
        status = connection.scalar(
            select(db.inventories.c.status).where(db.inventories.c.id == str(b_inventory.id))
        )
    assert status == "draft"
    b_reviewer = api.session(api.b.reviewer)
    assert b_reviewer.get(f"/api/v1/inventories/{b_inventory.id}").status_code == 200
