"""The `system` probe on captured os-release files and on this machine."""

from __future__ import annotations

from pathlib import Path

from probes.base import Emitter, ProbeContext
from probes.system import SystemProbe, parse_os_release

# /etc/os-release of Debian 12, as shipped by base-files 12.4+deb12u5
DEBIAN_12 = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""


def test_parse_os_release_handles_quotes_comments_and_junk() -> None:
    text = DEBIAN_12 + "# comment\n\nnot a pair\nBAD KEY=x\nQUOTED='it''s'\nBROKEN=\"unclosed\n"
    fields = parse_os_release(text)
    assert fields["NAME"] == "Debian GNU/Linux"
    assert fields["VERSION_ID"] == "12"
    assert fields["ID"] == "debian"
    assert fields["QUOTED"] == "its"
    assert fields["BROKEN"] == "unclosed"
    assert "BAD KEY" not in fields


def test_probe_reads_os_release_under_the_system_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text(DEBIAN_12, encoding="utf-8")
    out = Emitter("system", SystemProbe.channels)
    SystemProbe().run(ProbeContext(root=tmp_path, hostname="mairie-pc"), out)
    os_obs = [o for o in out.observations if o.channel == "os"]
    assert len(os_obs) == 1
    assert os_obs[0].locus == "mairie-pc"
    assert os_obs[0].value == "debian"
    assert os_obs[0].attributes["name"] == "Debian GNU/Linux"
    assert os_obs[0].attributes["version"] == "12"
    assert {o.channel for o in out.observations} == {"os", "host"}


def test_probe_falls_back_to_platform_without_os_release(tmp_path: Path) -> None:
    out = Emitter("system", SystemProbe.channels)
    SystemProbe().run(ProbeContext(root=tmp_path, hostname="h"), out)
    os_obs = [o for o in out.observations if o.channel == "os"]
    assert os_obs[0].attributes["source"] == "platform"


def test_probe_on_this_machine() -> None:
    out = Emitter("system", SystemProbe.channels)
    SystemProbe().run(ProbeContext(hostname="this"), out)
    assert any(o.channel == "os" and o.value for o in out.observations)
