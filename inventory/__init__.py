"""The contract between tiebreak's parts: observations, findings, probe runs, inventories.

Every other package imports this one; it imports none of them.
"""

from inventory.models import (
    SCHEMA_VERSION,
    Agent,
    Category,
    Confidence,
    Criticality,
    Factor,
    Finding,
    Inventory,
    Jurisdiction,
    Observation,
    Organisation,
    OrganisationType,
    ProbeRun,
    ProbeStatus,
    Scope,
    Score,
    Summary,
    Usage,
    observation_id,
    siren_is_valid,
)

__all__ = [
    "SCHEMA_VERSION",
    "Agent",
    "Category",
    "Confidence",
    "Criticality",
    "Factor",
    "Finding",
    "Inventory",
    "Jurisdiction",
    "Observation",
    "Organisation",
    "OrganisationType",
    "ProbeRun",
    "ProbeStatus",
    "Scope",
    "Score",
    "Summary",
    "Usage",
    "observation_id",
    "siren_is_valid",
]
