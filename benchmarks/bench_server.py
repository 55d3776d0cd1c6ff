"""Ingestion throughput of the central server, on SQLite and on PostgreSQL.

8 concurrent senders (threads, one organisation and token each) post inventories of 300 findings,
gzip-compressed beforehand and each on a new connection as the agent does, to a real
`tiebreak server run` process on 127.0.0.1. Prints inventories per second and the p50 / p95
latency of one send, then the server's peak resident memory (its workers included) while it
ingests one large inventory (`--large` findings and as many observations, some 30 MB inflated).
Everything, the senders included, shares this machine's cores.

Usage: .venv/bin/python benchmarks/bench_server.py [--inventories 400] [--senders 8]
       [--findings 300] [--workers 2] [--large 40000] [--backend sqlite --backend postgresql]
PostgreSQL: 127.0.0.1:5432, trust authentication; a database is created for the run and dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg
import requests

from inventory import Agent, Finding, Inventory, Observation, Organisation
from server import admin, db, migrations

REPO = Path(__file__).resolve().parent.parent


def inventory(name: str, findings: int) -> bytes:
    """A gzip-compressed inventory of `findings` findings."""
    now = datetime.now(UTC)
    document = Inventory(
        id=uuid.uuid4(),
        organisation=Organisation(name=name),
        agent=Agent(version="bench", hostname="bench"),
        started_at=now,
        finished_at=now,
        observations=[
            Observation.make("system", "package", "127.0.0.1", f"paquet-{n}")
            for n in range(findings)
        ],
        findings=[
            Finding(
                id=f"f-{n:016x}",
                product=f"produit-{n}",
                product_name=f"Produit {n}",
                vendor="microsoft",
                vendor_name="Microsoft",
                vendor_country="US",
                jurisdiction="non-eu",
                category="infrastructure",
                domain="messagerie",
                locus="127.0.0.1",
                version=f"1.{n}",
                confidence="strong",
                evidence=[f"o-{n:016x}"],
            )
            for n in range(findings)
        ],
    )
    return gzip.compress(document.to_json(indent=None).encode())


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """CPU time used so far by the server process and its workers."""
    process = psutil.Process(pid)
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        times = member.cpu_times()
        total += times.user + times.system
    return total


def _postgresql_cpu_seconds() -> float:
    """CPU time used so far by the PostgreSQL processes of this machine."""
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        if process.info["name"] == "postgres" and process.info["cpu_times"] is not None:
            total += process.info["cpu_times"].user + process.info["cpu_times"].system
    return total


def _rss(pid: int) -> int:
    """Resident memory of the server process and its workers, in bytes."""
    process = psutil.Process(pid)
    return sum(member.memory_info().rss for member in [process, *process.children(recursive=True)])


def _large_ingest(base: str, pid: int, token: str, name: str, findings: int) -> str:
    """Send one large inventory and tell the server's peak resident memory meanwhile."""
    body = inventory(name, findings)
    inflated = len(gzip.decompress(body))
    idle = peak = _rss(pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, _rss(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        answer = requests.post(
            f"{base}/api/v1/inventories",
            data=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
            timeout=600,
        )
    finally:
        done.set()
        sampler.join()
    return (
        f"un inventaire de {findings} constats ({inflated / 1e6:.1f} Mo décompressé, "
        f"{len(body) / 1e6:.1f} Mo gzip) : réponse {answer.status_code}, mémoire résidente "
        f"du serveur {idle / 2**20:.0f} Mio au repos, {peak / 2**20:.0f} Mio au plus fort"
    )


def run_backend(name: str, url: str, data_dir: Path, args: argparse.Namespace) -> None:
    """Start a server on `url`, send the inventories, print the figures."""
    engine = db.make_engine(url)
    migrations.migrate(engine)
    senders = []
    for number in range(args.senders):
        org_name = f"Commune banc {number}"
        _org, token = admin.create_organisation(engine, org_name)
        per_sender = args.inventories // args.senders
        senders.append((token, [inventory(org_name, args.findings) for _ in range(per_sender)]))
    engine.dispose()

    port = free_port()
    database = (
        ["--database-url", url] if url.startswith("postgresql") else ["--data-dir", str(data_dir)]
    )
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "agent", "server", "run", "--port", str(port)),
            *("--workers", str(args.workers), *database),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(f"{base}/api/v1/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        latencies: list[float] = []
        failures: list[str] = []
        start_line = threading.Barrier(args.senders + 1)

        def send(token: str, bodies: list[bytes]) -> None:
            # One connection per inventory, as `tiebreak scan --send` does (agent/sender.py): a
            # kept-alive connection would stay on one worker process for the whole run.
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            }
            start_line.wait()
            for body in bodies:
                began = time.perf_counter()
                answer = requests.post(f"{base}/api/v1/inventories", data=body, headers=headers)
                latencies.append(time.perf_counter() - began)
                if answer.status_code != 201:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

        threads = [threading.Thread(target=send, args=s) for s in senders]
        for thread in threads:
            thread.start()
        cpu_before, database_before = _cpu_seconds(server.pid), _postgresql_cpu_seconds()
        start_line.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        server_cpu = _cpu_seconds(server.pid) - cpu_before
        database_cpu = _postgresql_cpu_seconds() - database_before
        large = _large_ingest(base, server.pid, senders[0][0], "Commune banc 0", args.large)
    finally:
        server.terminate()
        server.wait(30)
    count = len(latencies)
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<10} {args.workers} processus, {count} inventaires de {args.findings} "
        f"constats, {args.senders} envois parallèles : {count / elapsed:6.1f} inventaires/s, "
        f"p50 {quantiles[49] * 1000:6.1f} ms, p95 {quantiles[94] * 1000:6.1f} ms, "
        f"CPU par inventaire : serveur {server_cpu / count * 1000:.1f} ms"
        + (
            f", PostgreSQL {database_cpu / count * 1000:.1f} ms"
            if url.startswith("postgresql")
            else ""
        )
        + f", échecs {len(failures)}"
    )
    for failure in failures[:3]:
        print(f"  {failure}")
    print(f"{'':<10} {large}")


def main() -> None:
    """Run the benchmark on each backend asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--inventories", type=int, default=400)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--findings", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--large",
        type=int,
        default=40_000,
        help="findings (and observations) of the large inventory whose peak memory is printed",
    )
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="tiebreak-bench-") as folder:
                url = f"sqlite:///{Path(folder) / 'tiebreak.sqlite3'}"
                run_backend("SQLite", url, Path(folder), args)
            continue
        database = f"tiebreak_bench_{os.getpid()}_{secrets.token_hex(3)}"
        admin_url = "postgresql://postgres@127.0.0.1:5432/test"
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        try:
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
            run_backend("PostgreSQL", url, Path(), args)
        finally:
            with psycopg.connect(admin_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
