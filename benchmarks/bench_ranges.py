"""Benchmark of the provider IP ranges lookup against the full shipped snapshot.

Loads every file of `fingerprints/ranges/` (AWS, Azure, Google Cloud, Oracle, Cloudflare), builds
the index, then measures in one run and on one core (CPU time of this process):

- `RangeIndex.lookup` on `--count` addresses (default 1,000,000): 40 % inside a random published
  network (IPv4 or IPv6, as the network), 40 % random IPv4, 20 % random IPv6, as text, as the
  engine gets them; no memo of repeated values (they barely repeat);
- the naive baseline: `ipaddress.ip_address(text) in network` over every network, keeping the
  longest prefix, on a sample (`--sample`, default 100) whose answers are checked against the
  index; its rate is extrapolated, as said in the output;
- the engine end to end on `--engine-count` `dns.a` observations (default 100,000) that the
  catalog's own matchers miss, so that each goes to the ranges.

Usage: .venv/bin/python benchmarks/bench_ranges.py [--count N] [--sample N] [--engine-count N]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time

from fingerprints.catalog import default_catalog
from fingerprints.engine import Engine
from fingerprints.ranges import SNAPSHOT_DIR, RangeHit, RangeIndex, read_directory
from inventory import Observation

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def addresses(
    networks: list[tuple[Network, RangeHit]], count: int, rng: random.Random
) -> list[str]:
    """`count` addresses as text: inside published networks, or random."""
    found = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.4:
            network, _ = rng.choice(networks)
            offset = rng.getrandbits(network.max_prefixlen - network.prefixlen)
            found.append(str(network.network_address + offset))
        elif draw < 0.8:
            found.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
        else:
            found.append(str(ipaddress.IPv6Address(rng.getrandbits(128))))
    return found


def naive(networks: list[tuple[Network, RangeHit]], text: str) -> RangeHit | None:
    """The most specific network holding `text`, every network tried."""
    address = ipaddress.ip_address(text)
    best: tuple[Network, RangeHit] | None = None
    for network, hit in networks:
        if (
            network.version == address.version
            and address in network
            and (best is None or network.prefixlen > best[0].prefixlen)
        ):
            best = (network, hit)
    return best[1] if best else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--engine-count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    start = time.process_time()
    files, problems = read_directory(SNAPSHOT_DIR, trusted=True)
    read = time.process_time() - start
    start = time.process_time()
    index = RangeIndex(files.values())
    built = time.process_time() - start
    assert not problems, problems
    print(
        f"snapshot: {', '.join(files)}; {len(index):,} networks, {index.segments:,} segments; "
        f"read {read:.2f} s, index built {built:.2f} s (CPU)"
    )

    order = {provider: rank for rank, provider in enumerate(files)}
    networks: list[tuple[Network, RangeHit]] = []
    for ranges in files.values():
        for cidr, service, region in ranges.entries:
            networks.append(
                (ipaddress.ip_network(cidr), RangeHit(ranges.provider, service, region))
            )
    # Equal networks of two providers: the earlier provider wins, as in the index.
    networks.sort(key=lambda item: order[item[1].provider])

    sample = addresses(networks, args.count, rng)
    lookup = index.lookup
    best = float("inf")
    hits = 0
    for _ in range(3):
        start = time.process_time()
        for text in sample:
            lookup(text)
        best = min(best, time.process_time() - start)
    hits = sum(1 for text in sample if lookup(text) is not None)
    fast_rate = len(sample) / best
    print(
        f"index: {len(sample):,} lookups in {best:.3f} s CPU (best of 3) = "
        f"{fast_rate / 1e6:.2f} M lookups/s; {hits / len(sample):.0%} in a range"
    )

    slow_sample = sample[: args.sample]
    start = time.process_time()
    slow_answers = [naive(networks, text) for text in slow_sample]
    slow = time.process_time() - start
    slow_rate = len(slow_sample) / slow
    mismatches = sum(
        1 for text, answer in zip(slow_sample, slow_answers, strict=True) if lookup(text) != answer
    )
    print(
        f"naive ipaddress scan: {len(slow_sample)} lookups in {slow:.2f} s CPU = "
        f"{slow_rate:,.1f} lookups/s (extrapolated: {len(sample) / slow_rate / 3600:.1f} h for "
        f"{len(sample):,}); answers differing from the index: {mismatches}"
    )
    print(f"ratio index / naive: {fast_rate / slow_rate:,.0f}x")

    if args.engine_count:
        engine = Engine(default_catalog(), ranges=index)
        observations = [
            Observation.model_construct(
                id=f"o-{number:016x}",
                probe="bench",
                channel="dns.a",
                locus=f"locus-{number % 50}.commune-test.fr",
                value=text,
                attributes={},
                notes=[],
            )
            for number, text in enumerate(sample[: args.engine_count])
        ]
        start = time.process_time()
        analysis = engine.analyse(observations)
        spent = time.process_time() - start
        print(
            f"engine: {len(observations):,} dns.a observations in {spent:.2f} s CPU = "
            f"{len(observations) / spent:,.0f} observations/s; {len(analysis.findings)} findings, "
            f"{len(analysis.unidentified):,} unidentified"
        )


if __name__ == "__main__":
    main()
