"""Benchmark of the directory probe against a plain ldap3 paged-search loop, on one real slapd.

A slapd (Debian's, tests/directory/slapd_server.py) is loaded with 50,000 users, 100 groups and
500 devices and listens on 127.0.0.1 with LDAPS (certificate for `localhost`, test CA). Two
readers count the same entries with the same searches, filters, attributes and page size (1,000):

- **probe**: `DirectoryProbe` through the orchestrator, bound as the read-only account, as
  `tiebreak scan` runs it (rootDSE, bind, users with their lock attributes, groups, devices);
- **plain**: a bare ldap3 loop over the same three searches, passing the paged-results cookie
  by hand and counting the entries of each page (the baseline: what any script would do).

Each run is a fresh child process, alternating probe and plain, so that memory figures start from
the same state; the figures are the median of the runs. Memory: peak resident set size during
the read minus the resident size just before it (sampled every 5 ms from /proc/self/statm),
which is what the read itself costs. Targets (issue 12): the probe's rate at least 90 % of the
plain loop's; memory growth under 50 MB.

Usage: .venv/bin/python benchmarks/bench_ldap.py [--users 50000] [--runs 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PAGE_SIZE = 1000
# The directory probe's own searches on a non-AD directory (probes/directory/probe.py read_ldap).
USERS = "(|(objectClass=inetOrgPerson)(objectClass=posixAccount))"
GROUPS = (
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)"
    "(objectClass=posixGroup)(objectClass=groupOfMembers))"
)
DEVICES = "(|(objectClass=device)(objectClass=ipHost)(objectClass=ipaHost))"
SEARCHES = (
    (USERS, ["pwdAccountLockedTime", "nsAccountLock"]),
    (GROUPS, ["1.1"]),
    (DEVICES, ["1.1"]),
)


def slapd_helpers() -> ModuleType:
    """tests/directory/slapd_server.py (tests are not a package)."""
    path = REPO / "tests" / "directory" / "slapd_server.py"
    spec = importlib.util.spec_from_file_location("tiebreak_test_slapd_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class PeakRss:
    """Samples this process's resident set size every 5 ms while running."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakRss:
        self.start = self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def child(kind: str, request: dict[str, Any]) -> dict[str, Any]:
    """One measured read, in this (fresh) process."""
    import ssl

    import ldap3

    from agent.orchestrator import PlannedProbe, run_probes
    from inventory.channels import Channel
    from probes.base import DirectorySettings, ProbeContext
    from probes.directory.probe import DirectoryProbe

    password = Path(request["password_file"]).read_text()
    if kind == "probe":
        settings = DirectorySettings(
            url=request["url"],
            bind_dn=request["reader_dn"],
            password=password,
            ca_file=Path(request["ca_file"]),
            page_size=PAGE_SIZE,
            timeout=60.0,
        )
        ctx = ProbeContext(hostname="bench", directory=settings)
        with PeakRss() as memory:
            started = time.perf_counter()
            result = run_probes([PlannedProbe(DirectoryProbe(), 600.0)], ctx)
            elapsed = time.perf_counter() - started
        (run,) = result.runs
        if run.status != "ok":
            raise SystemExit(f"probe failed: {run.error}")
        counts = {
            o.value: o.attributes["count"]
            for o in result.observations
            if o.channel == Channel.LDAP_COUNT
        }
        entries = sum(int(c) for c in counts.values())  # type: ignore[call-overload]
        return {"elapsed": elapsed, "entries": entries, "memory": memory.peak - memory.start}

    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=request["ca_file"])
    with PeakRss() as memory:
        started = time.perf_counter()
        server = ldap3.Server(
            "localhost", port=request["port"], use_ssl=True, tls=tls, get_info=ldap3.NONE
        )
        connection = ldap3.Connection(
            server, request["reader_dn"], password, auto_bind=True, read_only=True
        )
        entries = 0
        for search_filter, attributes in SEARCHES:
            cookie: bytes | None = None
            while True:
                connection.search(
                    request["base_dn"],
                    search_filter,
                    attributes=attributes,
                    paged_size=PAGE_SIZE,
                    paged_cookie=cookie,
                )
                entries += sum(1 for r in connection.response if r["type"] == "searchResEntry")
                control = connection.result["controls"]["1.2.840.113556.1.4.319"]
                cookie = control["value"]["cookie"]
                if not cookie:
                    break
        connection.unbind()
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "entries": entries, "memory": memory.peak - memory.start}


def measure(kind: str, request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=("probe", "plain"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO))
        print(json.dumps(child(args.child, json.load(sys.stdin))))
        return

    helpers = slapd_helpers()
    with tempfile.TemporaryDirectory(prefix="tiebreak-bench-ldap-") as folder:
        started = time.perf_counter()
        server = helpers.start_benchmark_slapd(Path(folder), users=args.users)
        load_s = time.perf_counter() - started
        try:
            request = {
                "url": server.url_ldaps,
                "port": server.tls_port,
                "base_dn": server.base_dn,
                "reader_dn": server.reader_dn,
                "password_file": str(server.password_file),
                "ca_file": str(server.ca_file),
            }
            runs: dict[str, list[dict[str, Any]]] = {"probe": [], "plain": []}
            for _ in range(args.runs):
                for kind in ("plain", "probe"):
                    runs[kind].append(measure(kind, request))
        finally:
            server.stop()

    print(
        f"slapd: {args.users:,} users, {helpers.BENCHMARK_GROUPS} groups, "
        f"{helpers.BENCHMARK_DEVICES} devices; LDAPS on 127.0.0.1; loaded in {load_s:.1f} s"
    )
    print(f"page size {PAGE_SIZE}; {args.runs} runs each, fresh process per run; medians\n")
    print(f"{'reader':<8} {'entries':>9} {'seconds':>9} {'entries/s':>11} {'memory MB':>10}")
    medians: dict[str, dict[str, float]] = {}
    for kind, figures in runs.items():
        entries = figures[0]["entries"]
        if any(f["entries"] != entries for f in figures):
            raise SystemExit(f"{kind}: runs counted different numbers of entries: {figures}")
        elapsed = statistics.median(f["elapsed"] for f in figures)
        memory = statistics.median(f["memory"] for f in figures) / 1e6
        medians[kind] = {"entries": entries, "rate": entries / elapsed, "memory": memory}
        print(
            f"{kind:<8} {entries:>9,} {elapsed:>9.2f} {entries / elapsed:>11,.0f} {memory:>10.1f}"
        )
    probe, plain = medians["probe"], medians["plain"]
    ratio = probe["rate"] / plain["rate"]
    print(f"\nprobe / plain rate: {ratio:.2f} (target >= 0.90)")
    print(f"probe memory growth: {probe['memory']:.1f} MB (target < 50 MB)")
    if probe["entries"] != plain["entries"]:
        print(f"note: probe counted {probe['entries']:,}, plain loop {plain['entries']:,}")


if __name__ == "__main__":
    main()
