"""The `processes` probe on this machine: real processes, a real listening socket and connection."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from inventory.folders import install_folder
from probes.base import Emitter, ProbeContext
from probes.host.connections import (
    Connection,
    aggregate,
    emit,
    parse_hosts,
    read_connections,
)
from probes.host.processes import (
    ProcessesProbe,
    parse_systemctl_units,
    systemd_services,
    unit_services,
)
from probes.registry import select


@pytest.fixture
def loopback_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A listening socket on 127.0.0.1 and a client connected to it, from this process."""
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    yield server, client
    for sock in (accepted, client, server):
        sock.close()


def test_probe_sees_this_process_and_its_listening_port(
    loopback_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, _client = loopback_pair
    out = Emitter("processes", ProcessesProbe.channels)
    ProcessesProbe().run(ProbeContext(hostname="this"), out)
    me = psutil.Process().name().lower()
    processes = {o.value: o for o in out.observations if o.channel == "process"}
    count = processes[me].attributes["count"]
    assert isinstance(count, int) and count >= 1
    assert not any(name.startswith("kworker") for name in processes)  # kernel threads
    listening = {o.value: o for o in out.observations if o.channel == "listen"}
    port = server.getsockname()[1]
    served_by = listening[f"tcp/{port}"].attributes["processes"]
    assert isinstance(served_by, list) and me in served_by
    # Loopback connections are local plumbing, not cloud use.
    assert not any(o.value == "127.0.0.1" for o in out.observations if o.channel == "net.remote")


def test_outbound_connections_aggregated_per_address_and_named_from_hosts(
    loopback_pair: tuple[socket.socket, socket.socket],
) -> None:
    """A real connection read by psutil, its peer rewritten to a cloud address (data only)."""
    server, client = loopback_pair
    out = Emitter("processes", ProcessesProbe.channels)
    connections = read_connections(out)
    assert connections is not None
    mine = next(c for c in connections if c.local_port == client.getsockname()[1])
    assert (mine.status, mine.remote_port) == ("ESTABLISHED", server.getsockname()[1])
    assert mine.process == psutil.Process().name().lower()
    entra = replace(mine, remote_ip="20.190.160.3", remote_port=443)
    other = replace(entra, local_port=mine.local_port + 1)
    inbound = replace(entra, local_port=server.getsockname()[1], remote_ip="20.190.160.4")
    listener = Connection("tcp", "LISTEN", "0.0.0.0", server.getsockname()[1])
    mapped = replace(entra, remote_ip="::ffff:20.190.160.3", remote_port=80)
    activity = aggregate([entra, other, inbound, listener, mapped])
    assert dict(activity.remotes) == {"20.190.160.3": {443: 2, 80: 1}}
    hosts = parse_hosts("# comment\n20.190.160.3  login.microsoftonline.com. alias\nbad line\n")
    emit(activity, hosts, "poste-1", out)
    remote = next(o for o in out.observations if o.channel == "net.remote")
    assert remote.value == "20.190.160.3"
    assert remote.attributes == {"ports": [80, 443], "count": 3}
    host = next(o for o in out.observations if o.channel == "net.host")
    assert host.value == "login.microsoftonline.com"

    from fingerprints.engine import analyse

    products = {f.product for f in analyse(out.observations).findings}
    assert "entra-id" in products


def test_systemd_unit_listings() -> None:
    text = (
        "cron.service    loaded active running Regular background program processing daemon\n"
        "ssh.service     loaded active running OpenBSD Secure Shell server\n"
        "dev-hugepages.mount loaded active mounted Huge Pages File System\n"
    )
    assert parse_systemctl_units(text) == ["cron", "ssh"]
    names = ["invocation:cron.service", "invocation:session-2.scope", "cron.service"]
    assert unit_services(names) == ["cron"]


def test_running_systemd_services_under_a_root(tmp_path: Path) -> None:
    assert (
        systemd_services(tmp_path, Emitter("processes", ProcessesProbe.channels)) == []
    )  # systemd not running there
    units = tmp_path / "run/systemd/units"
    units.mkdir(parents=True)
    (tmp_path / "run/systemd/system").mkdir()
    for name in ("invocation:cron.service", "invocation:ssh.service", "invocation:init.scope"):
        (units / name).symlink_to("0123456789abcdef")
    assert systemd_services(tmp_path, Emitter("processes", ProcessesProbe.channels)) == [
        "cron",
        "ssh",
    ]


def test_processes_probe_refuses_another_root(tmp_path: Path) -> None:
    assert ProcessesProbe().unavailable(ProbeContext(root=tmp_path)) is not None
    assert ProcessesProbe().unavailable(ProbeContext()) is None


def test_registry_selects_both_host_probes_by_tag() -> None:
    assert {entry.name for entry in select(["host"])} == {"host", "processes"}


@pytest.mark.parametrize(
    ("executable", "folder"),
    [
        (r"C:\Program Files\Sophos\Endpoint Defense\SEDService.exe", "Sophos"),
        (r"c:\program files (x86)\TeamViewer\TeamViewer.exe", "TeamViewer"),
        (r"C:\ProgramData\CrowdStrike\x.exe", "CrowdStrike"),
        ("\\\\?\\C:\\Program Files\\Zoom\\bin\\Zoom.exe", "Zoom"),
        ("/opt/CrowdStrike/falcond", "CrowdStrike"),
        ("/usr/local/qualys/cloud-agent/bin/qualys-cloud-agent", "qualys"),
        ("/Library/Application Support/JAMF/bin/jamf", "JAMF"),
        ("/opt/sophos-spl/base/bin/sophos_managementagent (deleted)", "sophos-spl"),
        # Shared folders, user profiles, executables right under a root, system paths: nothing.
        (r"C:\Program Files\Common Files\Acme\helper.exe", None),
        (r"C:\Program Files\WindowsApps\Acme_1.0_x64\acme.exe", None),
        (r"C:\Users\jdupont\AppData\Local\Acme\acme.exe", None),
        (r"C:\Program Files\acme.exe", None),
        ("/usr/local/bin/acme", None),
        ("/opt/acme", None),
        ("/home/jdupont/opt/acme/bin/acme", None),
        ("/usr/bin/python3", None),
        ("/opt/" + "x" * 101 + "/bin/acme", None),
        ("/opt/acme\x1b[31m/bin/acme", None),
    ],
)
def test_install_folder(executable: str, folder: str | None) -> None:
    assert install_folder(executable) == folder


def test_a_running_process_reports_its_vendor_folder_and_nothing_else_of_its_path() -> None:
    """A real process started from /opt/<folder>/bin: the probe reports the folder only."""
    if not os.access("/opt", os.W_OK):
        pytest.skip("/opt is not writable here (CI runs as root)")
    folder = f"tiebreak-test-{uuid.uuid4().hex[:8]}"
    name = f"tbagent{uuid.uuid4().hex[:6]}"
    home = Path("/opt") / folder
    (home / "bin").mkdir(parents=True)
    sleeper = None
    try:
        shutil.copy2(shutil.which("sleep") or "/bin/sleep", home / "bin" / name)
        sleeper = subprocess.Popen([str(home / "bin" / name), "30"])
        out = Emitter("processes", ProcessesProbe.channels)
        ProcessesProbe().run(ProbeContext(hostname="this"), out)
        (seen,) = [o for o in out.observations if o.channel == "process" and o.value == name]
        assert seen.attributes == {"count": 1, "folder": folder}
        # A process run from elsewhere (this test's Python) carries no folder.
        me = psutil.Process().name().lower()
        mine = next(o for o in out.observations if o.channel == "process" and o.value == me)
        assert "folder" not in mine.attributes or not str(mine.attributes["folder"]).startswith(
            "tiebreak-test-"
        )
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()
        shutil.rmtree(home)
