"""GLPI Agent JSON inventories (glpi-project's `inventory_format`), checked against its schema.

GLPI Agent 1.x writes one JSON document per machine (`glpi-agent --local DIR --json`), the format
GLPI ≥ 10 reads natively: `deviceid`, `itemtype`, and `content` with `hardware`, `bios`,
`operatingsystem`, `softwares`, `antivirus`… A document is validated against the schema
glpi-project publishes (`inventory.schema.json` beside this module: glpi-project/inventory_format,
commit d03ff5f0855c8b57ae9fc66f5f76fea6efe1873d, schema last changed in 07ae1085aa58, MIT licence)
before it is read: an invalid one is refused with the path and the reason of the first error.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from probes.fleet.machine import Machine, text
from probes.fleet.xmlinventory import InventoryError

SCHEMA_PATH = Path(__file__).with_name("inventory.schema.json")


@lru_cache(maxsize=1)
def validator() -> Any:
    """The schema's validator (jsonschema's, for the draft the schema names), compiled once."""
    import jsonschema  # type: ignore[import-untyped]

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _schema_error(document: Any) -> str | None:
    """The first schema violation, "path: reason", or None when the document is valid."""
    import jsonschema

    error = jsonschema.exceptions.best_match(validator().iter_errors(document))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(racine / root)"
    return f"{where}: {error.message[:200]}"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def read_json(data: bytes) -> Machine:
    """The machine a GLPI Agent JSON inventory describes; InventoryError when it is not one."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InventoryError(f"JSON illisible / unreadable JSON ({exc})") from None
    except RecursionError:
        raise InventoryError("JSON trop imbriqué / JSON nested too deeply") from None
    try:
        problem = _schema_error(document)
    except ImportError:
        raise InventoryError(
            "jsonschema absent : inventaire JSON non vérifié, donc non lu (pip install "
            "jsonschema) / jsonschema missing: JSON inventory not validated, hence not read"
        ) from None
    if problem is not None:
        raise InventoryError(
            f"non conforme au schéma inventory_format de GLPI / does not follow GLPI's "
            f"inventory_format schema: {problem}"
        )
    itemtype = text(document.get("itemtype")) or "Computer"
    if itemtype != "Computer":
        raise InventoryError(
            f"inventaire d'un « {itemtype} », pas d'un ordinateur / inventory of a "
            f"'{itemtype}', not a computer"
        )
    content = _mapping(document.get("content"))
    machine = Machine(format="glpi-agent-json")
    hardware = _mapping(content.get("hardware"))
    bios = _mapping(content.get("bios"))
    system = _mapping(content.get("operatingsystem"))
    machine.add_identity("uuid", text(hardware.get("uuid")))
    machine.manufacturer = text(bios.get("smanufacturer") or bios.get("mmanufacturer"))
    machine.model = text(bios.get("smodel") or bios.get("mmodel"))
    if text(bios.get("ssn")):
        machine.add_identity("serial", f"{machine.manufacturer}/{text(bios.get('ssn'))}")
    machine.add_identity("name", text(hardware.get("name")))
    machine.add_identity("deviceid", text(document.get("deviceid")))
    machine.vmsystem = text(hardware.get("vmsystem"))
    machine.chassis = text(hardware.get("chassis_type"))
    machine.os_name = text(system.get("full_name") or system.get("name"))
    machine.os_version = text(system.get("version"))
    machine.kernel_name = text(system.get("kernel_name"))
    machine.kernel_version = text(system.get("kernel_version"))
    machine.date = text(_mapping(content.get("accesslog")).get("logdate"))
    for software in _items(content.get("softwares")):
        machine.add_software(
            text(software.get("name")),
            text(software.get("version")),
            text(software.get("publisher")),
            text(software.get("release_type")),
            text(software.get("from")),
        )
    for antivirus in _items(content.get("antivirus")):
        machine.add_antivirus(text(antivirus.get("name")), antivirus.get("enabled") is not False)
    return machine
