"""The `system` probe: operating system name and version, and the host name.

`collect` reads the files; `parse_os_release` is pure and fed captured files by the tests.
"""

from __future__ import annotations

import platform
import shlex
from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release(5) `KEY=value` lines, with shell quoting, ignoring comments and junk."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        if not key.isidentifier():
            continue
        try:
            words = shlex.split(raw)
        except ValueError:
            words = [raw.strip("\"'")]
        fields[key] = " ".join(words)
    return fields


def os_release_observation(release: dict[str, str]) -> tuple[str, dict[str, JsonValue]]:
    """Value and attributes of the `os` observation of parsed os-release fields.

    The value is the os-release ID ("debian", "rhel"): the catalog's `os` matchers compare
    against it. The `system` and `host` probes both emit this shape.
    """
    os_id = release.get("ID", "linux").lower()
    return os_id, {
        "name": release.get("NAME", os_id),
        "id_like": release.get("ID_LIKE", ""),
        "version": release.get("VERSION_ID", ""),
        "pretty_name": release.get("PRETTY_NAME", ""),
        "source": "os-release",
    }


class SystemProbe(Probe):
    """Reports the operating system and the host name."""

    name: ClassVar[str] = "system"
    tags: ClassVar[frozenset[str]] = frozenset({"local", "system"})
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.OS, Channel.HOST})
    summary: ClassVar[str] = "Système d'exploitation et nom d'hôte / OS and host name"
    default_timeout: ClassVar[float] = 10.0

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        """Read os-release under the system root, falling back to `platform`."""
        release = self._read_os_release(ctx.root, out)
        if release:
            out.observe(Channel.OS, ctx.hostname, *os_release_observation(release))
        else:
            system = platform.system() or "unknown"
            out.observe(
                Channel.OS,
                ctx.hostname,
                {"Darwin": "macos"}.get(system, system.lower()),
                {"name": system, "version": platform.release(), "source": "platform"},
            )
        out.observe(Channel.HOST, ctx.hostname, ctx.hostname, {"machine": platform.machine()})

    @staticmethod
    def _read_os_release(root: Path, out: Emitter) -> dict[str, str]:
        for relative in OS_RELEASE_PATHS:
            path = root / relative
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
            except OSError as exc:
                out.note(f"{path}: illisible / unreadable ({exc.strerror})")
                continue
            return parse_os_release(text)
        return {}
