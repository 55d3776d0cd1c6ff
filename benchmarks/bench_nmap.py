"""Benchmark of the nmap probe against the same nmap command run directly, on the test lab.

The lab (tests/network/lab.py) runs real daemons (nginx, OpenSSH, slapd, smbd, Exim) and
emulated vendor servers (IIS, Exchange SMTP, Cisco SSH) on 127.70.0.x addresses inside a network
namespace, with decoys around them. Both runs scan the same range with the same arguments:

- **probe**: `NetworkProbe` through the orchestrator (plan, nmap, XML read as it comes with
  defusedxml, scope checks, observations), as `tiebreak scan` runs it;
- **nmap**: the exact argument list the probe built (`probes.network.probe.plan`), run directly,
  its XML written to /dev/null.

They alternate, `--runs` times each; the figures are the medians. Target (issue 13): the probe
takes at most 1.10 times as long as nmap alone.

Needs root (network namespace) and the lab's tools (scripts/debian-packages.txt).
Usage: .venv/bin/python benchmarks/bench_nmap.py [--range 127.70.0.0/27] [--runs 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.orchestrator import PlannedProbe, run_probes  # noqa: E402
from probes.base import ProbeContext  # noqa: E402
from probes.network.probe import NetworkProbe, plan  # noqa: E402


def lab_helpers() -> ModuleType:
    """tests/network/lab.py (tests are not a package)."""
    path = REPO / "tests" / "network" / "lab.py"
    spec = importlib.util.spec_from_file_location("tiebreak_test_network_lab", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--range", default="127.70.0.0/27", help="CIDR block of the lab to scan")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_nmap.py needs root (the lab is a network namespace)")

    lab_module = lab_helpers()
    with tempfile.TemporaryDirectory(prefix="tiebreak-bench-nmap-") as folder:
        started = time.perf_counter()
        lab = lab_module.start_lab(Path(folder))
        lab_s = time.perf_counter() - started
        try:
            wrapper = str(lab.nmap_wrapper)
            os.environ["PATH"] = f"{lab.nmap_wrapper.parent}:{os.environ.get('PATH', '')}"
            ctx = ProbeContext(networks=(args.range,))
            scan = plan(wrapper, ctx)
            (argv,) = scan.runs
            probe_s: list[float] = []
            nmap_s: list[float] = []
            hosts: set[int] = set()
            for _ in range(args.runs):
                started = time.perf_counter()
                direct = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                nmap_s.append(time.perf_counter() - started)
                if direct.returncode != 0:
                    raise SystemExit(f"nmap failed: {direct.stderr.decode()[-2000:]}")
                started = time.perf_counter()
                result = run_probes([PlannedProbe(NetworkProbe(), 1800.0)], ctx)
                probe_s.append(time.perf_counter() - started)
                (run,) = result.runs
                if run.status != "ok":
                    raise SystemExit(f"probe failed: {run.error}")
                hosts.add(sum(1 for o in result.observations if o.channel == "nmap.host"))
        finally:
            lab.stop()

    probe, nmap = statistics.median(probe_s), statistics.median(nmap_s)
    print(f"lab: {len(lab_module.HOST_LAYOUT)} servers and {len(lab_module.DECOY_OFFSETS)} decoys")
    print(f"started in {lab_s:.1f} s; range {args.range}, {scan.targets.size} addresses")
    print(f"nmap arguments: {' '.join(argv[1:])}")
    print(f"live hosts reported by the probe: {sorted(hosts)}")
    print(f"{args.runs} runs each, alternating; medians\n")
    print(f"{'run':<6} {'median s':>9} {'all runs (s)':>30}")
    print(f"{'nmap':<6} {nmap:>9.2f} {', '.join(f'{s:.2f}' for s in nmap_s):>30}")
    print(f"{'probe':<6} {probe:>9.2f} {', '.join(f'{s:.2f}' for s in probe_s):>30}")
    print(f"\nprobe / nmap: {probe / nmap:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
