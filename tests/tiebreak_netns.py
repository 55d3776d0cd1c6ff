"""Network namespaces for the test fixtures that need standard ports on loopback addresses.

Shared by tests/directory/samba_dc.py, tests/network/lab.py and tests/http/web_lab.py (each
puts this folder on sys.path: tests are not a package). Standard library only: samba_dc.py also
runs as a script under Debian's python3.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1


def namespaces() -> list[str]:
    """Names of the network namespaces `ip netns` knows."""
    listing = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


def namespace_pids(netns: str) -> list[int]:
    """PIDs of the processes in `netns` (never this process: a thread of it may be in there)."""
    listing = subprocess.run(
        ["ip", "netns", "pids", netns], capture_output=True, text=True, check=False
    ).stdout
    return [int(pid) for pid in listing.split() if int(pid) != os.getpid()]


def remove_namespace(netns: str) -> None:
    """SIGKILL every process left in `netns` (resumed first, if stopped), then delete it and
    /etc/netns/<netns>."""
    deadline = time.monotonic() + 5
    while (pids := namespace_pids(netns)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)
    shutil.rmtree(Path("/etc/netns") / netns, ignore_errors=True)


def remove_stale_namespaces(prefix: str) -> list[str]:
    """Delete the namespaces `<prefix><pid>[-N]` whose pytest process died (SIGKILL, crash)."""
    removed = []
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)(?:-\d+)?$")
    for netns in namespaces():
        match = pattern.match(netns)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            remove_namespace(netns)
            removed.append(netns)
    return removed


def joiner(path: Path) -> Callable[[], None]:
    """Thread initializer: move the calling thread into the namespace mounted at `path`."""

    def join() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc.setns(descriptor, CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"setns({path}): {os.strerror(errno)}")
        finally:
            os.close(descriptor)

    return join


def die_with_parent() -> None:
    """In the child: SIGKILL when the thread that started it dies (not across setuid exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def free_name(prefix: str) -> str:
    """`<prefix><pid>`, or `<prefix><pid>-N` when this process already has one."""
    base = f"{prefix}{os.getpid()}"
    existing = set(namespaces())
    if base not in existing:
        return base
    n = 2
    while f"{base}-{n}" in existing:
        n += 1
    return f"{base}-{n}"
