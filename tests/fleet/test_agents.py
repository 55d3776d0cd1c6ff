"""Real inventories, produced in the test by Debian's agents on this machine.

`fusioninventory-agent --local DIR` (FusionInventory 2.6) and `ocsinventory-agent --local=DIR`
(OCS Inventory NG Unix agent 2.10) write this machine's inventory as XML; the fleet probe reads
them. Some data (dmidecode's serial numbers) needs root, which CI has; a missing agent skips its
test with the package to install. FusionInventory keeps its device id in its own state folder
(/var/lib/fusioninventory-agent), as it does when installed; the OCS agent's goes in a temporary
folder (`--basevardir`).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

helpers = sys.modules["tiebreak_test_fleet_helpers"]


def _require(command: str, package: str) -> str:
    found = shutil.which(command)
    if found is None:
        pytest.skip(f"{command} absent : apt-get install {package}")
    return found


def _installed_packages() -> set[str]:
    listing = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Status}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("\t")[0] for line in listing.splitlines() if line.endswith("\tinstalled")}


def _identifiers(inventory: str) -> list[str]:
    """This machine's identifying values as the agent wrote them."""
    found = [socket.gethostname()]
    for tag in ("NAME", "DEVICEID", "IPADDR", "UUID", "SSN", "FQDN", "DEFAULTGATEWAY"):
        found += re.findall(rf"<{tag}>([^<]{{3,}})</{tag}>", inventory)[:1]
    return [value for value in found if value.strip()]


def _check_machine(scan: object, inventory_text: str, expected_format: str) -> None:
    assert scan.run.status == "ok", scan.run.error  # type: ignore[attr-defined]
    (source,) = scan.observed("fleet.source").values()  # type: ignore[attr-defined]
    assert source["count"] == 1 and source["formats"] == {expected_format: 1}
    assert list(scan.observed("os")) == ["debian"]  # type: ignore[attr-defined]
    packages = set(scan.observed("package"))  # type: ignore[attr-defined]
    installed = _installed_packages()
    # The agents read dpkg: the programs are this machine's packages.
    assert len(packages & installed) >= 0.95 * len(installed), sorted(installed - packages)[:20]
    assert "openssh" in scan.products()  # type: ignore[attr-defined]  # openssh-server
    # Both agents write `FROM deb`: the packages carry dpkg as their source, as the host probe's.
    assert scan.observed("package")["openssh-server"]["source"] == "dpkg"  # type: ignore[attr-defined]
    inventory = scan.json  # type: ignore[attr-defined]
    for value in _identifiers(inventory_text):
        assert f'"{value}"' not in inventory and f'"{value}.' not in inventory, value


def _fusion_export(tmp_path: Path) -> Path:
    """This machine's inventory as `fusioninventory-agent --local` writes it; the file's path."""
    agent = _require("fusioninventory-agent", "fusioninventory-agent")
    exports = tmp_path / "fusion"
    exports.mkdir()
    config = tmp_path / "agent.cfg"
    config.write_text("", encoding="utf-8")
    subprocess.run(
        [agent, "--local", str(exports), "--tasks", "inventory", "--no-httpd",
         "--conf-file", str(config), "--logger", "stderr", "--backend-collect-timeout", "60"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (written,) = exports.iterdir()
    return written


def test_fusioninventory_agent_local_inventory_is_read(tmp_path: Path) -> None:
    written = _fusion_export(tmp_path)
    scan = helpers.scan(folders=(written.parent,))
    _check_machine(scan, written.read_text(encoding="utf-8"), "fusioninventory-xml")


def test_ocsinventory_agent_local_inventory_is_read(tmp_path: Path) -> None:
    agent = _require("ocsinventory-agent", "ocsinventory-agent")
    exports = tmp_path / "ocs"
    exports.mkdir()
    state = tmp_path / "ocs-state"
    state.mkdir()
    subprocess.run(
        [agent, f"--local={exports}", f"--basevardir={state}", "--backend-collect-timeout", "60"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (written,) = exports.iterdir()
    scan = helpers.scan(folders=(exports,))
    _check_machine(scan, written.read_text(encoding="utf-8"), "ocs-xml")


def test_both_agents_on_the_same_machine_count_one_machine(tmp_path: Path) -> None:
    fusion = _require("fusioninventory-agent", "fusioninventory-agent")
    ocs = _require("ocsinventory-agent", "ocsinventory-agent")
    exports = tmp_path / "exports"
    exports.mkdir()
    config = tmp_path / "agent.cfg"
    config.write_text("", encoding="utf-8")
    subprocess.run(
        [fusion, "--local", str(exports), "--tasks", "inventory", "--no-httpd",
         "--conf-file", str(config), "--backend-collect-timeout", "60"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    subprocess.run(
        [ocs, f"--local={exports}", f"--basevardir={tmp_path}", "--backend-collect-timeout", "60"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    scan = helpers.scan(folders=(exports,))
    (source,) = scan.observed("fleet.source").values()
    # Both agents identify this machine alike (firmware UUID, else its name): counted once.
    assert (source["count"], source["duplicates"], source["files"]) == (1, 1, 2)


def test_package_manager_of_a_fleet_package_is_its_source(tmp_path: Path) -> None:
    """A snap named `slack` is Salesforce's Slack; Debian's `slack` (a configuration tool) is
    not. The catalog tells them apart by the package's source, which a fleet file gives as
    `FROM`: the real FusionInventory inventory of this machine, with one program added."""
    written = _fusion_export(tmp_path)
    real = written.read_text(encoding="utf-8")
    assert "<FROM>deb</FROM>" in real
    found = {}
    for origin in ("snap", "deb"):
        folder = tmp_path / origin
        folder.mkdir()
        program = (
            f"<SOFTWARES><NAME>slack</NAME><VERSION>4.41.105</VERSION>"
            f"<FROM>{origin}</FROM></SOFTWARES>"
        )
        (folder / written.name).write_text(
            real.replace("<SOFTWARES>", program + "<SOFTWARES>", 1), encoding="utf-8"
        )
        scan = helpers.scan(folders=(folder,))
        assert (
            scan.observed("package")["slack"]["source"] == {"snap": "snap", "deb": "dpkg"}[origin]
        )
        found[origin] = "slack" in scan.products()
    assert found == {"snap": True, "deb": False}
