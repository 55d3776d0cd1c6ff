"""Benchmark of the external mode (`tiebreak scan --external`) at national scale, latency-bound.

Setup, reused from bench_dns.py (imported, not copied): collectivité zones generated from the five
provider patterns of tests/dns/zones, served by knotd inside a network namespace created for the
run, with 20 ms added to every packet (`tc netem` on the namespace loopback, or bench_dns's UDP
delay relay when the kernel has no netem). The client runs inside the namespace too (this script
re-executed with `ip netns exec`): the namespace has only its loopback, so nothing it does can
leave the machine.

Measured, each run in a client process of its own (so that each peak RSS is that run's own):
1. the external mode (`run_external`: probes, inventories built by agent.build, files, summary) on
   the first `--small` domains (default 2,000) and on all `--domains` (default 10,000), one domain
   per organisation: domains per second, DNS questions, CPU time, peak RSS (`ru_maxrss`) and the
   RSS sampled at every tenth of the domains. Memory must stay flat as the number of domains
   grows: the peak at 10,000 is compared with the peak at 2,000;
2. the sequential reference of bench_dns (the same pipeline with one question in flight), on a
   sample of `--sample` domains (the rate is per domain, the sample does not bias it);
3. the time a national run (35,000 domains) takes at the measured rate: target 15 minutes.

Probes: `dns`, plus `http` when the HTTP probe is registered (probes/registry.py). Then the zones'
apex and www addresses point at one HTTP server inside the namespace (127.0.0.3:80, answering any
Host with the same small WordPress-like page, behind a TCP relay adding the same 20 ms per
chunk each way); otherwise the run is DNS only, and the output says so.

Needs root (network namespace) and knotd. Usage:
  .venv/bin/python benchmarks/bench_external.py [--domains 10000] [--small 2000] [--sample 25]
                                                [--concurrency 50 [100 ...]]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
NATIONAL = 35_000
TARGET_MINUTES = 15.0
WEB_ADDRESS = "127.0.0.3"
WEB_BACKEND = "127.0.0.4"
PAGE = (
    b"<!DOCTYPE html><html><head><title>Mairie</title>"
    b'<meta name="generator" content="WordPress 6.4.2">'
    b'<link rel="stylesheet" href="/wp-content/themes/mairie/style.css"></head>'
    b"<body><h1>Bienvenue</h1></body></html>"
)


def bench_dns() -> ModuleType:
    """benchmarks/bench_dns.py (zone generation, delay relay, server wait), imported by path."""
    name = "tiebreak_bench_dns"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("bench_dns.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def rss_kib() -> int:
    """Resident set size of this process now, in KiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def external_probes() -> list[str]:
    """The probes the external mode runs by default here: dns, and http when registered."""
    from agent.external import EXTERNAL_PROBES
    from probes import registry

    return [name for name in EXTERNAL_PROBES if name in registry.all_names()]


# -- inside the namespace ------------------------------------------------------------------------


def client(args: argparse.Namespace) -> None:
    """One external run on the first `--count` domains; prints its figures as JSON."""
    from agent.external import ExternalSettings, Target, run_external
    from fingerprints.engine import default_engine

    domains: list[str] = json.loads(Path(args.domain_list).read_text())[: args.count]
    bench_dns().wait_for_server(args.address, args.port, domains[-1:] + domains[:1], 600)
    default_engine()  # the catalog is compiled once per process, before timing
    baseline = rss_kib()
    samples: list[tuple[int, int]] = []
    step = max(1, len(domains) // 10)
    done = 0

    def progress(_domain: str) -> None:
        nonlocal done
        done += 1
        if done % step == 0:
            samples.append((done, rss_kib()))

    targets = [Target(n + 1, domain, domain) for n, domain in enumerate(domains)]
    settings = ExternalSettings(
        nameservers=(args.address,),
        port=args.port,
        timeout=2.0,
        retries=1,
        concurrency=args.concurrency,
        threads=min(32, args.concurrency),  # the sequential reference: one thread too
        probes=tuple((args.probes or "dns").split(",")),
    )
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory(prefix="bench-external-out-") as out:
        started = time.perf_counter()
        report = run_external(targets, settings, Path(out), progress=progress)
        elapsed = time.perf_counter() - started
        written = len(list(Path(out).glob("*.json")))
    after = resource.getrusage(resource.RUSAGE_SELF)
    failed = report.failed_domains
    print(
        json.dumps(
            {
                "domains": len(domains),
                "concurrency": args.concurrency,
                "seconds": elapsed,
                "queries": report.queries,
                "written": written,
                "failed": len(failed),
                "failed_sample": failed[:3],
                "cpu_seconds": (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime),
                "baseline_rss_kib": baseline,
                "peak_rss_kib": after.ru_maxrss,
                "rss_samples": samples,
            }
        )
    )


async def _web_server(address: str) -> None:
    """HTTP/1.1 on address:80 answering any Host and path with PAGE (keep-alive honoured)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                writer.write(
                    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8"
                    b"\r\nX-Powered-By: PHP/8.2\r\nContent-Length: "
                    + str(len(PAGE)).encode()
                    + b"\r\n\r\n"
                    + PAGE
                )
                await writer.drain()
                if b"connection: close" in head.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, address, 80, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


async def _tcp_relay(listen: str, upstream: str, delay: float) -> None:
    """TCP relay holding each chunk `delay` seconds each way, in order (netem's stand-in)."""
    host, port = listen.rsplit(":", 1)
    up_host, up_port = upstream.rsplit(":", 1)
    loop = asyncio.get_running_loop()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def later() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.create_task(later())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + delay, data))
        except ConnectionError:
            pass
        queue.put_nowait((loop.time() + delay, b""))
        await sender

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(2 * delay)  # the handshake's round trip
        try:
            up_reader, up_writer = await asyncio.open_connection(up_host, int(up_port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(accept, host, int(port), backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# -- outside: namespace, servers, runs -----------------------------------------------------------


def point_sites_at(zones: Path, address: str) -> None:
    """Make every generated zone's apex and www A records point at `address`, AAAA removed."""
    a_record = re.compile(r"^(@|www)(\s+(?:\d+\s+)?(?:IN\s+)?)A\s+\S+\s*$", re.MULTILINE)
    for path in zones.glob("c*-*.test.zone"):
        text = path.read_text()
        text = a_record.sub(lambda m: f"{m.group(1)}{m.group(2)}A {address}", text)
        text = re.sub(r"^(@|www)\s+(?:\d+\s+)?(?:IN\s+)?AAAA\s+\S+\s*$", "", text, flags=re.M)
        path.write_text(text)


def _in_netns(netns: str, *command: str) -> list[str]:
    return ["ip", "netns", "exec", netns, *command]


def _start(command: list[str], processes: list[subprocess.Popen[bytes]]) -> None:
    """Start a helper that prints `ready` once it listens."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    processes.append(process)
    assert process.stdout is not None
    if process.stdout.readline().strip() != b"ready":
        raise RuntimeError(f"{command} did not start")


def run_client(
    netns: str, address: str, domain_list: Path, count: int, concurrency: int, probes: list[str]
) -> dict[str, Any]:
    """One measured run, in a fresh process inside the namespace."""
    result = subprocess.run(
        _in_netns(
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
            "--count",
            str(count),
            "--concurrency",
            str(concurrency),
            "--probes",
            ",".join(probes),
        ),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Zones, namespace, delay, servers; then every run; the namespace is removed at the end."""
    dns_bench = bench_dns()
    knot = dns_bench.knot_helpers()
    probes = args.probes.split(",") if args.probes else external_probes()
    zones = workdir / "zones"
    domains = dns_bench.generate_zones(zones, args.domains)
    if "http" in probes:
        point_sites_at(zones, WEB_ADDRESS)
    domain_list = workdir / "domains.json"
    domain_list.write_text(json.dumps(domains))
    netns = f"tiebreak-bench-ext-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        netem = subprocess.run(
            _in_netns(netns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "20ms"),
            capture_output=True,
            text=True,
            check=False,
        )
        server_dir = workdir / "knot"
        server_dir.mkdir()
        shutil.copytree(zones, server_dir / "zones")
        config = knot.write_config(
            server_dir, "127.0.0.1", 53, [z.stem for z in sorted(zones.glob("*.zone"))], 2
        )
        processes.append(
            subprocess.Popen(
                _in_netns(netns, "knotd", "-c", str(config)), stderr=subprocess.DEVNULL
            )
        )
        web = WEB_ADDRESS
        if netem.returncode == 0:
            method, address = "tc netem delay 20ms on the namespace loopback", "127.0.0.1"
        else:
            method = (
                "UDP delay relay of bench_dns, 20 ms per datagram each way (netem unavailable: "
                f"{netem.stderr.strip()})"
            )
            address = "127.0.0.2"
            relay = Path(__file__).with_name("bench_dns.py")
            _start(
                _in_netns(
                    netns, sys.executable, str(relay), "--relay", f"{address}:53", "127.0.0.1:53"
                ),
                processes,
            )
            web = WEB_BACKEND
        if "http" in probes:
            _start(_in_netns(netns, sys.executable, __file__, "--web", web), processes)
            if web != WEB_ADDRESS:
                method += "; TCP relay, 20 ms per chunk each way, for the web sites"
                _start(
                    _in_netns(
                        netns,
                        sys.executable,
                        __file__,
                        "--tcp-relay",
                        f"{WEB_ADDRESS}:80",
                        f"{web}:80",
                    ),
                    processes,
                )
        runs: list[dict[str, Any]] = []
        for concurrency in args.concurrency:
            for count in (args.small, args.domains):
                runs.append(run_client(netns, address, domain_list, count, concurrency, probes))
        sequential = run_client(netns, address, domain_list, args.sample, 1, probes)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", netns], check=False)
    return {"method": method, "probes": probes, "runs": runs, "sequential": sequential}


def report(figures: dict[str, Any]) -> None:
    """Print the figures and whether the targets are met."""
    probes = figures["probes"]
    print(f"\n== External mode, 20 ms per packet (40 ms round trip): {', '.join(probes)} ==")
    if "http" not in probes:
        registered = "http" in external_probes()
        print(
            "DNS only" + ("" if registered else ": HTTP probe not registered (probes/registry.py)")
        )
    print(f"delay: {figures['method']}")
    sequential = figures["sequential"]
    slow = sequential["domains"] / sequential["seconds"]
    print(
        f"sequential reference (1 in flight): {sequential['domains']} domains (sample), "
        f"{sequential['queries']} queries in {sequential['seconds']:.1f} s = {slow:.3f} domains/s"
    )
    by_concurrency: dict[int, list[dict[str, Any]]] = {}
    for run in figures["runs"]:
        by_concurrency.setdefault(run["concurrency"], []).append(run)
    for concurrency, runs in by_concurrency.items():
        print(f"\n-- concurrency {concurrency} --")
        for run in runs:
            rate = run["domains"] / run["seconds"]
            samples = ", ".join(f"{n}: {kib / 1024:.0f}" for n, kib in run["rss_samples"])
            print(
                f"{run['domains']:>6} domains: {run['seconds']:7.1f} s = {rate:6.2f} domains/s "
                f"({rate / slow:.0f}x the reference), {run['queries']} queries "
                f"({run['queries'] / run['domains']:.1f}/domain), CPU "
                f"{run['cpu_seconds'] / run['domains'] * 1000:.1f} ms/domain, "
                f"{run['written']} inventories, {run['failed']} failed runs"
            )
            print(
                f"        RSS MiB: after start-up {run['baseline_rss_kib'] / 1024:.0f}, peak "
                f"{run['peak_rss_kib'] / 1024:.0f}; while running (domains done: MiB) {samples}"
            )
            if run["failed"]:
                print(f"        failures, first ones: {run['failed_sample']}")
        small, large = runs[0], runs[-1]
        rate = large["domains"] / large["seconds"]
        minutes = NATIONAL / rate / 60
        verdict = "met" if minutes <= TARGET_MINUTES else "NOT met"
        print(
            f"national run ({NATIONAL:,} domains) at {rate:.1f} domains/s: {minutes:.1f} min "
            f"(target <= {TARGET_MINUTES:g} min: {verdict})"
        )
        growth = (large["peak_rss_kib"] - small["peak_rss_kib"]) / 1024
        extra = large["domains"] - small["domains"]
        print(
            f"peak RSS {small['domains']} -> {large['domains']} domains: "
            f"{small['peak_rss_kib'] / 1024:.0f} -> {large['peak_rss_kib'] / 1024:.0f} MiB "
            f"({growth:+.1f} MiB for {extra} more domains, {growth * 1024 / extra:+.2f} KiB/domain)"
        )


def main() -> None:
    """Parse the options; run as the benchmark, or as one of its helpers in the namespace."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=2_000, help="domains of the smaller run")
    parser.add_argument("--sample", type=int, default=25, help="domains, sequential reference")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50])
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--domain-list", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--probes",
        help="comma-separated probes (default: dns, and http when registered)",
    )
    parser.add_argument("--web", help=argparse.SUPPRESS)
    parser.add_argument("--tcp-relay", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        args.concurrency = args.concurrency[0]
        client(args)
        return
    if args.web:
        asyncio.run(_web_server(args.web))
        return
    if args.tcp_relay:
        asyncio.run(_tcp_relay(args.tcp_relay[0], args.tcp_relay[1], bench_dns().DELAY_S))
        return
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace)")
    if shutil.which("knotd") is None:
        sys.exit("knotd missing: apt-get install knot")
    if not 0 < args.small < args.domains:
        sys.exit("--small must be between 0 and --domains")
    with tempfile.TemporaryDirectory(prefix="bench-external-") as temporary:
        started = time.monotonic()
        figures = measure(args, Path(temporary))
    print(f"{args.domains} zones generated; benchmark took {time.monotonic() - started:.0f} s")
    report(figures)


if __name__ == "__main__":
    main()
