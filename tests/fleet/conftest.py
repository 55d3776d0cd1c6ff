"""Fixtures of the fleet probe's tests.

Helpers (tests/fleet/fleet_helpers.py) are loaded as `tiebreak_test_fleet_helpers`, the GLPI
fixture server (tests/fleet/glpi_server.py) as `tiebreak_test_glpi_server`; test modules reach
them through `sys.modules`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _load_helper(filename: str, module_name: str) -> ModuleType:
    """Import a helper beside this file (tests are not a package; benchmarks share them)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fleet_helpers = _load_helper("fleet_helpers.py", "tiebreak_test_fleet_helpers")
glpi_server = _load_helper("glpi_server.py", "tiebreak_test_glpi_server")
