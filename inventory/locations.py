"""Where the agent keeps things on the machine it runs on: one rule for every such directory.

An environment variable names it when set; otherwise root uses a directory under /var, and any
other user a directory under $XDG_STATE_HOME/tiebreak (~/.local/state/tiebreak). The spool, the
scan history and the provider ranges all follow it.
"""

from __future__ import annotations

import os
from pathlib import Path


def agent_directory(variable: str, as_root: str, under_state: str = "") -> Path:
    """`$variable` when set and not empty, else `as_root` for root, else
    `$XDG_STATE_HOME/tiebreak/<under_state>` (not created)."""
    explicit = os.environ.get(variable)
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return Path(as_root)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "tiebreak" / under_state if under_state else Path(state) / "tiebreak"
