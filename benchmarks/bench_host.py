"""Benchmark the host inventory: `tiebreak scan --probe host` against `fusioninventory-agent`.

Both run on this machine as whole processes, alternately (tiebreak, fusion, tiebreak…) so that
machine load hits them alike. For each tool: median wall time, peak RSS (the largest process of
the run, from `wait4`), and how many installed packages it reported. Targets (issue 4): tiebreak
at most 0.75 × fusioninventory's median wall time, at most 80 MB, at least as many packages.

Usage: .venv/bin/python benchmarks/bench_host.py [--runs 7]
fusioninventory-agent is installed with apt-get when missing (needs root).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TIEBREAK = [sys.executable, "-m", "agent"]
CONFIG = '[organisation]\nname = "Commune de Banc d\'Essai"\n'
PACKAGE_CHANNELS = ("package", "package.windows", "package.macos")


@dataclass
class Runs:
    """Measurements of one tool."""

    name: str
    walls: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    packages: list[int] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Median wall time (s), peak RSS (MB), packages of the last run, median phases (s)."""
        return {
            "median_wall_s": round(statistics.median(self.walls), 3),
            "peak_rss_mb": round(max(self.rss_mb), 1),
            "packages": self.packages[-1],
            **{name: round(statistics.median(values), 3) for name, values in self.phases.items()},
        }


def tiebreak_phases(path: Path, wall: float) -> dict[str, float]:
    """Where a scan's time went: probes (concurrent), matching, and outside the scan proper
    (interpreter start-up, imports, configuration, catalog compilation, writing the file)."""
    inventory = json.loads(path.read_text(encoding="utf-8"))
    started = datetime.fromisoformat(inventory["started_at"])
    inside = (datetime.fromisoformat(inventory["finished_at"]) - started).total_seconds()
    probes = max((run["duration_s"] for run in inventory["probes"]), default=0.0)
    return {
        "probes_s": probes,
        "matching_s": inside - probes,
        "startup_catalog_output_s": wall - inside,
    }


def measure(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run `command` to completion: (wall seconds, peak RSS in MB of its largest process)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode not in (0, 1):  # tiebreak: 1 = partial, still an inventory
        raise SystemExit(f"{command[0]} failed ({process.returncode}): {stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def tiebreak_packages(path: Path) -> int:
    """Packages in a tiebreak inventory."""
    inventory = json.loads(path.read_text(encoding="utf-8"))
    return sum(o["channel"] in PACKAGE_CHANNELS for o in inventory["observations"])


def fusion_packages(directory: Path) -> int:
    """SOFTWARES entries of the inventory fusioninventory-agent wrote in `directory`."""
    (report,) = directory.glob("*.ocs")
    return len(ET.parse(report).getroot().findall(".//SOFTWARES"))


def ensure_fusioninventory() -> str:
    """Path of fusioninventory-agent, installed with apt-get when missing."""
    found = shutil.which("fusioninventory-agent")
    if found is None:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "fusioninventory-agent"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("fusioninventory-agent")
    if found is None:
        raise SystemExit("fusioninventory-agent introuvable / not found")
    return found


def main() -> None:
    """Alternate runs of both tools and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    fusion = ensure_fusioninventory()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    tie, fus = Runs("tiebreak scan --probe host"), Runs("fusioninventory-agent --local")
    with tempfile.TemporaryDirectory(prefix="bench-host-") as scratch:
        work = Path(scratch)
        (work / "tiebreak.toml").write_text(CONFIG, encoding="utf-8")
        output = work / "inventory.json"

        def run_tiebreak() -> None:
            command = [*TIEBREAK, "scan", "--probe", "host", "--quiet", "-o", str(output)]
            wall, rss = measure(command, work, env)
            tie.walls.append(wall)
            tie.rss_mb.append(rss)
            tie.packages.append(tiebreak_packages(output))
            for name, value in tiebreak_phases(output, wall).items():
                tie.phases.setdefault(name, []).append(value)

        def run_fusion() -> None:
            target = Path(tempfile.mkdtemp(dir=work, prefix="fusion-"))
            wall, rss = measure([fusion, "--local", str(target)], work, env)
            fus.walls.append(wall)
            fus.rss_mb.append(rss)
            fus.packages.append(fusion_packages(target))

        steps: list[Callable[[], None]] = [run_tiebreak, run_fusion]
        for number in range(args.runs):
            for step in steps if number % 2 == 0 else reversed(steps):
                step()
    results = {tie.name: tie.summary(), fus.name: fus.summary()}
    ratio = results[tie.name]["median_wall_s"] / results[fus.name]["median_wall_s"]
    for name, summary in results.items():
        print(f"{name:32} {summary}")
    print(f"wall ratio tiebreak/fusion: {ratio:.2f} (target <= 0.75)")
    print(f"tiebreak peak RSS: {results[tie.name]['peak_rss_mb']} MB (target <= 80)")
    enough = results[tie.name]["packages"] >= results[fus.name]["packages"]
    print(f"packages: {'OK' if enough else 'FEWER'} (target: at least as many)")
    print(json.dumps({"runs": args.runs, "results": results, "wall_ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
