"""The external mode with the HTTP probe, against the http probe's web lab (tests/http/web_lab.py).

The lab's servers and its Knot DNS live in a network namespace of their own with only a loopback
interface; `run_external` runs in a thread that joined it (`WebLab.call`), so every socket of the
run (the DNS probe's, the HTTP probe's threads') stays inside. Root only, like the lab.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agent.external import ExternalSettings, Target, inventory_path, run_external
from inventory import Inventory
from probes import registry
from probes.http.settings import HttpSettings

pytestmark = [pytest.mark.service, pytest.mark.root]


def _web_lab_module() -> ModuleType:
    """tests/http/web_lab.py, under the name tests/http/conftest.py gives it."""
    path = Path(__file__).parent.parent / "http" / "web_lab.py"
    module: ModuleType = sys.modules["tiebreak_test_loader"].load_helper(
        path, "tiebreak_test_web_lab"
    )
    return module


@pytest.fixture(scope="module")
def web_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A web lab of this module's own (another namespace than tests/http's, if that one runs)."""
    if "http" not in registry.all_names():
        pytest.skip("the http probe is not registered")
    if os.geteuid() != 0:
        pytest.skip("the web lab needs root (network namespace, servers on ports 80 and 443)")
    lab = _web_lab_module()
    missing = lab.missing_tools()
    if missing:
        pytest.skip(f"the web lab needs: {', '.join(missing)}")
    started = lab.start_web_lab(tmp_path_factory.mktemp("external-web-lab"))
    try:
        yield started
    finally:
        started.stop()


def test_external_mode_runs_the_http_probe_and_fills_the_web_columns(
    web_lab: Any, tmp_path: Path
) -> None:
    lab = _web_lab_module()
    targets = [Target(1, "wp.test", "Commune WP"), Target(2, "cf.test", "Commune CF")]
    settings = ExternalSettings(
        nameservers=(lab.DNS_ADDRESS,),
        port=53,
        timeout=1.0,
        probes=("dns", "http"),
        threads=2,
        http=HttpSettings(ca_file=web_lab.ca_file),  # `[http] ca_file`, carried to the probe
    )
    report = web_lab.call(run_external, targets, settings, tmp_path)
    assert report.failed_domains == []
    for target in targets:
        inventory = Inventory.model_validate_json(
            inventory_path(tmp_path, target.organisation, None).read_text(encoding="utf-8")
        )
        assert [(r.name, r.status.value) for r in inventory.probes] == [
            ("dns", "ok"),
            ("http", "ok"),
        ]
        assert {o.probe for o in inventory.observations} == {"dns", "http"}
        assert inventory.summary.observations == len(inventory.observations)
        if target.domain == "wp.test":
            # Verified against the lab's authority: the probe got the settings of the run.
            assert any(o.channel == "tls.issuer" for o in inventory.observations)
    with (tmp_path / "summary.csv").open(encoding="utf-8") as handle:
        rows = {row["domain"]: row for row in csv.DictReader(handle)}
    # Self-hosted WordPress: a CMS, no hosting service, no CDN.
    assert (rows["wp.test"]["cms"], rows["wp.test"]["web_host"], rows["wp.test"]["cdn"]) == (
        "WordPress (self-hosted)",
        "",
        "",
    )
    # A Shopify shop behind Cloudflare: Shopify both hosts the site and is its CMS.
    assert rows["cf.test"]["cdn"] == "Cloudflare CDN / reverse proxy"
    assert "Shopify" in rows["cf.test"]["cms"]
    assert "Shopify" in rows["cf.test"]["web_host"]
    assert lab.DECOY_ADDRESS not in {r["address"] for r in web_lab.requests()}
