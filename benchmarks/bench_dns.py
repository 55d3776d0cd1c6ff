"""Benchmark of the DNS probe's external mode, in two regimes measured side by side in one run.

Both regimes use a real Knot DNS server serving 2,000 generated collectivité zones built from the
five provider patterns of tests/dns/zones (Microsoft 365 + Cloudflare, Google Workspace, OVHcloud
+ Gandi, self-hosted behind Vade, migrating), plus the provider zones of that folder.

1. Latency-bound, as against real resolvers. knotd runs inside a network namespace created for the
   run, and every packet between the client and knotd is delayed by 20 ms (40 ms round trip):
   - first choice: `tc qdisc add dev lo root netem delay 20ms` on the namespace's loopback;
   - fallback, used when the kernel has no netem (the machine this was written on: "Specified
     qdisc kind is unknown", no sch_netem, no module directory; tbf, the only delaying-looking
     qdisc built in, only shapes rate): a UDP delay relay (`relay`, below) runs inside the
     namespace on 127.0.0.2:53 in its own process, and holds each datagram 20 ms in a timer heap
     before forwarding it, to knotd on 127.0.0.1:53 for questions and back to the client for
     answers. Each packet thus gets the same 20 ms that netem would add on the loopback, and the
     relay keeps no limit on packets in flight. Only UDP is relayed: the generated zones keep
     every answer under the 1,232-byte EDNS payload, so no answer is truncated to TCP.
   The client runs inside the namespace too (the script re-executes itself with
   `ip netns exec`). It measures domains per second of the external mode (`run_external`, 50
   questions in flight, every domain) and of a sequential reference making the same questions one
   domain and one question at a time (`run_external` with concurrency 1), on a sample of domains
   because at 40 ms per question it takes about 1.3 s per domain; the rate is per domain, so the
   sample size does not bias it. Target: at least 30× the reference.
2. CPU-bound, no delay, knotd on a host loopback address. Queries per second of the external
   mode's whole pipeline (questions, parsing, matching, inventories and summary written) against
   a bare sequential `dns.query.udp` loop sending exactly the same questions (recorded from the
   pipeline's run), and the server's own ceiling measured by `dnsperf` over the same questions.
   Target: at least 1.0× the bare loop.

Needs root (network namespace), knotd and dnsperf (scripts/debian-packages.txt).
Usage: .venv/bin/python benchmarks/bench_dns.py [--domains 2000] [--sample 25]
Inventories are written under a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import heapq
import importlib.util
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ZONES = REPO / "tests" / "dns" / "zones"
PATTERNS = ("commune-a", "commune-b", "commune-c", "commune-d", "commune-e")
DELAY_S = 0.020


def knot_helpers() -> ModuleType:
    """tests/dns/knot_server.py, shared with the tests (tests are not an importable package)."""
    spec = importlib.util.spec_from_file_location(
        "bench_knot_server", ZONES.parent / "knot_server.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def generate_zones(directory: Path, count: int) -> list[str]:
    """Copy the provider zones and write `count` collectivité zones cycling over the patterns."""
    directory.mkdir(parents=True, exist_ok=True)
    templates = {p: (ZONES / f"{p}.test.zone").read_text() for p in PATTERNS}
    for path in ZONES.glob("*.zone"):
        if not path.name.startswith(("commune-", "hostile-")):
            shutil.copy(path, directory / path.name)
    domains = []
    for n in range(count):
        pattern = PATTERNS[n % len(PATTERNS)]
        domain = f"c{n:05d}-{pattern[-1]}.test"
        text = templates[pattern].replace(f"{pattern}.test", domain)
        text = text.replace(f"{pattern}-test", domain.replace(".", "-"))
        (directory / f"{domain}.zone").write_text(text)
        domains.append(domain)
    return domains


def relay(listen: str, upstream: str, delay: float) -> None:
    """UDP relay holding every datagram `delay` seconds each way (stands in for netem)."""
    host, port = listen.rsplit(":", 1)
    up_host, up_port = upstream.rsplit(":", 1)
    target = (up_host, int(up_port))
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind((host, int(port)))
    front.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(front, selectors.EVENT_READ, None)
    backs: dict[Any, socket.socket] = {}
    heap: list[tuple[float, int, socket.socket, bytes, Any]] = []
    sequence = 0
    print("ready", flush=True)
    while True:
        timeout = max(0.0, heap[0][0] - time.monotonic()) if heap else None
        for key, _events in selector.select(timeout):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            while True:
                try:
                    data, address = sock.recvfrom(65535)
                except BlockingIOError:
                    break
                due = time.monotonic() + delay
                sequence += 1
                if sock is front:
                    back = backs.get(address)
                    if back is None:
                        back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        back.setblocking(False)
                        back.connect(target)
                        selector.register(back, selectors.EVENT_READ, address)
                        backs[address] = back
                    heapq.heappush(heap, (due, sequence, back, data, None))
                else:
                    heapq.heappush(heap, (due, sequence, front, data, key.data))
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _due, _seq, out, data, address = heapq.heappop(heap)
            if address is None:
                out.send(data)
            else:
                out.sendto(data, address)


def wait_for_server(address: str, port: int, names: list[str], deadline_s: float = 60) -> None:
    """Wait until the server answers SOA for every name (knotd loads 2,000 zones)."""
    import dns.message
    import dns.query
    import dns.rcode

    deadline = time.monotonic() + deadline_s
    for name in names:
        while True:
            try:
                answer = dns.query.udp(dns.message.make_query(name, "SOA"), address, 1.0, port)
                if answer.rcode() == dns.rcode.NOERROR and answer.answer:
                    break
            except (OSError, dns.exception.Timeout):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{address}:{port} does not serve {name}")
            time.sleep(0.1)


def run_pipeline(domains: list[str], address: str, port: int, concurrency: int) -> dict[str, Any]:
    """The external mode's whole pipeline on `domains`; wall time and questions asked."""
    from agent.external import ExternalSettings, Target, run_external
    from fingerprints.engine import default_engine

    default_engine()  # the catalog is compiled once per process, before timing
    targets = [Target(n + 1, d, d) for n, d in enumerate(domains)]
    settings = ExternalSettings(
        nameservers=(address,), port=port, timeout=2.0, retries=1, concurrency=concurrency
    )
    with tempfile.TemporaryDirectory(prefix="bench-dns-out-") as out:
        started = time.perf_counter()
        report = run_external(targets, settings, Path(out))
        elapsed = time.perf_counter() - started
    assert not report.failed_domains, report.failed_domains[:3]
    return {"domains": len(domains), "seconds": elapsed, "queries": report.queries}


def client_latency(args: argparse.Namespace) -> None:
    """Inside the namespace: external mode on every domain, sequential reference on a sample."""
    domains = json.loads(Path(args.domain_list).read_text())
    wait_for_server(args.address, args.port, domains[-1:] + domains[:1])
    concurrent = run_pipeline(domains, args.address, args.port, args.concurrency)
    sequential = run_pipeline(domains[: args.sample], args.address, args.port, 1)
    print(json.dumps({"concurrent": concurrent, "sequential": sequential}))


def record_queries(domains: list[str], address: str, port: int) -> list[tuple[str, str]]:
    """The questions the pipeline asks for `domains`, in order (a run with a recording resolver)."""
    from probes.dns.resolver import Answer, AsyncResolver

    asked: list[tuple[str, str]] = []
    original = AsyncResolver.query

    async def recording(self: AsyncResolver, name: str, rdtype: str) -> Answer:
        asked.append((name, rdtype))
        return await original(self, name, rdtype)

    AsyncResolver.query = recording  # type: ignore[method-assign]
    try:
        run_pipeline(domains, address, port, 50)
    finally:
        AsyncResolver.query = original  # type: ignore[method-assign]
    return asked


def bare_loop(queries: list[tuple[str, str]], address: str, port: int) -> float:
    """Seconds for a sequential `dns.query.udp` loop over `queries`."""
    import dns.message
    import dns.query

    started = time.perf_counter()
    for name, rdtype in queries:
        dns.query.udp(dns.message.make_query(name, rdtype), address, 2.0, port)
    return time.perf_counter() - started


def dnsperf(queries: list[tuple[str, str]], address: str, port: int, workdir: Path) -> float | None:
    """Queries per second dnsperf reaches on the same questions (None when it is missing)."""
    binary = shutil.which("dnsperf")
    if binary is None:
        return None
    path = workdir / "queries.txt"
    path.write_text("".join(f"{name} {rdtype}\n" for name, rdtype in queries))
    result = subprocess.run(
        [
            binary,
            "-s",
            address,
            "-p",
            str(port),
            "-d",
            str(path),
            "-l",
            "10",
            "-c",
            "4",
            "-q",
            "200",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Queries per second:\s+([0-9.]+)", result.stdout)
    return float(match.group(1)) if match else None


def latency_regime(
    args: argparse.Namespace, zones: Path, domains: list[str], workdir: Path
) -> dict[str, Any]:
    """Namespace, delay (netem or relay), knotd, and the client run inside the namespace."""
    knot = knot_helpers()
    netns = f"tiebreak-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        netem = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                netns,
                "tc",
                "qdisc",
                "add",
                "dev",
                "lo",
                "root",
                "netem",
                "delay",
                "20ms",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        server_dir = workdir / "knot-latency"
        server_dir.mkdir()
        shutil.copytree(zones, server_dir / "zones")
        config = knot.write_config(
            server_dir, "127.0.0.1", 53, [z.stem for z in sorted(zones.glob("*.zone"))], 2
        )
        processes.append(
            subprocess.Popen(
                ["ip", "netns", "exec", netns, "knotd", "-c", str(config)],
                stderr=subprocess.DEVNULL,
            )
        )
        if netem.returncode == 0:
            method, address = "tc netem delay 20ms on the namespace loopback", "127.0.0.1"
        else:
            reason = netem.stderr.strip()
            method = f"UDP delay relay, 20 ms per datagram each way (netem unavailable: {reason})"
            address = "127.0.0.2"
            relay_process = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    netns,
                    sys.executable,
                    __file__,
                    "--relay",
                    f"{address}:53",
                    "127.0.0.1:53",
                ],
                stdout=subprocess.PIPE,
            )
            processes.append(relay_process)
            assert relay_process.stdout is not None
            relay_process.stdout.readline()  # "ready"
        domain_list = workdir / "domains.json"
        domain_list.write_text(json.dumps(domains))
        client = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                netns,
                sys.executable,
                __file__,
                "--client",
                "--address",
                address,
                "--port",
                "53",
                "--domain-list",
                str(domain_list),
                "--sample",
                str(args.sample),
                "--concurrency",
                str(args.concurrency),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        if client.returncode != 0:
            raise RuntimeError(client.stderr)
        result: dict[str, Any] = json.loads(client.stdout.strip().splitlines()[-1])
        result["method"] = method
        return result
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", netns], check=False)


def cpu_regime(zones: Path, domains: list[str], workdir: Path, rounds: int) -> dict[str, Any]:
    """knotd on a host loopback address, no delay: pipeline vs bare loop vs dnsperf."""
    knot = knot_helpers()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.53.200.1", 0))
        port = probe.getsockname()[1]
    server_dir = workdir / "knot-cpu"
    server_dir.mkdir()
    shutil.copytree(zones, server_dir / "zones")
    config = knot.write_config(
        server_dir, "127.53.200.1", port, [z.stem for z in sorted(zones.glob("*.zone"))], 2
    )
    server = subprocess.Popen(["knotd", "-c", str(config)], stderr=subprocess.DEVNULL)
    try:
        wait_for_server("127.53.200.1", port, domains[-1:] + domains[:1])
        queries = record_queries(domains, "127.53.200.1", port)  # also warms the server up
        # Alternate rounds and keep each side's best: the machine is shared, load varies.
        pipeline_s, bare_s, pipeline_queries = float("inf"), float("inf"), 0
        for _round in range(rounds):
            pipeline = run_pipeline(domains, "127.53.200.1", port, 50)
            pipeline_s = min(pipeline_s, pipeline["seconds"])
            pipeline_queries = pipeline["queries"]
            bare_s = min(bare_s, bare_loop(queries, "127.53.200.1", port))
        perf = dnsperf(queries, "127.53.200.1", port, workdir)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {
        "pipeline_qps": pipeline_queries / pipeline_s,
        "pipeline_queries": pipeline_queries,
        "bare_qps": len(queries) / bare_s,
        "bare_queries": len(queries),
        "dnsperf_qps": perf,
    }


def main() -> None:
    """Run both regimes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, default=2000)
    parser.add_argument(
        "--sample", type=int, default=25, help="domains for the sequential reference"
    )
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="CPU-bound rounds (best kept)")
    parser.add_argument("--relay", nargs=2, metavar=("LISTEN", "UPSTREAM"))
    parser.add_argument("--client", action="store_true")
    parser.add_argument("--address")
    parser.add_argument("--port", type=int)
    parser.add_argument("--domain-list")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-cpu", action="store_true")
    args = parser.parse_args()
    if args.relay:
        relay(args.relay[0], args.relay[1], DELAY_S)
        return
    if args.client:
        client_latency(args)
        return

    if not args.skip_latency and os.geteuid() != 0:
        sys.exit("the latency-bound regime needs root (network namespace); or --skip-latency")
    if shutil.which("knotd") is None:
        sys.exit("knotd missing: apt-get install knot")
    with tempfile.TemporaryDirectory(prefix="bench-dns-") as temporary:
        workdir = Path(temporary)
        zones = workdir / "zones"
        domains = generate_zones(zones, args.domains)
        print(f"{len(domains)} zones générées / generated ({', '.join(PATTERNS)} patterns)")
        if not args.skip_latency:
            latency = latency_regime(args, zones, domains, workdir)
            concurrent, sequential = latency["concurrent"], latency["sequential"]
            fast = concurrent["domains"] / concurrent["seconds"]
            slow = sequential["domains"] / sequential["seconds"]
            print("\n== Latency-bound (20 ms per packet, 40 ms round trip) ==")
            print(f"delay: {latency['method']}")
            print(
                f"external mode, {args.concurrency} in flight: {concurrent['domains']} domains, "
                f"{concurrent['queries']} queries in {concurrent['seconds']:.1f} s "
                f"= {fast:.2f} domains/s"
            )
            print(
                f"sequential reference: {sequential['domains']} domains (sample), "
                f"{sequential['queries']} queries in {sequential['seconds']:.1f} s "
                f"= {slow:.3f} domains/s"
            )
            print(f"ratio: {fast / slow:.1f}x (target >= 30x)")
        if not args.skip_cpu:
            cpu = cpu_regime(zones, domains, workdir, args.rounds)
            print("\n== CPU-bound (no delay) ==")
            print(
                f"external mode pipeline: {cpu['pipeline_queries']} queries, "
                f"{cpu['pipeline_qps']:.0f} queries/s"
            )
            print(
                f"bare dns.query.udp loop: {cpu['bare_queries']} queries, "
                f"{cpu['bare_qps']:.0f} queries/s"
            )
            print(f"ratio: {cpu['pipeline_qps'] / cpu['bare_qps']:.2f}x (target >= 1.0x)")
            perf = cpu["dnsperf_qps"]
            print(f"dnsperf (server ceiling): {perf:.0f} queries/s" if perf else "dnsperf: missing")


if __name__ == "__main__":
    main()
