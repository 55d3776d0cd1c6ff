"""Turn observations into findings.

Identity stub until the catalog lands: nothing is identified, every observation is kept as
unidentified so that a person can classify it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from inventory import Finding, Observation


@dataclass(slots=True)
class Analysis:
    """Findings, what stayed unidentified, and the organisation-level indexes."""

    findings: list[Finding]
    unidentified: list[str]
    dependency_index: dict[str, float] = field(default_factory=dict)
    euros_by_jurisdiction: dict[str, float] = field(default_factory=dict)


def analyse(observations: Sequence[Observation]) -> Analysis:
    """Identify products in `observations` (stub: identifies none)."""
    return Analysis(findings=[], unidentified=[o.id for o in observations])
