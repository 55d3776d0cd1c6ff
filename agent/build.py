"""The one way to turn probe runs into a draft inventory.

`tiebreak scan` (one organisation, the probes of `agent.orchestrator`), the external mode (one
inventory per organisation of a domain file) and, later, the fleet import all hand the same things
to `build_inventory`: who the inventory describes, what the probes were allowed to look at, how
each probe run ended and what they observed. It identifies products (`fingerprints.engine`) and
computes the summary, so every inventory has the same shape whatever produced it.

Observations on a channel the contract does not know are listed as unidentified in the inventory,
like every observation no matcher recognised, so a person sees them there. The per-channel counts
(`Analysis.unknown_channels`) are not part of the inventory format: `Built.unknown_channels` hands
them to the command, which says so on stderr (`unknown_channels_warning`). A probe run note would be
wrong: the channel is not that run's doing alone, and notes are about how a run went.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent import __version__
from inventory import (
    Agent,
    Inventory,
    Observation,
    Organisation,
    ProbeRun,
    ProbeStatus,
    Scope,
    Summary,
)

INCOMPLETE = frozenset({ProbeStatus.FAILED, ProbeStatus.TIMEOUT})
"""Run statuses that make an inventory partial (counted in `Summary.probes_failed`)."""


@dataclass(frozen=True, slots=True)
class Built:
    """An inventory and what the analysis found that the inventory format does not carry."""

    inventory: Inventory
    unknown_channels: dict[str, int] = field(default_factory=dict)
    """Observations per channel the contract does not know (also listed as unidentified)."""

    @property
    def complete(self) -> bool:
        """True when no probe failed or timed out."""
        return not any(run.status in INCOMPLETE for run in self.inventory.probes)


def build_inventory(
    organisation: Organisation,
    scope: Scope,
    runs: Sequence[ProbeRun],
    observations: Sequence[Observation],
    started: datetime,
    finished: datetime | None = None,
    hostname: str = "localhost",
) -> Built:
    """Identify products in `observations` and assemble the inventory with its summary.

    `runs` are the probes' runs in the order they were planned, `observations` theirs in the same
    order; `finished` defaults to the end of the analysis.
    """
    from fingerprints.engine import analyse

    analysis = analyse(observations)
    by_jurisdiction = Counter(f.jurisdiction.value for f in analysis.findings)
    inventory = Inventory(
        organisation=organisation,
        agent=Agent(version=__version__, hostname=hostname),
        started_at=started,
        finished_at=finished or datetime.now(UTC),
        scope=scope,
        probes=list(runs),
        observations=list(observations),
        findings=analysis.findings,
        unidentified=analysis.unidentified,
        summary=Summary(
            observations=len(observations),
            findings=len(analysis.findings),
            unidentified=len(analysis.unidentified),
            probes_failed=sum(run.status in INCOMPLETE for run in runs),
            findings_by_jurisdiction=dict(sorted(by_jurisdiction.items())),
            dependency_index=analysis.dependency_index,
            euros_by_jurisdiction=analysis.euros_by_jurisdiction,
        ),
    )
    return Built(inventory, dict(analysis.unknown_channels))


def unknown_channels_warning(counts: Mapping[str, int]) -> str | None:
    """What to say on stderr about observations on channels the contract does not know."""
    if not counts:
        return None
    listed = ", ".join(f"{channel} ({count})" for channel, count in sorted(counts.items()))
    return (
        f"observations sur des canaux inconnus du contrat, listées comme non identifiées / "
        f"observations on channels the contract does not know, listed as unidentified: {listed}"
    )
