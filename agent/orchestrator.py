"""Run the selected probes concurrently, each under its own timeout, and record how each ended.

Each probe runs in a daemon thread: a probe that hangs is abandoned at its deadline (the process
can still exit), its status is `timeout`, and what it emitted until then is kept. A probe that
raises is `failed` with its error; the others go on. Setting the optional `cancel` event (the TUI's
cancel key) abandons every running probe at once, as at its deadline, with a `CANCELLED` error.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from inventory import Observation, ProbeRun, ProbeStatus
from probes.base import Emitter, Probe, ProbeCancelled, ProbeContext

ProgressCallback = Callable[[str, str, ProbeRun | None], None]
"""Called with (probe name, event, run): events are `start` and `end` (run set on `end`)."""

CANCELLED = "annulée / cancelled"
"""Start of the error of a probe abandoned because the scan was cancelled (status `timeout`)."""


@dataclass(frozen=True, slots=True)
class PlannedProbe:
    """A probe to run and the timeout it gets."""

    probe: Probe
    timeout: float


@dataclass(slots=True)
class ScanResult:
    """What the probes produced: their runs and all observations, in probe order."""

    runs: list[ProbeRun]
    observations: list[Observation]

    @property
    def complete(self) -> bool:
        """True when no probe failed or timed out."""
        return all(r.status in (ProbeStatus.OK, ProbeStatus.SKIPPED) for r in self.runs)


class _Worker:
    """One probe in its thread."""

    def __init__(self, planned: PlannedProbe, ctx: ProbeContext) -> None:
        self.planned = planned
        self.ctx = ctx
        self.out = Emitter(planned.probe.name, planned.probe.channels)
        self.error: str | None = None
        self.done = threading.Event()
        self.started = 0.0
        self.ended = 0.0
        self.thread = threading.Thread(
            target=self._run, name=f"probe-{planned.probe.name}", daemon=True
        )

    def _run(self) -> None:
        try:
            self.planned.probe.run(self.ctx, self.out)
        except ProbeCancelled:
            pass
        except Exception as exc:  # noqa: BLE001 - any probe error is recorded, never fatal
            self.error = error_text(exc)
        finally:
            self.ended = time.monotonic()
            self.done.set()


def run_probes(
    plan: Sequence[PlannedProbe],
    ctx: ProbeContext,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ScanResult:
    """Run every planned probe concurrently and wait for each until its own deadline, or until
    `cancel` is set."""
    notify = progress or (lambda _name, _event, _run: None)
    runs: dict[str, ProbeRun] = {}
    collected: dict[str, list[Observation]] = {}
    workers: list[_Worker] = []
    for planned in plan:
        reason = planned.probe.unavailable(ctx)
        if reason is not None:
            runs[planned.probe.name] = skipped_run(planned.probe.name, reason)
            notify(planned.probe.name, "end", runs[planned.probe.name])
            continue
        worker = _Worker(planned, ctx)
        worker.started = time.monotonic()
        worker.out.deadline = worker.started + planned.timeout
        worker.thread.start()
        notify(planned.probe.name, "start", None)
        workers.append(worker)

    pending = list(workers)
    while pending:
        now = time.monotonic()
        cancelled = cancel is not None and cancel.is_set()
        for worker in list(pending):
            deadline = worker.started + worker.planned.timeout
            if worker.done.is_set() or now >= deadline or cancelled:
                if not worker.done.is_set():
                    worker.out.cancelled.set()
                collected[worker.planned.probe.name] = list(worker.out.observations)
                runs[worker.planned.probe.name] = _record(worker, now, cancelled)
                notify(worker.planned.probe.name, "end", runs[worker.planned.probe.name])
                pending.remove(worker)
        if pending:
            next_deadline = min(w.started + w.planned.timeout for w in pending)
            pending[0].done.wait(timeout=max(0.0, min(0.05, next_deadline - time.monotonic())))

    ordered = [runs[p.probe.name] for p in plan]
    observations = [o for p in plan for o in collected.get(p.probe.name, [])]
    return ScanResult(runs=ordered, observations=observations)


def _record(worker: _Worker, now: float, cancelled: bool = False) -> ProbeRun:
    if not worker.done.is_set():
        run = record_run(
            worker.planned.probe.name,
            worker.out,
            now - worker.started,
            timeout=worker.planned.timeout,
        )
        if cancelled and now < worker.started + worker.planned.timeout:
            elapsed = round(now - worker.started, 1)
            error = f"{CANCELLED} après / after {elapsed:g} s"
            return run.model_copy(update={"error": error})
        return run
    return record_run(
        worker.planned.probe.name, worker.out, worker.ended - worker.started, worker.error
    )


def error_text(exc: BaseException) -> str:
    """How a probe's exception is recorded: type, message and where it was raised."""
    frame = traceback.extract_tb(exc.__traceback__)[-1:]
    where = f" ({frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"


def skipped_run(name: str, reason: str) -> ProbeRun:
    """The run of a probe that could not run here (`Probe.unavailable` said why)."""
    return ProbeRun(name=name, status=ProbeStatus.SKIPPED, duration_s=0.0, error=reason)


def record_run(
    name: str,
    out: Emitter,
    duration: float,
    error: str | None = None,
    timeout: float | None = None,
) -> ProbeRun:
    """How a probe's run ended, as the inventory records it (also used by the external mode).

    With `timeout`, the probe was abandoned at its deadline: `timeout`, whatever it emitted until
    then is counted; otherwise `failed` with `error`, or `ok`. The notes are the emitter's.
    """
    if timeout is not None:
        return ProbeRun(
            name=name,
            status=ProbeStatus.TIMEOUT,
            duration_s=round(duration, 3),
            observations=len(out.observations),
            error=f"délai dépassé / timed out after {timeout:g} s",
            notes=list(out.notes),
        )
    return ProbeRun(
        name=name,
        status=ProbeStatus.FAILED if error else ProbeStatus.OK,
        duration_s=round(duration, 3),
        observations=len(out.observations),
        error=error,
        notes=list(out.notes),
    )
