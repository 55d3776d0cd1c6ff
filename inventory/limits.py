"""Limits of the inventory contract that other parts check too, from this one source.

The agent's configuration refuses what the inventory would refuse, so that `tiebreak config check`
catches it before a scan runs. Imports nothing.
"""

from __future__ import annotations

from typing import Final

ORGANISATION_NAME_MAX: Final = 300
"""Longest organisation name, in characters."""
