"""Fixtures of the fleet probe's tests.

Helpers (tests/fleet/fleet_helpers.py) are loaded as `tiebreak_test_fleet_helpers`, the GLPI
fixture server (tests/fleet/glpi_server.py) as `tiebreak_test_glpi_server`; test modules reach
them through `sys.modules`.
"""

from __future__ import annotations

import sys
from pathlib import Path

load_helper = sys.modules["tiebreak_test_loader"].load_helper  # tests/conftest.py


fleet_helpers = load_helper(
    Path(__file__).with_name("fleet_helpers.py"), "tiebreak_test_fleet_helpers"
)
glpi_server = load_helper(Path(__file__).with_name("glpi_server.py"), "tiebreak_test_glpi_server")
