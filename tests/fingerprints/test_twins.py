"""Twins: a process or a service that no matcher of its own channel knows is looked up under the
other channel's name for the same program, as weak evidence."""

from __future__ import annotations

from typing import Any

import pytest

from fingerprints.catalog import load_catalog
from fingerprints.engine import Engine, twin_values
from inventory import Confidence, Observation, Usage

AGENT = """
[vendor]
id = "acme"
name = "Acme"
legal_name = "Acme Corporation"
country = "US"
website = "https://acme.example"

[vendor.sources]
country = "test fixture"

[[products]]
id = "acme-agent"
name = "Acme Agent"
category = "poste-de-travail"
domain = "securite"
licence = "proprietary"
open_source = false
deployment = "on-premise"

[[products.matchers]]
channel = "process"
kind = "regex"
pattern = 'acmed(?:\\.exe)?'
match = ["acmed", "AcmeD.exe"]
no_match = ["acmed-helper"]

[[products.matchers]]
channel = "service"
kind = "exact"
pattern = "AcmeUpdater"
match = ["AcmeUpdater"]
no_match = ["AcmeUpdater2"]

[[products]]
id = "acme-backup"
name = "Acme Backup"
category = "infrastructure"
domain = "sauvegarde"
licence = "proprietary"
open_source = false
deployment = "on-premise"

[[products.matchers]]
channel = "service"
kind = "exact"
pattern = "acmebackup"
require = { source = "systemd" }
match = [{ value = "acmebackup", source = "systemd" }]
no_match = ["acmebackup"]

[[products]]
id = "acme-shell"
name = "Acme Shell server"
category = "infrastructure"
domain = "systeme"
licence = "proprietary"
open_source = false
deployment = "on-premise"

[[products.matchers]]
channel = "service"
kind = "regex"
pattern = "ashd?"
match = ["ash", "ashd"]
no_match = ["bash"]

[[products.matchers]]
channel = "process"
kind = "exact"
pattern = "ashd"
match = ["ashd"]
no_match = ["ash"]
"""


def seen(channel: str, value: str, **attributes: Any) -> Observation:
    return Observation.make("host", channel, "poste-1", value, attributes)


@pytest.fixture
def engine(catalog_dir: Any) -> Engine:
    return Engine(load_catalog(catalog_dir({"acme": AGENT})))


def test_a_service_named_after_a_known_executable_is_weak_evidence(engine: Engine) -> None:
    service = seen("service", "AcmeD", source="windows")
    found = engine.analyse([service])
    (finding,) = found.findings
    assert finding.product == "acme-agent"
    assert finding.confidence is Confidence.WEAK
    assert finding.usage is Usage.PARTIAL
    assert finding.evidence == [service.id]
    assert finding.matched == ["service → process regex acmed(?:\\.exe)?"]
    assert found.unidentified == []


@pytest.mark.parametrize("process", ["AcmeUpdater.exe", "acmeupdater"])
def test_a_process_named_after_a_known_service_is_weak_evidence(
    engine: Engine, process: str
) -> None:
    found = engine.analyse([seen("process", process)])
    (finding,) = found.findings
    assert finding.product == "acme-agent"
    assert finding.confidence is Confidence.WEAK
    assert finding.matched == ["process → service exact AcmeUpdater"]


def test_own_channel_first_and_strong_evidence_stays_strong(engine: Engine) -> None:
    process = seen("process", "acmed")
    service = seen("service", "acmed")
    (finding,) = engine.analyse([process, service]).findings
    assert finding.confidence is Confidence.STRONG
    assert finding.evidence == [process.id, service.id]
    assert finding.matched == [
        "process regex acmed(?:\\.exe)?",
        "service → process regex acmed(?:\\.exe)?",
    ]


def test_no_twin_for_look_alikes_nor_for_matchers_with_a_require(engine: Engine) -> None:
    helper = seen("service", "acmed-helper")
    backup = seen("process", "acmebackup")  # the service matcher needs source = systemd
    found = engine.analyse([helper, backup])
    assert found.findings == []
    assert found.unidentified == [helper.id, backup.id]


def test_a_name_the_catalog_refuses_on_its_own_channel_gets_no_twin(engine: Engine) -> None:
    """The process `ash` (the client) is a `no_match` of the server's process matcher: its twin
    service `ash` (the server's unit) must not make it the server."""
    client = seen("process", "ash")
    found = engine.analyse([client])
    assert found.findings == []
    assert found.unidentified == [client.id]
    (server,) = engine.analyse([seen("process", "ashd")]).findings
    assert server.product == "acme-shell"


def test_other_channels_have_no_twin(engine: Engine) -> None:
    package = seen("package", "acmed", source="dpkg")
    found = engine.analyse([package])
    assert found.findings == []
    assert found.unidentified == [package.id]


def test_twin_values() -> None:
    assert twin_values("process", "AteraAgent.exe") == ("AteraAgent",)
    assert twin_values("process", "tailscaled") == ("tailscaled",)
    assert twin_values("process", ".exe") == (".exe",)
    assert twin_values("service", "tailscaled") == ("tailscaled", "tailscaled.exe")
    assert twin_values("service", "  ") == ()
    assert twin_values("package", "x") == ()
