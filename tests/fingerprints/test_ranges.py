"""Provider IP ranges: parsers of the published formats, refusal of damaged files, the update
command (from a file, a folder, a loopback HTTP server), the ranges file, the index, and the
engine's findings with provider, service, region and the France note.

Only loopback is ever contacted: the HTTP server of these tests listens on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import hashlib
import http.server
import ipaddress
import json
import random
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.cli import main
from fingerprints import ranges as ranges_module
from fingerprints.catalog import default_catalog, load_catalog
from fingerprints.engine import Engine
from fingerprints.ranges import (
    NOTE_FRANCE,
    PROVIDERS,
    SNAPSHOT_DIR,
    RangeHit,
    RangeIndex,
    RangesError,
    RangesFile,
    build,
    check_replacement,
    check_url,
    decode,
    discover,
    encode,
    load_index,
    read_directory,
    read_file,
)
from inventory import Confidence, Finding, Jurisdiction, Observation, Usage

DATA = Path(__file__).parent / "data" / "ranges"
NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)

SAMPLES = {
    "aws": ["ip-ranges.json"],
    "azure": ["microsoft-azure-ip-ranges.json"],
    "google": ["google-cloud-ip-ranges.json"],
    "google-services": ["goog.json"],
    "oracle": ["oracle-cloud-ip-ranges.json"],
    "cloudflare": ["cloudflare-v4-ip-ranges.txt", "cloudflare-v6-ip-ranges.txt"],
    "fastly": ["public-ip-list.json"],
}


def sample(provider: str, **options: object) -> RangesFile:
    sources = [(name, (DATA / name).read_bytes()) for name in SAMPLES[provider]]
    return build(provider, sources, retrieved=NOW, **options)  # type: ignore[arg-type]


def entries(ranges: RangesFile) -> dict[str, tuple[str, str]]:
    return {entry.cidr: (entry.service, entry.region) for entry in ranges.entries}


@pytest.fixture(scope="module")
def index() -> RangeIndex:
    return RangeIndex([sample(provider) for provider in SAMPLES])


# -- the published formats ---------------------------------------------------------------------


def test_aws_keeps_the_specific_service_its_region_and_the_file_date() -> None:
    aws = sample("aws")
    assert aws.published == "2026-08-22T15:17:05Z"
    assert aws.published_from == "file"
    assert aws.version == "1787411825"
    assert aws.source_entries == 14
    found = entries(aws)
    assert found["15.188.0.0/16"] == ("EC2", "eu-west-3")  # AMAZON and EC2: EC2 is the more precise
    assert found["52.93.127.17/32"] == ("AMAZON", "eu-west-3")  # AMAZON alone stays
    assert found["13.32.0.0/15"] == ("CLOUDFRONT", "GLOBAL")
    assert found["3.5.0.0/19"] == ("EC2, S3", "us-east-1")
    assert found["2a05:d050:2000::/40"] == ("S3", "eu-west-3")
    assert aws.counts() == {"ipv4": 6, "ipv6": 1}
    assert (
        aws.sources[0].sha256 == hashlib.sha256((DATA / "ip-ranges.json").read_bytes()).hexdigest()
    )


def test_azure_service_tags_give_service_and_region_as_azure_spells_it(tmp_path: Path) -> None:
    azure = sample("azure")
    assert azure.version == "363"
    assert azure.published is None  # the file carries no date, its name neither
    found = entries(azure)
    assert found["20.47.44.0/24"] == ("AzureStorage", "francecentral")
    assert found["4.176.0.0/16"] == ("AzureCloud", "francecentral")  # field says "centralfrance"
    assert found["20.43.43.32/27"] == ("AzureAppService", "francecentral")
    assert found["4.232.98.112/29"] == ("AzureFrontDoor.Frontend", "")
    # Only AzureCloud.southfrance names that region in the sample: its own spelling stays.
    assert found["20.39.80.0/20"] == ("AzureCloud", "southfrance")
    # The dated name of the Download Center file gives the date.
    dated = tmp_path / "ServiceTags_Public_20250721.json"
    shutil.copy(DATA / "microsoft-azure-ip-ranges.json", dated)
    named = build("azure", [(dated.name, dated.read_bytes())], retrieved=NOW)
    assert (named.published, named.published_from) == ("2025-07-21T00:00:00Z", "file-name")


def test_azure_date_from_the_command_line_only_when_the_file_has_none() -> None:
    azure = sample("azure", published=datetime.date(2025, 7, 22))
    assert (azure.published, azure.published_from) == ("2025-07-22", "command-line")
    with pytest.raises(RangesError, match="carries its own date"):
        sample("aws", published=datetime.date(2025, 7, 22))


def test_google_cloud_json_and_goog_json() -> None:
    google = sample("google")
    assert google.published == "2025-07-24T19:16:28Z"
    assert google.version == "1753409788780"
    assert entries(google)["34.155.0.0/16"] == ("Google Cloud", "europe-west9")
    assert entries(google)["2600:1901:8120::/44"] == ("Google Cloud", "europe-west9")
    goog = sample("google-services")
    assert entries(goog)["8.8.8.0/24"] == ("Google", "")
    assert goog.counts() == {"ipv4": 3, "ipv6": 1}


def test_oracle_regions_and_tags() -> None:
    oracle = sample("oracle")
    assert oracle.published == "2025-07-21T07:13:25Z"
    found = entries(oracle)
    assert found["89.168.32.0/19"] == ("OCI", "eu-paris-1")
    assert found["134.70.180.0/22"] == ("OBJECT_STORAGE, OSN", "eu-paris-1")
    assert found["79.72.24.0/21"] == ("OCI", "eu-marseille-1")


def test_cloudflare_text_lists_and_api_answer() -> None:
    cloudflare = sample("cloudflare")
    assert cloudflare.counts() == {"ipv4": 15, "ipv6": 7}
    assert [info.name for info in cloudflare.sources] == SAMPLES["cloudflare"]
    api = json.dumps(
        {
            "result": {
                "ipv4_cidrs": ["173.245.48.0/20"],
                "ipv6_cidrs": ["2400:cb00::/32"],
                "etag": "38f79d050aa027e3be3865e495dcc9bc",
            },
            "success": True,
            "errors": [],
            "messages": [],
        }
    ).encode()
    answer = build("cloudflare", [("ips", api)], retrieved=NOW)
    assert answer.version == "38f79d050aa027e3be3865e495dcc9bc"
    assert entries(answer) == {
        "173.245.48.0/20": ("Cloudflare", ""),
        "2400:cb00::/32": ("Cloudflare", ""),
    }


def test_fastly_public_ip_list() -> None:
    fastly = sample("fastly")
    assert entries(fastly) == {"151.101.0.0/16": ("Fastly", ""), "2a04:4e40::/32": ("Fastly", "")}


# -- damaged files ------------------------------------------------------------------------------


def aws_text() -> str:
    return (DATA / "ip-ranges.json").read_text()


def aws_with(change: Callable[[dict], object]) -> bytes:
    document = json.loads(aws_text())
    change(document)
    return json.dumps(document).encode()


def _set(path: list[object], value: object) -> Callable[[dict], object]:
    def change(document: dict) -> None:
        target: object = document
        for key in path[:-1]:
            target = target[key]  # type: ignore[index]
        target[path[-1]] = value  # type: ignore[index]

    return change


DAMAGED = {
    "bad JSON": (aws_text()[:500].encode(), "", "invalid JSON"),
    "not UTF-8": (b'{"syncToken": "\xff"}', "", "not UTF-8"),
    "top level is a list": (b"[1, 2]", "(racine / top level)", "expected a JSON object"),
    "prefixes missing": (aws_with(lambda d: d.pop("prefixes")), "prefixes", "missing field"),
    "prefixes not a list": (
        aws_with(_set(["prefixes"], {"ip_prefix": "15.188.0.0/16"})),
        "prefixes",
        "expected a list",
    ),
    "empty lists": (
        aws_with(lambda d: d.update(prefixes=[], ipv6_prefixes=[])),
        "",
        "no address range at all",
    ),
    "bad CIDR": (
        aws_with(_set(["prefixes", 1, "ip_prefix"], "15.188.0.0/33")),
        "prefixes[1].ip_prefix",
        "invalid prefix length",
    ),
    "not an address": (
        aws_with(_set(["prefixes", 1, "ip_prefix"], "15.188.0/16")),
        "prefixes[1].ip_prefix",
        "invalid address",
    ),
    "host bits": (
        aws_with(_set(["prefixes", 1, "ip_prefix"], "15.188.0.1/16")),
        "prefixes[1].ip_prefix",
        "host bits set (the network would be 15.188.0.0/16)",
    ),
    "no length": (
        aws_with(_set(["prefixes", 1, "ip_prefix"], "15.188.0.0")),
        "prefixes[1].ip_prefix",
        "not a CIDR network",
    ),
    "IPv6 in the IPv4 list": (
        aws_with(_set(["prefixes", 1, "ip_prefix"], "2a05:d050:2000::/40")),
        "prefixes[1].ip_prefix",
        "IPv4 expected",
    ),
    "private network": (
        aws_with(_set(["prefixes", 1, "ip_prefix"], "10.0.0.0/8")),
        "prefixes[1].ip_prefix",
        "not a public network",
    ),
    "whole internet": (
        aws_with(_set(["prefixes", 1, "ip_prefix"], "0.0.0.0/0")),
        "prefixes[1].ip_prefix",
        "network too broad",
    ),
    "service not a string": (
        aws_with(_set(["prefixes", 2, "service"], 7)),
        "prefixes[2].service",
        "expected a string, found number",
    ),
    "unreadable date": (
        aws_with(_set(["createDate"], "22/08/2026")),
        "createDate",
        "unreadable date",
    ),
    "date in the future": (
        aws_with(_set(["createDate"], "2031-01-01-00-00-00")),
        "(date)",
        "in the future",
    ),
    "sync token not a number": (
        aws_with(_set(["syncToken"], "abc")),
        "syncToken",
        "expected a number",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_aws_file_is_refused_naming_provider_file_and_entry(case: str) -> None:
    data, where, reason = DAMAGED[case]
    with pytest.raises(RangesError) as caught:
        build("aws", [("ip-ranges.json", data)], retrieved=NOW)
    error = caught.value
    assert (error.provider, error.source, error.where) == ("aws", "ip-ranges.json", where)
    assert reason in error.reason
    assert str(error).startswith(f"aws: ip-ranges.json: {where + ': ' if where else ''}")


def test_damaged_files_of_other_formats_are_refused() -> None:
    azure = json.loads((DATA / "microsoft-azure-ip-ranges.json").read_text())
    azure["values"][1]["properties"]["addressPrefixes"][0] = "20.47.44.7/24"
    with pytest.raises(RangesError, match=r"values\[1\]\.properties\.addressPrefixes\[0\]: .*host"):
        build("azure", [("ServiceTags.json", json.dumps(azure).encode())], retrieved=NOW)
    with pytest.raises(RangesError, match=r"values\[0\]: .*expected a JSON object"):
        build(
            "azure",
            [("ServiceTags.json", b'{"changeNumber": 1, "cloud": "Public", "values": [3]}')],
            retrieved=NOW,
        )
    google = json.loads((DATA / "google-cloud-ip-ranges.json").read_text())
    google["prefixes"][0]["ipv6Prefix"] = "2600:1901:8120::/44"
    with pytest.raises(RangesError, match=r"prefixes\[0\]: .*exactly one of ipv4Prefix"):
        build("google", [("cloud.json", json.dumps(google).encode())], retrieved=NOW)
    with pytest.raises(RangesError, match=r"cloudflare: ips-v4: ligne / line 2: .*invalid address"):
        build(
            "cloudflare",
            [("ips-v4", b"173.245.48.0/20\n<html>captive portal</html>\n")],
            retrieved=NOW,
        )
    with pytest.raises(RangesError, match="no address range"):
        build("cloudflare", [("ips-v4", b"\n\n")], retrieved=NOW)
    with pytest.raises(RangesError, match=r"regions\[0\]\.cidrs\[0\]\.tags"):
        build(
            "oracle",
            [
                (
                    "public_ip_ranges.json",
                    json.dumps(
                        {
                            "last_updated_timestamp": "2025-07-21T07:13:25",
                            "regions": [
                                {
                                    "region": "eu-paris-1",
                                    "cidrs": [{"cidr": "89.168.32.0/19", "tags": "OCI"}],
                                }
                            ],
                        }
                    ).encode(),
                )
            ],
            retrieved=NOW,
        )
    with pytest.raises(RangesError, match=r"addresses\[0\]: .*IPv4 expected"):
        build(
            "fastly",
            [("public-ip-list", b'{"addresses": ["2a04:4e40::/32"], "ipv6_addresses": []}')],
            retrieved=NOW,
        )


def test_older_or_much_smaller_files_are_refused_unless_forced() -> None:
    aws = sample("aws")
    older = json.loads(aws_text())
    older["createDate"] = "2026-01-01-00-00-00"
    stale = build("aws", [("ip-ranges.json", json.dumps(older).encode())], retrieved=NOW)
    with pytest.raises(RangesError, match="older than the ranges in place"):
        check_replacement(stale, aws, force=False)
    check_replacement(stale, aws, force=True)
    azure = sample("azure")
    fewer = json.loads((DATA / "microsoft-azure-ip-ranges.json").read_text())
    fewer["changeNumber"] = 362
    with pytest.raises(RangesError, match="version 362 < 363"):
        check_replacement(
            build("azure", [("x.json", json.dumps(fewer).encode())], retrieved=NOW),
            azure,
            force=False,
        )
    big = dataclasses.replace(
        sample("fastly"),
        entries=tuple(ranges_module.Entry(f"151.{n}.0.0/16", "Fastly", "") for n in range(40)),
    )
    small = sample("fastly")
    with pytest.raises(RangesError, match="1 ipv4 networks against 40 in place"):
        check_replacement(small, big, force=False)


# -- the ranges file ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(SAMPLES))
def test_ranges_file_round_trip_is_compact_and_reproducible(provider: str) -> None:
    ranges = sample(provider, origin="test")
    data = encode(ranges)
    assert data == encode(ranges)  # no time in the gzip header
    document = json.loads(gzip.decompress(data))
    assert document["format"] == "tiebreak-ranges/1"
    assert document["provider"] == provider
    assert document["retrieved"] == "2026-11-29T12:00:00Z"
    assert {"source", "sha256", "bytes"} <= set(document["sources"][0])
    back = decode(data, "x.json.gz")
    assert back == ranges


def test_damaged_ranges_file_is_refused(tmp_path: Path) -> None:
    document = json.loads(gzip.decompress(encode(sample("aws"))))
    document["groups"][0]["cidrs"][0] = "15.188.0.1/16"
    with pytest.raises(RangesError, match=r"groups\[0\]\.cidrs\[0\]: .*host bits"):
        decode(json.dumps(document).encode(), "aws.json")
    with pytest.raises(RangesError, match="expected tiebreak-ranges/1"):
        decode(b'{"format": "other"}', "aws.json")
    with pytest.raises(RangesError, match="unreadable gzip"):
        decode(b"\x1f\x8b broken", "aws.json.gz")
    (tmp_path / "aws.json.gz").write_bytes(b"\x1f\x8b broken")
    (tmp_path / "google.json.gz").write_bytes(encode(sample("google")))
    files, problems = read_directory(tmp_path)
    assert list(files) == ["google"]
    assert len(problems) == 1 and "aws.json.gz" in problems[0]


# -- the update command -------------------------------------------------------------------------


def update(*arguments: str) -> int:
    return main(["catalog", "update-ranges", *arguments])


def test_update_from_a_file_then_a_damaged_file_keeps_the_previous_ranges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "ranges"
    assert (
        update("--provider", "aws", "--file", str(DATA / "ip-ranges.json"), "--output", str(output))
        == 0
    )
    written = output / "aws.json.gz"
    good = written.read_bytes()
    ranges = read_file(written)
    assert ranges.sources[0].name == "ip-ranges.json"
    assert ranges.published == "2026-08-22T15:17:05Z"
    assert "aws" in capsys.readouterr().out
    for data, where, reason in DAMAGED.values():
        damaged = tmp_path / "ip-ranges.json"
        damaged.write_bytes(data)
        assert update("--file", str(damaged), "--output", str(output)) == 1  # provider guessed
        err = capsys.readouterr().err
        assert f"aws: ip-ranges.json: {where}" in err and reason in err
        assert written.read_bytes() == good
    assert sorted(path.name for path in output.iterdir()) == ["aws.json.gz"]  # no temporary left


def test_update_all_from_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "published"
    shutil.copytree(DATA, folder / "mirror")
    (folder / "mirror" / "oracle-cloud-ip-ranges.json").write_text('{"regions": []}')
    found = discover(folder)
    assert sorted(found) == sorted(SAMPLES)
    output = tmp_path / "ranges"
    assert update("--all-from", str(folder), "--output", str(output)) == 1  # oracle refused
    captured = capsys.readouterr()
    assert "oracle: mirror/oracle-cloud-ip-ranges.json: last_updated_timestamp" in captured.err
    assert "ovhcloud, scaleway, hetzner" in captured.out
    files, problems = read_directory(output)
    assert sorted(files) == sorted(set(SAMPLES) - {"oracle"})
    assert problems == []
    assert [info.name for info in files["cloudflare"].sources] == [
        "mirror/cloudflare-v4-ip-ranges.txt",
        "mirror/cloudflare-v6-ip-ranges.txt",
    ]


def test_update_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = ["--output", str(tmp_path / "out")]
    assert update("--provider", "ovhcloud", "--file", str(DATA / "ip-ranges.json"), *output) == 2
    assert "machine-readable" in capsys.readouterr().err
    assert update(*output) == 2
    unknown = tmp_path / "ranges.json"
    unknown.write_text("{}")
    assert update("--file", str(unknown), *output) == 2
    assert update("--provider", "aws", "--file", str(tmp_path / "missing.json"), *output) == 2
    assert (
        update(
            "--provider",
            "aws",
            "--file",
            str(DATA / "ip-ranges.json"),
            "--file",
            str(DATA / "ip-ranges.json"),
            *output,
        )
        == 2
    )
    assert update("--all-from", str(tmp_path / "nothing-here"), *output) == 2
    (tmp_path / "empty").mkdir()
    assert update("--all-from", str(tmp_path / "empty"), *output) == 2
    assert update("--all-from", str(DATA), "--provider", "aws", *output) == 2
    assert (
        update(
            "--provider",
            "azure",
            "--file",
            str(DATA / "microsoft-azure-ip-ranges.json"),
            "--published",
            "22/07/2025",
            *output,
        )
        == 2
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_update_refuses_an_older_file_unless_forced(tmp_path: Path) -> None:
    output = tmp_path / "ranges"
    assert update("--file", str(DATA / "ip-ranges.json"), "--output", str(output)) == 0
    older = tmp_path / "ip-ranges.json"
    document = json.loads(aws_text())
    document["createDate"] = "2025-01-01-00-00-00"
    older.write_text(json.dumps(document))
    assert update("--file", str(older), "--output", str(output)) == 1
    assert read_file(output / "aws.json.gz").published == "2026-08-22T15:17:05Z"
    assert update("--file", str(older), "--output", str(output), "--force") == 0
    assert read_file(output / "aws.json.gz").published == "2025-01-01T00:00:00Z"


class _Server(http.server.ThreadingHTTPServer):
    routes: dict[str, tuple[int, dict[str, str], bytes]]
    requests: list[str]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        status, headers, body = self.server.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.routes, server.requests = {}, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_update_from_a_loopback_http_server(
    loopback_server: _Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A proxy in the environment is not used for loopback (it would refuse: nothing listens).
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    body = (DATA / "ip-ranges.json").read_bytes()
    port = loopback_server.server_address[1]
    loopback_server.routes["/ip-ranges.json"] = (200, {"Content-Type": "application/json"}, body)
    loopback_server.routes["/moved"] = (302, {"Location": "/ip-ranges.json"}, b"")
    loopback_server.routes["/away"] = (
        302,
        {"Location": "http://example.invalid/ip-ranges.json"},
        b"",
    )
    loopback_server.routes["/broken.json"] = (200, {}, body[:300])
    output = tmp_path / "ranges"
    url = f"http://127.0.0.1:{port}/ip-ranges.json"
    assert update("--url", url, "--output", str(output)) == 0
    ranges = read_file(output / "aws.json.gz")
    assert ranges.sources[0].name == url
    assert ranges.sources[0].sha256 == hashlib.sha256(body).hexdigest()
    good = (output / "aws.json.gz").read_bytes()
    assert (
        update(
            "--provider", "aws", "--url", f"http://127.0.0.1:{port}/moved", "--output", str(output)
        )
        == 0
    )
    capsys.readouterr()
    # Damaged answer, missing file, redirect away from loopback over http: refused, ranges kept.
    for path, reason in (
        ("/broken.json", "invalid JSON"),
        ("/missing.json", "HTTP 404"),
        ("/away", "only https://"),
    ):
        before = (output / "aws.json.gz").read_bytes()
        assert (
            update(
                "--provider",
                "aws",
                "--url",
                f"http://127.0.0.1:{port}{path}",
                "--output",
                str(output),
            )
            == 1
        )
        assert reason in capsys.readouterr().err
        assert (output / "aws.json.gz").read_bytes() == before
    assert read_file(output / "aws.json.gz").entries == read_file_entries(good)
    assert loopback_server.requests == [
        "/ip-ranges.json",
        "/moved",
        "/ip-ranges.json",
        "/broken.json",
        "/missing.json",
        "/away",
    ]


def read_file_entries(data: bytes) -> tuple[ranges_module.Entry, ...]:
    return decode(data, "aws.json.gz").entries


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://ip-ranges.amazonaws.com/ip-ranges.json", True),
        ("http://127.0.0.1:8080/ip-ranges.json", True),
        ("http://127.5.6.7/x", True),
        ("http://[::1]:8080/x", True),
        ("http://localhost/x", False),  # a name is not resolved to decide
        ("http://example.invalid/ip-ranges.json", False),
        ("ftp://127.0.0.1/x", False),
        ("file:///etc/passwd", False),
        ("https://user:secret@example.invalid/x", False),
        ("https:///x", False),
        ("http://127.0.0.1:99999/x", False),
    ],
)
def test_only_https_or_loopback_http_addresses(url: str, accepted: bool) -> None:
    if accepted:
        check_url(url)
    else:
        with pytest.raises(ValueError):
            check_url(url)


# -- the index ----------------------------------------------------------------------------------


def test_lookup_most_specific_network_and_families(index: RangeIndex) -> None:
    assert index.lookup("15.188.1.1") == RangeHit("aws", "EC2", "eu-west-3")
    assert index.locate("15.188.1.1") == (RangeHit("aws", "EC2", "eu-west-3"), "15.188.0.0/16")
    assert index.lookup("15.188.0.0") == index.lookup("15.188.255.255")
    assert index.lookup("15.189.0.0") is None
    assert index.locate("20.47.44.5") == (
        RangeHit("azure", "AzureStorage", "francecentral"),
        "20.47.44.0/24",
    )
    assert index.locate("2a05:d050:2000::1") == (
        RangeHit("aws", "S3", "eu-west-3"),
        "2a05:d050:2000::/40",
    )
    assert index.locate("::ffff:15.188.1.1") == index.locate("15.188.1.1")  # IPv4-mapped
    assert index.lookup("2600:1901:8120::1%eth0") == index.lookup("2600:1901:8120::1")
    # The same network in cloud.json and goog.json: Google Cloud wins, whatever the order.
    assert index.locate("34.155.3.4") == (
        RangeHit("google", "Google Cloud", "europe-west9"),
        "34.155.0.0/16",
    )
    assert index.lookup("8.8.8.8") == RangeHit("google-services", "Google", "")
    # Equal hits are one object, whatever the network.
    assert index.lookup("15.188.1.1") is index.lookup("35.180.1.1")
    for text in (
        "192.0.2.10",
        "2001:db8::1",
        "",
        "not an address",
        "15.188.1",
        "1.2.3.4.5",
        "::1%",
        "15.188.1.1\x00",
    ):
        assert index.lookup(text) is None
        assert index.locate(text) is None


def test_nested_networks_the_innermost_wins_and_the_outer_resumes() -> None:
    nested = RangeIndex(
        [
            RangesFile(
                provider="aws",
                sources=(),
                published=None,
                published_from=None,
                version=None,
                retrieved="",
                origin=None,
                source_entries=3,
                entries=(
                    ranges_module.Entry("52.0.0.0/10", "AMAZON", "GLOBAL"),
                    ranges_module.Entry("52.16.0.0/15", "EC2", "eu-west-1"),
                    ranges_module.Entry("52.16.0.0/24", "S3", "eu-west-1"),
                ),
            )
        ]
    )

    def service(address: str) -> str | None:
        hit = nested.lookup(address)
        return None if hit is None else hit.service

    assert service("51.255.255.255") is None
    assert service("52.0.0.0") == "AMAZON"
    assert service("52.15.255.255") == "AMAZON"
    assert service("52.16.0.0") == "S3"
    assert service("52.16.0.255") == "S3"
    assert service("52.16.1.0") == "EC2"
    assert service("52.17.255.255") == "EC2"
    assert service("52.18.0.0") == "AMAZON"
    assert service("52.63.255.255") == "AMAZON"
    assert service("52.64.0.0") is None
    assert service("::ffff:52.16.0.9") == "S3"


def test_index_answers_like_a_naive_longest_prefix_scan() -> None:
    files, _ = read_directory(SNAPSHOT_DIR, trusted=True)
    chosen = [files[provider] for provider in ("aws", "google", "oracle", "cloudflare")]
    fast = RangeIndex(chosen)
    networks = [
        (ipaddress.ip_network(entry.cidr), ranges.provider, entry)
        for ranges in chosen
        for entry in ranges.entries
    ]
    rng = random.Random(14)
    probes: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for network, _, _ in rng.sample(networks, 150):
        first, last = network.network_address, network.broadcast_address
        probes += [first, last]
        if int(first) > 0:
            probes.append(first - 1)
        if int(last) < (1 << network.max_prefixlen) - 1:
            probes.append(last + 1)
    probes += [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(100)]
    by_family = {
        4: [n for n in networks if n[0].version == 4],
        6: [n for n in networks if n[0].version == 6],
    }
    for address in probes:
        holding = [n for n in by_family[address.version] if address in n[0]]
        expected = None
        if holding:
            network, provider, entry = max(holding, key=lambda n: n[0].prefixlen)
            expected = (RangeHit(provider, entry.service, entry.region), entry.cidr)
        assert fast.locate(str(address)) == expected, address
        assert fast.lookup(str(address)) == (expected[0] if expected else None)


# -- the shipped snapshot and the ranges a scan uses ---------------------------------------------


def test_shipped_snapshot_holds_the_official_files_recorded_in_its_provenance() -> None:
    files, problems = read_directory(SNAPSHOT_DIR, trusted=True)
    assert problems == []
    assert sorted(files) == ["aws", "azure", "cloudflare", "google", "oracle"]
    sha = {
        provider: [info.sha256[:8] for info in ranges.sources] for provider, ranges in files.items()
    }
    assert sha == {
        "aws": ["752894ac"],
        "azure": ["e3f431d8"],
        "google": ["f0acee2b"],
        "oracle": ["3ac8301e"],
        "cloudflare": ["f02c6d83", "9e9d39e3"],
    }
    assert files["aws"].published == "2026-08-22T15:17:05Z"
    assert files["azure"].version == "363"
    assert all(ranges.origin for ranges in files.values())
    assert sum(path.stat().st_size for path in SNAPSHOT_DIR.glob("*.json.gz")) < 1_000_000
    assert (SNAPSHOT_DIR / "README.md").is_file()


def test_scans_use_the_ranges_directory_else_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIEBREAK_RANGES", str(tmp_path))
    assert ranges_module.ranges_directory() == tmp_path
    shipped = ranges_module.default_ranges()
    assert sorted(shipped.files) == ["aws", "azure", "cloudflare", "google", "oracle"]
    assert shipped.lookup("15.188.1.1") == RangeHit("aws", "EC2", "eu-west-3")
    assert ranges_module.default_ranges() is shipped  # built once per directory
    # A newer file of the ranges directory replaces the shipped one; an older one does not.
    (tmp_path / "fastly.json.gz").write_bytes(encode(sample("fastly")))
    (tmp_path / "google.json.gz").write_bytes(encode(sample("google")))
    older = json.loads(aws_text())
    older["createDate"] = "2020-01-01-00-00-00"
    stale = build("aws", [("ip-ranges.json", json.dumps(older).encode())], retrieved=NOW)
    (tmp_path / "aws.json.gz").write_bytes(encode(stale))
    (tmp_path / "azure.json.gz").write_bytes(b"damaged")
    mixed = load_index(tmp_path)
    assert mixed.files["fastly"].path == str(tmp_path / "fastly.json.gz")
    assert mixed.files["google"].path == str(tmp_path / "google.json.gz")
    assert mixed.files["aws"].path == str(SNAPSHOT_DIR / "aws.json.gz")
    assert mixed.files["azure"].path == str(SNAPSHOT_DIR / "azure.json.gz")
    assert len(mixed.problems) == 1 and "azure.json.gz" in mixed.problems[0]


def test_catalog_ranges_command_looks_addresses_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["catalog", "ranges", "--ranges-dir", str(tmp_path), "4.176.1.1", "192.0.2.10"]) == 0
    )
    out = capsys.readouterr().out
    assert "4.176.1.1: azure AzureCloud francecentral (4.176.0.0/16) → microsoft-azure" in out
    assert "192.0.2.10: " in out and "azure " in out


# -- findings -----------------------------------------------------------------------------------


def test_every_provider_product_is_in_the_shipped_catalog() -> None:
    products = default_catalog().products
    for provider in PROVIDERS.values():
        assert provider.product is None or provider.product in products, provider.id
        for product in provider.service_products.values():
            assert product in products, (provider.id, product)
    # goog.json alone: no catalog product stands for "every Google service".
    assert PROVIDERS["google-services"].product is None


def _product(product_id: str, matchers: str = "") -> str:
    return f"""
[[products]]
id = "{product_id}"
name = "{product_id}"
category = "infrastructure"
domain = "hebergement-cloud"
licence = "proprietary"
open_source = false
deployment = "saas"
{matchers}
"""


def _vendor(vendor_id: str, country: str, products: str) -> str:
    return f"""
[vendor]
id = "{vendor_id}"
name = "{vendor_id.title()}"
legal_name = "{vendor_id.title()} Inc."
country = "{country}"
website = "https://{vendor_id}.example"

[vendor.sources]
country = "test fixture"
{products}
"""


CATALOG = {
    "amazon": _vendor(
        "amazon",
        "US",
        _product(
            "amazon-web-services",
            """
[[products.matchers]]
channel = "dns.a"
kind = "cidr"
pattern = "35.180.0.0/16"
match = ["35.180.44.10"]
no_match = ["35.181.0.1"]
""",
        )
        + _product("amazon-cloudfront"),
    ),
    "microsoft": _vendor("microsoft", "US", _product("microsoft-azure")),
    "google": _vendor("google", "US", _product("google-cloud")),
    "oracle": _vendor("oracle", "US", _product("oracle-cloud")),
    "cloudflare": _vendor("cloudflare", "US", _product("cloudflare-cdn")),
    "fastly": _vendor("fastly", "US", _product("fastly-cdn")),
}
"""The products that stand for the providers, with no network of their own but one: the real
catalog's `cidr` matchers change, these tests must not."""


def write_catalog(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.toml").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def engine(index: RangeIndex, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    directory = write_catalog(tmp_path_factory.mktemp("catalog"), CATALOG)
    return Engine(load_catalog(directory), ranges=index)


def obs(channel: str, value: str, locus: str = "commune.fr") -> Observation:
    return Observation.make("test", channel, locus, value, {})


def by_product(engine: Engine, observations: list[Observation]) -> dict[str, Finding]:
    return {finding.product: finding for finding in engine.analyse(observations).findings}


@pytest.mark.parametrize(
    ("channel", "address", "provider", "product", "service", "region"),
    [
        ("dns.a", "15.188.1.1", "aws", "amazon-web-services", "EC2", "eu-west-3"),
        ("net.remote", "::ffff:15.188.1.1", "aws", "amazon-web-services", "EC2", "eu-west-3"),
        ("http.address", "2a05:d050:2000::10", "aws", "amazon-web-services", "S3", "eu-west-3"),
        ("dns.a", "4.176.1.1", "azure", "microsoft-azure", "AzureCloud", "francecentral"),
        ("net.remote", " 20.47.44.5 ", "azure", "microsoft-azure", "AzureStorage", "francecentral"),
        ("dns.a", "34.155.1.1", "google", "google-cloud", "Google Cloud", "europe-west9"),
        (
            "http.address",
            "2600:1901:8120::5",
            "google",
            "google-cloud",
            "Google Cloud",
            "europe-west9",
        ),
        ("dns.a", "89.168.33.1", "oracle", "oracle-cloud", "OCI", "eu-paris-1"),
        ("dns.a", "79.72.24.1", "oracle", "oracle-cloud", "OCI", "eu-marseille-1"),
    ],
)
def test_address_in_a_french_region_of_a_non_eu_provider(
    engine: Engine,
    channel: str,
    address: str,
    provider: str,
    product: str,
    service: str,
    region: str,
) -> None:
    observation = obs(channel, address)
    analysis = engine.analyse([observation])
    assert analysis.unidentified == []
    [finding] = analysis.findings
    assert finding.product == product
    assert finding.jurisdiction is Jurisdiction.NON_EU
    assert finding.evidence == [observation.id]
    assert finding.matched == [f"ranges {provider} {service} {region}"]
    assert finding.confidence is Confidence.STRONG and finding.usage is Usage.CURRENT
    assert finding.attributes == {
        "provider_addresses": 1,
        "provider_service": service,
        "provider_region": region,
        "note": NOTE_FRANCE,
    }
    assert NOTE_FRANCE.index("Région française") < NOTE_FRANCE.index("A French region")


def test_addresses_elsewhere_have_no_france_note_and_count_up(engine: Engine) -> None:
    seen = [
        obs("dns.a", "3.5.1.1"),  # AWS S3/EC2 us-east-1
        obs("net.remote", "15.181.232.9"),  # AWS EC2 us-east-1
        obs("http.address", "3.5.1.1"),
        obs("dns.a", "104.16.1.1"),  # Cloudflare: no region
        obs("dns.a", "151.101.1.1"),  # Fastly
        obs("http.address", "13.32.0.5"),  # CloudFront: its own product
    ]
    found = by_product(engine, seen)
    aws = found["amazon-web-services"]
    assert aws.attributes == {
        "provider_addresses": 2,
        "provider_service": "EC2, S3",
        "provider_region": "us-east-1",
    }
    assert aws.evidence == [o.id for o in seen[:3]]
    assert aws.matched == ["ranges aws EC2, S3 us-east-1", "ranges aws EC2 us-east-1"]
    cloudflare = found["cloudflare-cdn"]
    assert cloudflare.attributes == {"provider_addresses": 1, "provider_service": "Cloudflare"}
    assert found["fastly-cdn"].matched == ["ranges fastly Fastly"]
    cloudfront = found["amazon-cloudfront"]
    assert cloudfront.matched == ["ranges aws CLOUDFRONT GLOBAL"]
    assert cloudfront.attributes["provider_region"] == "GLOBAL"


def test_ranges_add_region_to_a_catalog_network_of_the_same_product_and_unknowns_stay(
    engine: Engine,
) -> None:
    # Addresses are only looked up in the range tables here: nothing is sent anywhere.
    catalog_hit = obs("dns.a", "35.180.44.10")  # the catalog's own 35.180.0.0/16 matcher
    nowhere = obs("dns.a", "192.0.2.10")
    nowhere_v6 = obs("net.remote", "2001:db8::5")
    goog_only = obs("dns.a", "8.8.8.8")  # goog.json: no catalog product stands for it
    not_an_address = obs("http.address", "mairie.example")
    analysis = engine.analyse([catalog_hit, nowhere, nowhere_v6, goog_only, not_an_address])
    [aws] = analysis.findings
    assert "dns.a cidr 35.180.0.0/16" in aws.matched
    assert any(label.startswith("ranges aws") for label in aws.matched)
    assert aws.attributes["provider_region"] == "eu-west-3"  # AWS's Paris region
    assert aws.attributes["note"] == NOTE_FRANCE
    assert analysis.unidentified == [nowhere.id, nowhere_v6.id, goog_only.id, not_an_address.id]


def test_one_finding_per_locus_with_every_region(engine: Engine) -> None:
    seen = [
        obs("dns.a", "15.188.1.1", "mairie.fr"),
        obs("dns.a", "3.5.1.1", "mairie.fr"),
        obs("dns.a", "15.188.1.2", "autre.fr"),
    ]
    findings = engine.analyse(seen).findings
    by_locus = {finding.locus: finding for finding in findings}
    assert by_locus["mairie.fr"].attributes["provider_region"] == "eu-west-3, us-east-1"
    assert by_locus["mairie.fr"].attributes["provider_addresses"] == 2
    assert by_locus["mairie.fr"].attributes["note"] == NOTE_FRANCE  # one address is in Paris
    assert by_locus["autre.fr"].attributes["provider_addresses"] == 1


def test_no_note_for_a_provider_under_eu_control(tmp_path: Path, index: RangeIndex) -> None:
    # The product standing for AWS ranges given to an EU vendor: a French region is then no warning.
    directory = write_catalog(
        tmp_path / "catalog",
        {"eu-cloud": _vendor("eu-cloud", "FR", _product("amazon-web-services"))},
    )
    local = Engine(load_catalog(directory), ranges=index)
    [finding] = local.analyse([obs("dns.a", "15.188.1.1")]).findings
    assert finding.jurisdiction is Jurisdiction.EU
    assert finding.attributes["provider_region"] == "eu-west-3"
    assert "note" not in finding.attributes
    # Providers whose product the catalog lacks make no finding.
    assert local.analyse([obs("dns.a", "4.176.1.1")]).findings == []


def test_the_shipped_catalog_and_snapshot_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The default engine: real catalog, ranges loaded lazily from the shipped snapshot.
    monkeypatch.setenv("TIEBREAK_RANGES", str(tmp_path))
    engine = Engine(default_catalog())
    assert engine._ranges is None  # nothing loaded before an address needs it
    # An address of Azure France Central that none of the catalog's own matchers knows.
    azure = read_directory(SNAPSHOT_DIR, trusted=True)[0]["azure"]
    address = next(
        str(ipaddress.ip_network(entry.cidr)[1])
        for entry in azure.entries
        if entry.region == "francecentral"
        and ":" not in entry.cidr
        and not engine.index.lookup("dns.a", str(ipaddress.ip_network(entry.cidr)[1]))
    )
    analysis = engine.analyse([obs("dns.a", address), obs("dns.a", "192.0.2.10")])
    assert sorted(engine.ranges.files) == ["aws", "azure", "cloudflare", "google", "oracle"]
    [finding] = analysis.findings
    assert finding.product == "microsoft-azure"
    assert finding.attributes["provider_region"] == "francecentral"
    assert finding.attributes["note"] == NOTE_FRANCE
    assert len(analysis.unidentified) == 1


def test_catalog_explain_shows_range_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIEBREAK_RANGES", str(tmp_path))
    observations = tmp_path / "observations.json"
    observations.write_text(
        json.dumps(
            [
                {"channel": "dns.a", "locus": "mairie.fr", "value": "4.176.1.1"},
                {"channel": "dns.a", "locus": "mairie.fr", "value": "192.0.2.7"},
            ]
        )
    )
    directory = write_catalog(tmp_path / "catalog", CATALOG)
    assert main(["catalog", "explain", str(observations), "--dir", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "→ microsoft-azure (Microsoft) : " in out
    assert "azure AzureCloud francecentral [strong]" in out
    unidentified = out[out.rindex(":\n") :]
    assert "192.0.2.7" in unidentified and "4.176.1.1" not in unidentified
