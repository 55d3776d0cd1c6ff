"""Benchmark of the matching engine against the full catalog.

Builds 1,000,000 synthetic observations over every channel the catalog uses: the catalog's own
`match` and `no_match` examples (30 %) and random values that match nothing (70 %: domain names,
addresses, package names, banners), spread over 50 loci. Then measures, in one run and on one core
(CPU time of this process, so that other work on the machine weighs less):

- the engine end to end (`Engine.analyse`: lookups, findings, dedup, scores);
- the index lookups alone, without the engine's per-scan memo of repeated values;
- the naive reference matcher (`fingerprints.naive`), in its two forms (channel compared first,
  or every pattern tried on every value); it is measured on a sample and its rate extrapolated,
  as said in the output.

Usage: .venv/bin/python benchmarks/bench_match.py [--dir CATALOG_DIR] [--count N] [--sample N]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import string
import time
from pathlib import Path

from fingerprints.catalog import load_catalog
from fingerprints.engine import Engine
from fingerprints.index import MatchIndex
from fingerprints.naive import NaiveMatcher
from fingerprints.schema import example_parts
from inventory import Observation


def random_value(channel: str, rng: random.Random) -> str:
    """A plausible value of `channel` that no catalog matcher should recognise."""
    word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 12)))
    if channel in ("dns.a", "net.remote"):
        if rng.random() < 0.8:
            return str(ipaddress.IPv4Address(rng.getrandbits(32)))
        return str(ipaddress.IPv6Address(rng.getrandbits(128)))
    if channel.startswith("dns.") or channel == "net.host":
        domain = rng.choice(["example", "commune-test", "mairie-x"])
        return f"{word}.{domain}.{rng.choice(['fr', 'eu', 'org'])}"
    if channel == "nmap.cpe":
        return f"cpe:/a:{word}:{word}d:{rng.randint(1, 9)}.{rng.randint(0, 9)}"
    if channel == "http.header":
        return f"x-{word}: {word}"
    if channel.startswith("ldap."):
        return f"{word}={word.upper()}"
    return f"{word}-{rng.randint(0, 99)}"


def synthetic(index: MatchIndex, count: int, seed: int = 7) -> list[Observation]:
    """`count` observations: catalog examples and random non-matching values, on every channel."""
    rng = random.Random(seed)
    examples = [
        (ref.matcher.channel.value, example_parts(example)[0])
        for ref in index.refs
        for example in (*ref.matcher.match, *ref.matcher.no_match)
    ]
    channels = sorted(index.channels)
    loci = [f"locus-{n}.commune-test.fr" for n in range(50)]
    observations = []
    for number in range(count):
        if rng.random() < 0.3:
            channel, value = rng.choice(examples)
        else:
            channel = rng.choice(channels)
            value = random_value(channel, rng)
        # Built without validation: the benchmark measures matching, not pydantic.
        observations.append(
            Observation.model_construct(
                id=f"o-{number:016x}",
                probe="bench",
                channel=channel,
                locus=rng.choice(loci),
                value=value,
                attributes={},
                notes=[],
            )
        )
    return observations


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} obs/s"


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="catalog directory (default: the shipped one)")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="observations for the naive")
    args = parser.parse_args()

    started = time.perf_counter()
    catalog = load_catalog(args.dir)
    loaded = time.perf_counter()
    engine = Engine(catalog)
    engine.index.compile_all()
    compiled = time.perf_counter()
    index = engine.index
    kinds: dict[str, int] = {}
    for ref in index.refs:
        kinds[ref.matcher.kind.value] = kinds.get(ref.matcher.kind.value, 0) + 1
    print(
        f"catalog: {len(catalog.vendors)} vendors, {len(catalog.products)} products, "
        f"{len(index.refs)} matchers over {len(index.channels)} channels "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})"
    )
    print(f"load {1000 * (loaded - started):.0f} ms, compile {1000 * (compiled - loaded):.0f} ms")

    observations = synthetic(index, args.count)
    distinct = len({(o.channel, o.value) for o in observations})
    print(f"observations: {len(observations):,} ({distinct:,} distinct channel/value pairs)")
    print("times are CPU seconds of this process (the machine is shared), wall time beside")

    wall, cpu = time.perf_counter(), time.process_time()
    analysis = engine.analyse(observations)
    engine_cpu, engine_wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"engine (analyse, end to end): {engine_cpu:.2f} s CPU ({engine_wall:.2f} s wall), "
        f"{rate(len(observations), engine_cpu)}; {len(analysis.findings):,} findings, "
        f"{len(analysis.unidentified):,} unidentified"
    )

    cpu = time.process_time()
    lookup = index.lookup
    for observation in observations:
        lookup(observation.channel, observation.value)
    lookup_cpu = time.process_time() - cpu
    print(
        f"index lookups alone, no memo: {lookup_cpu:.2f} s CPU, "
        f"{rate(len(observations), lookup_cpu)}"
    )

    sample = observations[: args.sample]
    naive_rates = {}
    for every_pattern, name in ((False, "channel compared first"), (True, "every pattern")):
        naive = NaiveMatcher(index.refs, every_pattern=every_pattern)
        cpu = time.process_time()
        for observation in sample:
            naive.lookup(observation.channel, observation.value)
        naive_cpu = time.process_time() - cpu
        naive_rates[name] = len(sample) / naive_cpu
        print(
            f"naive reference ({name}): measured on a sample of {len(sample):,} observations, "
            f"{naive_cpu:.2f} s CPU, {rate(len(sample), naive_cpu)}; extrapolated to "
            f"{len(observations):,}: {len(observations) / naive_rates[name]:.0f} s"
        )
    for name, naive_rate in naive_rates.items():
        print(
            f"ratio vs naive ({name}): engine end to end "
            f"{len(observations) / engine_cpu / naive_rate:.0f}x, index lookups alone "
            f"{len(observations) / lookup_cpu / naive_rate:.0f}x"
        )
    print("targets: >= 300,000 obs/s on one core, >= 50x naive")


if __name__ == "__main__":
    main()
