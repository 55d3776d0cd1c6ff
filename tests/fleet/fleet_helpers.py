"""Helpers of the fleet probe's tests, loaded by conftest.py as `tiebreak_test_fleet_helpers`.

`scan(**settings)` runs the real `FleetProbe` the way `tiebreak scan` does (in the orchestrator's
thread, its declared channels enforced, under a timeout) and builds the inventory with
`agent.build`, so each test checks what a collectivité would send. `derived_xml` writes
inventories made from the published FusionInventory sample with other identifiers, OS and
programs, for the tests that need many machines.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from agent.build import Built, build_inventory
from agent.orchestrator import PlannedProbe, run_probes
from inventory import Finding, Organisation, ProbeRun, Scope
from probes.base import ProbeContext
from probes.fleet.probe import FleetProbe
from probes.fleet.settings import FleetSettings

FIXTURES = Path(__file__).with_name("fixtures")
PUBLISHED = FIXTURES / "published"
TEMPLATE = PUBLISHED / "inventory_format-tests-data-2.xml"
KEY = bytes(range(32))


class FleetScan:
    """What one run of the fleet probe produced."""

    def __init__(self, run: ProbeRun, built: Built) -> None:
        self.run = run
        self.built = built
        self.inventory = built.inventory
        self.json = built.inventory.to_json()

    def finding(self, product: str, locus: str = "parc") -> Finding:
        """The finding of `product` at the fleet's locus."""
        found = [f for f in self.inventory.findings if f.product == product and f.locus == locus]
        assert found, f"no {product} finding; have {sorted(self.products())}"
        return found[0]

    def products(self) -> set[str]:
        return {f.product for f in self.inventory.findings}

    def observed(self, channel: str) -> dict[str, dict[str, object]]:
        """Observations of `channel`: value -> attributes."""
        return {
            o.value: dict(o.attributes) for o in self.inventory.observations if o.channel == channel
        }

    def notes(self) -> str:
        return "\n".join(self.run.notes)


def scan(probe_timeout: float = 120.0, **settings: object) -> FleetScan:
    """Run the fleet probe on `FleetSettings(**settings)` and build the inventory."""
    settings.setdefault("pseudonym_key", KEY)
    context = ProbeContext(hostname="agent-test", fleet=FleetSettings(**settings))  # type: ignore[arg-type]
    started = datetime.now(UTC)
    result = run_probes([PlannedProbe(FleetProbe(), probe_timeout)], context)
    (run,) = result.runs
    built = build_inventory(
        Organisation(name="Commune de Test"),
        Scope(),
        result.runs,
        result.observations,
        started,
        hostname="agent-test",
    )
    return FleetScan(run, built)


def derived_xml(
    name: str,
    os_name: str,
    kernel: str,
    programs: list[tuple[str, str, str]],
    template: str | None = None,
) -> str:
    """The published Windows 8.1 inventory with another machine's identity, OS and programs
    (name, version, publisher); everything else (hardware, antivirus…) stays as published."""
    text = template if template is not None else TEMPLATE.read_text(encoding="utf-8")
    digest = hashlib.sha256(name.encode()).hexdigest().upper()
    uuid = f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
    text = text.replace("33E737A8-F827-11DF-9297-47C0A301005A", uuid)
    text = text.replace("CZC0479792", f"SN-{name}")
    text = text.replace("pc-arg-23", name)
    text = text.replace("Microsoft Windows 8.1 Professionnel", escape(os_name))
    text = text.replace("6.3.9600", kernel)
    softwares = "".join(
        f"<SOFTWARES><NAME>{escape(program)}</NAME><PUBLISHER>{escape(publisher)}</PUBLISHER>"
        f"<VERSION>{escape(version)}</VERSION><FROM>registry</FROM></SOFTWARES>\n"
        for program, version, publisher in programs
    )
    text, replaced = re.subn(r"(?s)    <SOFTWARES>.*</SOFTWARES>\n", softwares, text)
    assert replaced == 1
    return text
