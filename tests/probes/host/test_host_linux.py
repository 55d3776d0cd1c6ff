"""The `host` probe on Linux package databases: fixture trees, damaged files and this machine."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from inventory import Observation
from probes.base import Emitter
from probes.host.apk import parse_apk_installed
from probes.host.dpkg import parse_dpkg_status
from probes.host.flatpak import parse_metainfo_version
from probes.host.rpm import QUERY_FORMAT, parse_rpm_query
from probes.host.snap import parse_snap_yaml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "host"
DEBIAN = FIXTURES / "debian-workstation"
CENTOS = FIXTURES / "centos-server"
STATUS = DEBIAN / "var/lib/dpkg/status"
RunHost = Callable[..., Emitter]


def by_value(out: Emitter, channel: str) -> dict[str, Observation]:
    """Observations of one channel, by value."""
    return {o.value: o for o in out.observations if o.channel == channel}


def test_dpkg_status_gives_name_version_maintainer_arch() -> None:
    result = parse_dpkg_status(STATUS.read_text(encoding="utf-8"))
    packages = {p.name: p for p in result.packages}
    assert result.problem() is None
    assert len(packages) == 39
    firefox = packages["firefox-esr"]
    assert firefox.version == "153.8.0esr-1~deb12u1"
    assert firefox.arch == "amd64"
    assert firefox.publisher.startswith("Maintainers of Mozilla-related packages")
    assert packages["libreoffice-core"].attributes()["source_package"] == "libreoffice"


def test_dpkg_skips_removed_packages_but_keeps_the_others() -> None:
    text = STATUS.read_text(encoding="utf-8").replace(
        "Package: bash\nEssential: yes\nStatus: install ok installed",
        "Package: bash\nEssential: yes\nStatus: deinstall ok config-files",
    )
    names = {p.name for p in parse_dpkg_status(text).packages}
    assert "bash" not in names
    assert {"coreutils", "firefox-esr"} <= names


def test_debian_workstation_tree(tmp_path: Path, run_host: RunHost) -> None:
    out = run_host(DEBIAN)
    os_obs = by_value(out, "os")
    assert os_obs["debian"].attributes["version"] == "12"
    packages = by_value(out, "package")
    assert packages["libreoffice-writer"].attributes["source"] == "dpkg"
    assert "python3" in packages
    assert out.notes == []


def test_debian_workstation_findings(run_host: RunHost) -> None:
    from fingerprints.engine import analyse

    products = {f.product: f for f in analyse(run_host(DEBIAN).observations).findings}
    assert products["libreoffice"].version == "4:7.4.7-1+deb12u14"
    assert {"debian", "firefox", "libreoffice"} <= set(products)


def test_rpm_query_output_with_epochs_and_none() -> None:
    line = "postfix\t2\t2.10.1\t7.el7\tx86_64\tCentOS\tCentOS BuildSystem <http://bugs.centos.org>"
    none = "gpg-pubkey\t(none)\tf4a80eb5\t53a7ff4b\t(none)\t(none)\t(none)"
    result = parse_rpm_query(f"{line}\n{none}\nnot an rpm line\n")
    assert [p.version for p in result.packages] == ["2:2.10.1-7.el7", "f4a80eb5-53a7ff4b"]
    assert result.packages[0].publisher == "CentOS"
    assert result.packages[1].arch == ""
    assert result.bad_lines == [3]
    assert QUERY_FORMAT.count("%{") == 7


def test_centos_server_tree_and_findings(run_host: RunHost) -> None:
    from fingerprints.engine import analyse

    out = run_host(CENTOS)
    assert by_value(out, "os")["centos"].attributes["id_like"] == "rhel fedora"
    packages = by_value(out, "package")
    assert len(packages) == 33
    assert packages["postfix"].attributes == {
        "source": "rpm",
        "version": "2:2.10.1-7.el7",
        "publisher": "CentOS",
        "arch": "x86_64",
    }
    findings = {f.product: f for f in analyse(out.observations).findings}
    assert "postfix" in findings
    # CentOS is developed by Red Hat, an IBM subsidiary: a non-European OS.
    assert findings["centos"].controller == "ibm"
    assert findings["centos"].jurisdiction == "non-eu"


@pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpm/rpmbuild not installed")
def test_live_rpm_database_is_queried(tmp_path: Path) -> None:
    """A real rpm database under a fixture root, answered by the real `rpm -qa`."""
    import subprocess

    from probes.base import ProbeContext
    from probes.host.exports import LiveExports
    from probes.host.probe import HostProbe

    spec = tmp_path / "tiebreak-demo.spec"
    spec.write_text(
        "Name: tiebreak-demo\nVersion: 1.2\nRelease: 3\nSummary: demo\nLicense: EUPL-1.2\n"
        "Vendor: Mairie de Test\nBuildArch: noarch\n%description\ndemo\n%files\n",
        encoding="utf-8",
    )
    top = tmp_path / "build"
    subprocess.run(
        ["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", str(spec)],
        check=True,
        capture_output=True,
    )
    (package,) = (top / "RPMS" / "noarch").glob("*.rpm")
    root = tmp_path / "root"
    subprocess.run(
        [
            "rpm",
            "--root",
            str(root),
            "--dbpath",
            "/var/lib/rpm",
            "-i",
            "--nodeps",
            "--justdb",
            str(package),
        ],
        check=True,
        capture_output=True,
    )
    out = Emitter("host", HostProbe.channels)
    HostProbe(LiveExports(root)).run(ProbeContext(root=root, hostname="srv"), out)
    demo = by_value(out, "package")["tiebreak-demo"]
    assert demo.attributes == {
        "source": "rpm",
        "version": "1.2-3",
        "publisher": "Mairie de Test",
        "arch": "noarch",
    }


# lib/apk/db/installed stanzas as apk writes them (fields: P name, V version, A arch,
# m maintainer, o origin; file lists F/R/Z follow).
APK = """C:Q1k4f0bmqV7vA0yrHxz2qTTIzTGPI=
P:musl
V:1.2.4-r2
A:x86_64
S:383304
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1696858187
c:a4b9d2a3d7d0b4b7f1b5f0f1a6c0a3c1b8c2e1f0
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1rNqQ5E1mE0dA2Fv4V4b8gQ4o3ZQ=

C:Q1bXoS4k7x1Yc9z9zW5G0mF0u7Eo4=
P:nginx
V:1.24.0-r15
A:x86_64
o:nginx
m:Jakub Jirutka <jakub@jirutka.cz>
"""


def test_apk_database_and_damage() -> None:
    result = parse_apk_installed(APK + "\n\x00\x01garbage line\nV:1.0\n")
    assert [(p.name, p.version, p.arch) for p in result.packages] == [
        ("musl", "1.2.4-r2", "x86_64"),
        ("nginx", "1.24.0-r15", "x86_64"),
    ]
    assert result.packages[1].publisher == "Jakub Jirutka <jakub@jirutka.cz>"
    assert result.bad_lines and result.bad_entries == 1
    assert "damaged file" in (result.problem() or "")


def test_apk_flatpak_snap_tree(tmp_path: Path, run_host: RunHost) -> None:
    (tmp_path / "lib/apk/db").mkdir(parents=True)
    (tmp_path / "lib/apk/db/installed").write_text(APK, encoding="utf-8")
    active = tmp_path / "var/lib/flatpak/app/org.libreoffice.LibreOffice/x86_64/stable/active"
    metainfo = active / "files/share/metainfo"
    metainfo.mkdir(parents=True)
    (metainfo / "org.libreoffice.LibreOffice.appdata.xml").write_text(
        '<component type="desktop-application"><releases>'
        '<release version="24.8.4.2" date="2024-12-19"/><release version="24.8.3.2"/>'
        "</releases></component>",
        encoding="utf-8",
    )
    user_app = tmp_path / "home/agent/.local/share/flatpak/app/us.zoom.Zoom/x86_64/stable/active"
    user_app.mkdir(parents=True)
    # An extra installation declared in /etc/flatpak/installations.d, as flatpak(1) documents.
    (tmp_path / "etc/flatpak/installations.d").mkdir(parents=True)
    (tmp_path / "etc/flatpak/installations.d/extra.conf").write_text(
        '[Installation "extra"]\nPath=/opt/flatpak\nDisplayName=Extra\n', encoding="utf-8"
    )
    (tmp_path / "opt/flatpak/app/org.mozilla.firefox/x86_64/stable/active").mkdir(parents=True)
    revision = tmp_path / "snap/firefox/5361/meta"
    revision.mkdir(parents=True)
    (revision / "snap.yaml").write_text(
        "name: firefox\nversion: 133.0.3-1\nsummary: Mozilla Firefox web browser\n"
        "architectures:\n  - amd64\napps:\n  firefox:\n    command: firefox.launcher\n",
        encoding="utf-8",
    )
    (tmp_path / "snap/firefox/current").symlink_to("5361")
    out = run_host(tmp_path)
    packages = by_value(out, "package")
    assert packages["musl"].attributes["source"] == "apk"
    assert packages["org.libreoffice.LibreOffice"].attributes == {
        "source": "flatpak",
        "version": "24.8.4.2",
        "arch": "x86_64",
        "branch": "stable",
        "installation": "system",
    }
    assert packages["us.zoom.Zoom"].attributes["installation"] == "user"
    assert packages["org.mozilla.firefox"].attributes["installation"] == "system"
    assert "agent" not in str(packages["us.zoom.Zoom"].model_dump())
    assert packages["firefox"].attributes == {
        "source": "snap",
        "version": "133.0.3-1",
        "revision": "5361",
    }


def test_small_parsers() -> None:
    assert parse_metainfo_version("<releases><release date='x'/></releases>") == ""
    assert parse_snap_yaml("name: 'core22'\nversion: \"20240111\"\n") == {
        "name": "core22",
        "version": "20240111",
    }


def test_truncated_status_keeps_what_was_read(tmp_path: Path, run_host: RunHost) -> None:
    text = STATUS.read_text(encoding="utf-8")
    cut = text.index("Package: firefox-esr") + 60  # inside the firefox-esr stanza
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(text[:cut], encoding="utf-8")
    out = run_host(tmp_path)
    packages = by_value(out, "package")
    assert "libreoffice-core" in packages and "thunderbird" not in packages
    assert "version" not in packages["firefox-esr"].attributes  # "153.8" was cut: dropped
    assert len(packages) == 38
    assert len(out.notes) == 1
    assert str(tmp_path / "var/lib/dpkg/status") in out.notes[0]


def test_corrupted_status_keeps_every_readable_stanza(tmp_path: Path, run_host: RunHost) -> None:
    data = STATUS.read_bytes()
    middle = data.index(b"Package: git\n")
    damaged = data[:middle] + b"\xff\xfe\x00garbage\x00\n" + data[middle:]
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_bytes(damaged)
    out = run_host(tmp_path)
    assert len(by_value(out, "package")) == 39  # the garbage line alone is skipped
    assert any("invalid encoding" in note for note in out.notes)
    assert any("damaged file" in note for note in out.notes)


def test_unreadable_status_is_a_note_and_the_scan_goes_on(
    tmp_path: Path, run_host: RunHost
) -> None:
    (tmp_path / "var/lib/dpkg/status").mkdir(parents=True)  # a directory cannot be read
    shutil.copytree(CENTOS / "etc", tmp_path / "etc")
    out = run_host(tmp_path, captured=CENTOS / "captured")
    assert any("var/lib/dpkg/status" in note and "unreadable" in note for note in out.notes)
    assert "postfix" in by_value(out, "package")


def test_this_machine() -> None:
    from probes.base import ProbeContext
    from probes.host.probe import HostProbe

    out = Emitter("host", HostProbe.channels)
    HostProbe().run(ProbeContext(hostname="this"), out)
    packages = by_value(out, "package")
    assert len(packages) >= 100
    assert any(name.startswith("python3") for name in packages)
    assert by_value(out, "os")

    from fingerprints.engine import analyse

    assert "python" in {f.product for f in analyse(out.observations).findings}
