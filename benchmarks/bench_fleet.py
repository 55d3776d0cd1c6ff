"""Benchmark the fleet import: thousands of FusionInventory XML inventories read and matched.

For each fleet size (10,000 and 2,000 machines by default) the script writes one FusionInventory
XML inventory per machine in a temporary folder (150 programs each: names the catalog knows,
look-alikes it must not match, runtimes and drivers, and a long tail of business software; Windows
10 and 11 releases; hardware, antivirus, disks and network sections as FusionInventory writes
them), then measures, each in its own fresh process so that its peak memory is its own:

- **fleet**: the `fleet` probe run by the orchestrator and the inventory built by `agent.build`
  (the engine's matching included), as `tiebreak scan --probe fleet` does; the catalog is
  compiled before the clock starts (a fixed cost, printed apart);
- **reference**: a plain `xml.etree.ElementTree.iterparse` loop over the same files that only
  counts the `SOFTWARES` entries.

Both run twice, alternately, and the faster run of each is kept. Printed per size: machines per
second of each, their ratio (target: fleet ≥ 50 % of the reference), the fleet process's peak
RSS once the inventory is built (target: under 150 MB whatever the size), its peak once the
inventory is also serialised to JSON as `tiebreak scan` writes it (`Inventory.to_json_bytes`, which
holds the whole document in memory), the reference's peak, and the inventory's size.

Usage: .venv/bin/python benchmarks/bench_fleet.py [--machines 10000 2000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
PROGRAMS = 150
SYSTEMS = (
    ("Microsoft Windows 10 Professionnel", "10.0.19045", "22H2"),
    ("Microsoft Windows 10 Entreprise", "10.0.19045", "22H2"),
    ("Microsoft Windows 11 Professionnel", "10.0.22631", "23H2"),
    ("Microsoft Windows 11 Professionnel", "10.0.26100", "24H2"),
    ("Microsoft Windows 11 Entreprise", "10.0.26200", "25H2"),
    ("Microsoft Windows 10 Entreprise LTSC", "10.0.17763", "1809"),
)
HARDWARE = (
    ("Dell Inc.", "OptiPlex 7090"),
    ("Dell Inc.", "Latitude 5420"),
    ("HP", "HP EliteDesk 800 G6 Desktop Mini PC"),
    ("HP", "HP ProBook 450 G8"),
    ("LENOVO", "ThinkCentre M70q"),
    ("LENOVO", "ThinkPad T14 Gen 3"),
    ("VMware, Inc.", "VMware Virtual Platform"),
)
RUNTIMES = (
    "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33130",
    "Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.38.33130",
    "Microsoft Visual C++ 2013 Redistributable (x64) - 12.0.40664",
    "Microsoft .NET Runtime - 8.0.11 (x64)",
    "Microsoft Windows Desktop Runtime - 8.0.11 (x64)",
    "Intel(R) Graphics Driver",
    "Realtek High Definition Audio Driver",
    "Intel(R) Management Engine Components",
    "Microsoft Update Health Tools",
    "Java 8 Update 431 (64-bit)",
)


def catalog_names() -> tuple[list[str], list[str]]:
    """Windows program names the catalog's matchers give as examples (`match`), and look-alikes
    built from them (`no_match` examples and decorated names)."""
    sys.path.insert(0, str(REPO))
    from fingerprints.catalog import default_catalog
    from fingerprints.schema import example_parts

    known: list[str] = []
    lookalikes: list[str] = []
    for product in default_catalog().products.values():
        for matcher in product.matchers:
            if matcher.channel == "package.windows":
                known.extend(example_parts(example)[0] for example in matcher.match)
                lookalikes.extend(example_parts(example)[0] for example in matcher.no_match)
    lookalikes += [f"{name} Helper" for name in known[:200]]
    lookalikes += [f"Pilote {name}" for name in known[200:300]]
    return sorted(set(known)), sorted(set(lookalikes) - set(known))


def inventory(number: int, rng: random.Random, known: list[str], others: list[str]) -> str:
    """One machine's FusionInventory XML inventory."""
    system, kernel, release = SYSTEMS[number % len(SYSTEMS)]
    manufacturer, model = HARDWARE[number % len(HARDWARE)]
    uuid = f"{number:08X}-{rng.randrange(16**4):04X}-4{rng.randrange(16**3):03X}-8ABC-{number:012X}"
    names = rng.sample(known, 70) + rng.sample(others, 30) + list(RUNTIMES)
    names += [
        f"Logiciel métier {rng.randrange(5000)} - module {rng.randrange(4)}" for _ in range(40)
    ]
    programs = []
    for name in names[:PROGRAMS]:
        version = f"{rng.randrange(1, 30)}.{rng.randrange(10)}.{rng.randrange(10000)}"
        programs.append(
            "    <SOFTWARES>\n      <ARCH>x86_64</ARCH>\n      <FROM>registry</FROM>\n"
            f"      <GUID>{{{rng.getrandbits(128):032X}}}</GUID>\n"
            "      <INSTALLDATE>14/03/2025</INSTALLDATE>\n"
            f"      <NAME>{escape(name)}</NAME>\n"
            f"      <PUBLISHER>Éditeur {len(name) % 40}</PUBLISHER>\n"
            f"      <UNINSTALL_STRING>MsiExec.exe /X{{{rng.getrandbits(64):016X}}}"
            "</UNINSTALL_STRING>\n"
            f"      <VERSION>{version}</VERSION>\n    </SOFTWARES>\n"
        )
    host = f"PC-{number:05d}"
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<REQUEST>
  <CONTENT>
    <ACCESSLOG>
      <LOGDATE>2026-11-20 08:{number % 60:02d}:00</LOGDATE>
    </ACCESSLOG>
    <ANTIVIRUS>
      <COMPANY>Microsoft Corporation</COMPANY>
      <ENABLED>1</ENABLED>
      <GUID>{{D68DDC3A-831F-4fae-9E44-DA132C1ACF46}}</GUID>
      <NAME>Windows Defender</NAME>
      <UPTODATE>1</UPTODATE>
      <VERSION>4.18.24090.11</VERSION>
    </ANTIVIRUS>
    <BIOS>
      <BDATE>06/12/2024</BDATE>
      <BMANUFACTURER>{manufacturer}</BMANUFACTURER>
      <BVERSION>1.27.0</BVERSION>
      <MMANUFACTURER>{manufacturer}</MMANUFACTURER>
      <MSN>/{number:07d}/CNFCW00{number % 97}/</MSN>
      <SMANUFACTURER>{manufacturer}</SMANUFACTURER>
      <SMODEL>{model}</SMODEL>
      <SSN>SN{number:08d}</SSN>
    </BIOS>
    <CPUS>
      <CORE>6</CORE>
      <MANUFACTURER>Intel</MANUFACTURER>
      <NAME>Intel(R) Core(TM) i5-10500T CPU @ 2.30GHz</NAME>
      <SPEED>2300</SPEED>
      <THREAD>12</THREAD>
    </CPUS>
    <DRIVES>
      <FILESYSTEM>NTFS</FILESYSTEM>
      <FREE>181234</FREE>
      <LETTER>C:</LETTER>
      <SERIAL>{number:08X}</SERIAL>
      <SYSTEMDRIVE>1</SYSTEMDRIVE>
      <TOTAL>243000</TOTAL>
      <TYPE>Local Disk</TYPE>
    </DRIVES>
    <HARDWARE>
      <ARCHNAME>MSWin32-x64-multi-thread</ARCHNAME>
      <CHASSIS_TYPE>Desktop</CHASSIS_TYPE>
      <IPADDR>10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}</IPADDR>
      <LASTLOGGEDUSER>agent{number:05d}</LASTLOGGEDUSER>
      <MEMORY>16132</MEMORY>
      <NAME>{host}</NAME>
      <OSNAME>{system}</OSNAME>
      <OSVERSION>{kernel}</OSVERSION>
      <UUID>{uuid}</UUID>
      <VMSYSTEM>{"VMware" if "VMware" in manufacturer else "Physical"}</VMSYSTEM>
      <WORKGROUP>mairie.local</WORKGROUP>
    </HARDWARE>
    <NETWORKS>
      <DESCRIPTION>Intel(R) Ethernet Connection (11) I219-LM</DESCRIPTION>
      <IPADDRESS>10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}</IPADDRESS>
      <MACADDR>00:11:22:{number:06x}</MACADDR>
      <STATUS>Up</STATUS>
      <VIRTUALDEV>0</VIRTUALDEV>
    </NETWORKS>
    <OPERATINGSYSTEM>
      <ARCH>64-bit</ARCH>
      <FQDN>{host}.mairie.local</FQDN>
      <FULL_NAME>{system}</FULL_NAME>
      <KERNEL_NAME>MSWin32</KERNEL_NAME>
      <KERNEL_VERSION>{kernel}</KERNEL_VERSION>
      <NAME>Windows</NAME>
      <VERSION>{release}</VERSION>
    </OPERATINGSYSTEM>
{"".join(programs)}    <VERSIONCLIENT>FusionInventory-Agent_v2.6</VERSIONCLIENT>
  </CONTENT>
  <DEVICEID>{host}.mairie.local-2026-11-20-08-00-00</DEVICEID>
  <QUERY>INVENTORY</QUERY>
</REQUEST>
"""


def generate(folder: Path, machines: int) -> int:
    """Write the fleet's inventories; return their total size in bytes."""
    known, others = catalog_names()
    rng = random.Random(20261129)
    size = 0
    for number in range(machines):
        data = inventory(number, rng, known, others).encode("utf-8")
        (folder / f"PC-{number:05d}.ocs").write_bytes(data)
        size += len(data)
    return size


def child_reference(folder: Path) -> dict[str, Any]:
    """A plain iterparse loop that counts the SOFTWARES entries of every file."""
    import xml.etree.ElementTree as ElementTree

    paths = sorted(folder.iterdir())
    started = time.perf_counter()
    entries = 0
    for path in paths:
        for _, element in ElementTree.iterparse(path, events=("end",)):
            if element.tag == "SOFTWARES":
                entries += 1
                element.clear()
    seconds = time.perf_counter() - started
    return {"machines": len(paths), "softwares": entries, "seconds": seconds}


def child_fleet(folder: Path) -> dict[str, Any]:
    """The fleet probe through the orchestrator, then `agent.build` (the engine included)."""
    sys.path.insert(0, str(REPO))
    from datetime import UTC, datetime

    from agent.build import build_inventory
    from agent.orchestrator import PlannedProbe, run_probes
    from fingerprints.engine import default_engine
    from inventory import Organisation, Scope
    from probes.base import ProbeContext
    from probes.fleet.probe import FleetProbe
    from probes.fleet.settings import FleetSettings

    compiled = time.perf_counter()
    default_engine()
    catalog_seconds = time.perf_counter() - compiled
    context = ProbeContext(
        fleet=FleetSettings(pseudonym_key=bytes(32), folders=(folder,), max_machines=1_000_000)
    )
    started = time.perf_counter()
    result = run_probes([PlannedProbe(FleetProbe(), 3600.0)], context)
    probed = time.perf_counter()
    built = build_inventory(
        Organisation(name="Commune de Banc d'Essai"),
        Scope(),
        result.runs,
        result.observations,
        datetime.now(UTC),
    )
    finished = time.perf_counter()
    peak_built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    document = built.inventory.to_json_bytes()
    (run,) = result.runs
    windows = [f for f in built.inventory.findings if f.product == "microsoft-windows"]
    return {
        "status": run.status,
        "machines": sum(
            o.attributes.get("count", 0) for o in result.observations if o.channel == "fleet.source"
        ),
        "observations": len(result.observations),
        "findings": len(built.inventory.findings),
        "windows_devices": windows[0].attributes.get("devices") if windows else None,
        "seconds": finished - started,
        "probe_seconds": probed - started,
        "build_seconds": finished - probed,
        "catalog_seconds": catalog_seconds,
        "json_seconds": time.perf_counter() - finished,
        "inventory_mb": len(document) / 1e6,
        "peak_rss_built_mb": peak_built,
    }


def measure(kind: str, folder: Path) -> dict[str, Any]:
    """Run one measurement in a fresh process; add its peak RSS from wait4."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, str(folder)],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"{kind} child failed ({status})")
    figures: dict[str, Any] = json.loads(output)
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    return figures


def bench(machines: int, keep: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-", dir=keep) as directory:
        folder = Path(directory)
        started = time.perf_counter()
        size = generate(folder, machines)
        print(
            f"\n{machines} inventaires / inventories, {size / 1e6:.0f} Mo écrits en / written in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        best: dict[str, dict[str, Any]] = {}
        for _ in range(2):
            for kind in ("reference", "fleet"):
                figures = measure(kind, folder)
                print(f"  {kind}: {json.dumps(figures, default=str)}", flush=True)
                if kind not in best or figures["seconds"] < best[kind]["seconds"]:
                    best[kind] = figures
        reference, fleet = best["reference"], best["fleet"]
        assert fleet["machines"] == reference["machines"] == machines, (fleet, reference)
        reference_rate = machines / reference["seconds"]
        fleet_rate = machines / fleet["seconds"]
        summary = {
            "machines": machines,
            "reference_machines_per_s": round(reference_rate),
            "fleet_machines_per_s": round(fleet_rate),
            "ratio": round(fleet_rate / reference_rate, 2),
            "fleet_peak_rss_built_mb": round(fleet["peak_rss_built_mb"], 1),
            "fleet_peak_rss_with_json_mb": round(fleet["peak_rss_mb"], 1),
            "reference_peak_rss_mb": round(reference["peak_rss_mb"], 1),
            "inventory_mb": round(fleet["inventory_mb"], 1),
            "catalog_compile_s": round(fleet["catalog_seconds"], 2),
        }
        print(f"  => {json.dumps(summary)}", flush=True)
        return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, nargs="+", default=[10_000, 2_000])
    parser.add_argument("--keep", type=Path, help="folder for the generated inventories")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, folder = args.child
        function = child_reference if kind == "reference" else child_fleet
        print(json.dumps(function(Path(folder))))
        return
    results = [bench(machines, args.keep) for machines in args.machines]
    print("\nRésumé / summary:")
    for result in results:
        verdict_rate = "OK" if result["ratio"] >= 0.5 else "SOUS LA CIBLE / BELOW TARGET"
        built = result["fleet_peak_rss_built_mb"]
        verdict_memory = "OK" if built < 150 else "AU-DESSUS / ABOVE"
        print(
            f"  {result['machines']:>6} machines: fleet {result['fleet_machines_per_s']}/s, "
            f"reference {result['reference_machines_per_s']}/s, ratio {result['ratio']} "
            f"({verdict_rate}); peak RSS built {built} MB ({verdict_memory}), with the JSON "
            f"{result['fleet_peak_rss_with_json_mb']} MB; inventory {result['inventory_mb']} MB"
        )


if __name__ == "__main__":
    main()
