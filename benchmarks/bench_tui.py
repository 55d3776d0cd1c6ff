"""Benchmark of the TUI: how fast `tiebreak tui` starts, and how fast it answers keys during a scan.

(a) **Start**: each run is a fresh child process (`python -c`), so imports are paid every time:
- *import*: `import agent.tui.app` alone, timed inside the child;
- *first screen*: from the child's first line to the configuration screen drawn (`App.run_test`
  at 80x24 until the first refresh), and to the configuration file read and validated (the
  screen usable), both timed inside the child;
- *wall*: from spawning the child to the child reporting the usable screen, timed by this
  process (includes starting Python).

(b) **Input latency during a scan**: the scan screen runs a scan of probes that keep busy until
cancelled (two threads working the CPU in pure Python, contending for the GIL, and two waiting
threads, as network probes do), while the screen redraws the elapsed times 4 times a second. A key
(`down`/`up` on the probes' table) is injected the way `Pilot.press` does it, then the latency is
the time until the screen reflects it: the table's cursor moved and a refresh of the screen
happened after that. `Pilot.press` itself is not timed: it waits for the process to be idle,
which never happens while probes work. Median, 95th percentile and maximum over the presses.
The TUI lowers the GIL switch interval to 1 ms while it runs (`agent.tui.app.SWITCH_INTERVAL`);
with Python's default 5 ms, the 95th percentile here was 70 to 170 ms.

Targets (issue 15): start under 1 s; latency under 100 ms.

Usage: .venv/bin/python benchmarks/bench_tui.py [--runs 5] [--presses 60]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent

_CHILD = r"""
import time
started = time.perf_counter()
import asyncio, json, sys
from pathlib import Path
import agent.tui.app
imported = time.perf_counter()
from agent.tui.app import TiebreakApp

async def main() -> None:
    app = TiebreakApp(Path(sys.argv[1]))
    async with app.run_test(size=(80, 24)) as pilot:
        while app.ready_at is None:
            await asyncio.sleep(0.001)
        painted = time.perf_counter()
        screen = app.screen
        while not getattr(screen, "loaded", False) or app.config is None:
            await asyncio.sleep(0.001)
        usable = time.perf_counter()
        print(json.dumps({"import": imported - started, "paint": painted - started,
                          "usable": usable - started}), flush=True)
        app.exit()

asyncio.run(main())
"""


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def helpers() -> ModuleType:
    """tests/tui/tui_helpers.py (tests are not a package), with tests/tiebreak_server.py, which
    it imports and which tests/conftest.py loads under pytest."""
    _load("tiebreak_test_server", REPO / "tests" / "tiebreak_server.py")
    return _load("tiebreak_test_tui_helpers", REPO / "tests" / "tui" / "tui_helpers.py")


def start_times(config: Path, runs: int) -> dict[str, list[float]]:
    """Each run in a fresh child process."""
    figures: dict[str, list[float]] = {"import": [], "paint": [], "usable": [], "wall": []}
    env = dict(os.environ, PYTHONPATH=str(REPO), TIEBREAK_LANG="fr")
    for _ in range(runs):
        spawned = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        figures["wall"].append(time.perf_counter() - spawned)
        child.wait(30)
        for key, value in json.loads(line).items():
            figures[key].append(value)
    return figures


async def latencies(config: Path, presses: int) -> list[float]:
    """Key-to-screen latency on the scan screen while busy probes run."""
    from textual import events

    from agent.orchestrator import PlannedProbe
    from agent.tui.app import TiebreakApp

    tui = helpers()

    def plan(_config: object) -> list[PlannedProbe]:
        busy = [PlannedProbe(tui.busy_probe(i), 120.0) for i in range(2)]
        waiting = [PlannedProbe(tui.SleepingProbe(), 120.0)]
        return busy + waiting

    app = TiebreakApp(config, plan=plan)
    measured: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("f3", "ctrl+r")
        await asyncio.sleep(0.5)  # the probes are busy
        table = app.screen.query_one("#probes")
        driver = app._driver
        assert driver is not None
        loop = asyncio.get_running_loop()
        for index in range(presses):
            before = table.cursor_row  # type: ignore[attr-defined]
            key = "down" if before == 0 else "up"
            started = time.perf_counter()
            event = events.Key(key, None)
            event.set_sender(app)
            driver.send_message(event)
            while table.cursor_row == before:  # type: ignore[attr-defined]
                await asyncio.sleep(0.0005)
            painted: asyncio.Future[float] = loop.create_future()
            app.call_after_refresh(lambda f=painted: f.set_result(time.perf_counter()))
            measured.append(await painted - started)
            if index % 10 == 0:
                await asyncio.sleep(0.05)  # let the elapsed-time timer run between bursts
        finished: dict[str, object] = getattr(app.screen, "runs", {})
        running = [name for name in ("busy-0", "busy-1") if name not in finished]
        await pilot.press("escape")
        await app.workers.wait_for_complete()
    assert len(running) == 2, "the busy probes ended before the measure did"
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--presses", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        os.environ["TIEBREAK_STATE"] = str(Path(directory) / "state")
        os.environ["TIEBREAK_SPOOL"] = str(Path(directory) / "spool")
        config = helpers().write_config(Path(directory) / "tiebreak.toml")
        starts = start_times(config, args.runs)
        print(f"(a) start of the TUI, {args.runs} fresh processes (median, max):")
        labels = {
            "import": "import agent.tui.app",
            "paint": "first screen drawn",
            "usable": "configuration read and validated",
            "wall": "wall time, spawn to usable screen",
        }
        for key, label in labels.items():
            values = starts[key]
            print(f"    {label:<36} {statistics.median(values):6.3f} s  {max(values):6.3f} s")
        measured = asyncio.run(latencies(config, args.presses))
    ms = sorted(value * 1000 for value in measured)
    p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
    print(f"(b) key-to-screen latency during a scan, {len(ms)} presses, 2 CPU-busy probes:")
    print(f"    median {statistics.median(ms):6.1f} ms   p95 {p95:6.1f} ms   max {ms[-1]:6.1f} ms")
    ok = statistics.median(starts["wall"]) < 1.0 and p95 < 100.0
    print("targets (start < 1 s, latency < 100 ms):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
