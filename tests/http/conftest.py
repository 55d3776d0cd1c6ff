"""Fixtures of the http probe's tests: the web lab of tests/http/web_lab.py (root only).

`web_lab` is one lab per session: nginx, Knot DNS and the emulated IIS, Cloudflare/Shopify, hostile
and decoy servers on their own 127.80.0.x addresses in the namespace `tiebreak-web-<pid>`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

load_helper = sys.modules["tiebreak_test_loader"].load_helper  # tests/conftest.py


# Test modules reach it as sys.modules["tiebreak_test_web_lab"].
web_lab_module = load_helper(Path(__file__).with_name("web_lab.py"), "tiebreak_test_web_lab")


def web_lab_unavailable() -> str | None:
    """Why the lab cannot run here (not root, a tool missing and its package), or None."""
    if os.geteuid() != 0:
        return "the web lab needs root (network namespace, servers on ports 80, 443 and 53)"
    missing = web_lab_module.missing_tools()
    if missing:
        return f"the web lab needs: {', '.join(missing)}"
    return None


@pytest.fixture(scope="session")
def web_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session's web lab (see tests/http/web_lab.py)."""
    reason = web_lab_unavailable()
    if reason is not None:
        pytest.skip(reason)
    started = web_lab_module.start_web_lab(tmp_path_factory.mktemp("web-lab"))
    try:
        yield started
    finally:
        started.stop()
