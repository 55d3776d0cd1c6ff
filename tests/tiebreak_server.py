"""A real `tiebreak server run` subprocess for the tests: a free loopback port, waiting until the
server answers its health check, stopping it.

Shared by tests/server/conftest.py, tests/agent/test_delivery.py and tests/tui/tui_helpers.py;
tests/conftest.py loads it as `tiebreak_test_server` (tests are not a package, and putting tests/
on sys.path would let tests/agent shadow the agent package).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable

import requests

START_SECONDS = 30.0
"""How long a server may take to answer its health check."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(process: subprocess.Popen[bytes], url: str, output: Callable[[], str]) -> None:
    """Wait until the server at `url` answers /api/v1/health; RuntimeError with `output()` (what
    it printed) if it exits first, or after START_SECONDS."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {output()}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not start within {START_SECONDS:.0f} s")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a server: SIGTERM, then SIGKILL after 10 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stderr_of(process: subprocess.Popen[bytes]) -> Callable[[], str]:
    """What the server wrote on its standard error pipe, for wait_until_up."""
    return lambda: process.stderr.read().decode(errors="replace") if process.stderr else ""
