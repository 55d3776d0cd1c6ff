"""Every registered probe emits only the channels it declares, and every channel is the contract's.

Two checks. Statically, every `Channel.X` named in a probe's package is declared by a probe of
that package: a code path no test reaches cannot emit elsewhere. At run time, the emitter the
orchestrator gives a probe refuses an undeclared channel (`UndeclaredChannelError`): the local
probes run here on this machine, and each probe's own tests (DNS against knotd, directory against
slapd and Samba) go through `run_probes` or an emitter built with the probe's channels.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from agent.orchestrator import PlannedProbe, run_probes
from fingerprints.catalog import default_catalog
from inventory import ProbeStatus
from inventory.channels import INFORMATIONAL, MATCHABLE, Channel
from probes.base import Emitter, ProbeContext, UndeclaredChannelError
from probes.registry import REGISTRY, ProbeEntry


def _package_of(entry: ProbeEntry) -> Path:
    """A probe's package folder (probes/host/), or its single module (probes/system.py)."""
    spec = importlib.util.find_spec(entry.target.partition(":")[0])
    assert spec is not None and spec.origin is not None, entry.target
    origin = Path(spec.origin)
    return origin.parent if origin.parent.name != "probes" else origin


def _channels_named(path: Path) -> set[Channel]:
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return {
        Channel[node.attr]
        for file in files
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Channel"
        and node.attr in Channel.__members__
    }


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda entry: entry.name)
def test_each_probe_declares_channels_of_the_contract(entry: ProbeEntry) -> None:
    probe = entry.load()
    assert probe.channels, f"{entry.name} declares no channel"
    assert all(isinstance(channel, Channel) for channel in probe.channels)


def test_probe_code_names_only_channels_its_probes_declare() -> None:
    """Statically, per probe package: a code path no test reaches cannot emit elsewhere."""
    declared: dict[Path, set[Channel]] = {}
    for entry in REGISTRY:
        declared.setdefault(_package_of(entry), set()).update(entry.load().channels)
    for path, channels in declared.items():
        named = _channels_named(path)
        assert named, f"{path} names no channel: its probes cannot emit"
        assert named <= channels, f"{path} names {sorted(named - channels)} undeclared"


@pytest.mark.parametrize("name", ["system", "host", "processes"])
def test_local_probes_emit_only_declared_channels_on_this_machine(name: str) -> None:
    """At run time on this real machine, through the orchestrator's enforcing emitter."""
    (entry,) = [entry for entry in REGISTRY if entry.name == name]
    probe = entry.load()
    result = run_probes([PlannedProbe(probe, 60.0)], ProbeContext(hostname="tiebreak-test"))
    (run,) = result.runs
    assert run.error is None or "UndeclaredChannelError" not in run.error, run.error
    assert run.status is ProbeStatus.OK, run.error
    assert result.observations
    assert {o.channel for o in result.observations} <= probe.channels


def test_the_emitter_refuses_an_undeclared_channel_and_a_plain_string() -> None:
    out = Emitter("host", frozenset({Channel.PACKAGE}))
    out.observe(Channel.PACKAGE, "pc", "libreoffice-core")
    with pytest.raises(UndeclaredChannelError, match=r"dns\.mx"):
        out.observe(Channel.DNS_MX, "exemple.fr", "mx.exemple.fr")
    with pytest.raises(UndeclaredChannelError, match="package"):
        out.observe("package", "pc", "firefox-esr")  # type: ignore[arg-type]
    assert [o.value for o in out.observations] == ["libreoffice-core"]


def test_matchers_listen_only_to_matcher_channels_and_every_matcher_channel_is_heard() -> None:
    heard = {
        matcher.channel
        for product in default_catalog().products.values()
        for matcher in product.matchers
    }
    assert not heard & INFORMATIONAL
    # A matcher channel that no catalog entry listens to would list all its evidence as
    # unidentified: each one has at least one matcher.
    assert heard == set(MATCHABLE), sorted(set(MATCHABLE) - heard)
