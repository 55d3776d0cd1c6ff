"""Generate the inventory's JSON Schema from the models.

`python -m inventory.schema > docs/inventory.schema.json` refreshes the committed copy;
a test fails when the two disagree.
"""

from __future__ import annotations

import json
from typing import Any

from inventory.models import SCHEMA_VERSION, Inventory


def inventory_schema() -> dict[str, Any]:
    """Return the JSON Schema of an inventory, as the server validates it."""
    schema = Inventory.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://tiebreak.invalid/schema/inventory-{SCHEMA_VERSION}.json"
    return schema


def render() -> str:
    """Render the schema as the committed file holds it."""
    return json.dumps(inventory_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
