"""`tiebreak catalog …` commands, and `tiebreak scan` refusing a malformed catalog."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.cli import main
from fingerprints import catalog as catalog_module
from fingerprints import engine as engine_module

SILL_API = (
    Path(__file__).resolve().parents[3] / "shared/data/codegouvfr-sill-api/sill-softwares.json"
)
SILL_ETALAB = Path(__file__).resolve().parents[3] / "shared/data/etalab-sill-contents/sill.json"


@pytest.fixture
def directory(catalog_dir, samples, french) -> Path:
    return catalog_dir(samples.files)


def test_list_json(directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--format", "json", "--dir", str(directory)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in rows] == [
        "exchange-online", "libreoffice", "microsoft-365", "microsoft-iis",
    ]  # fmt: skip
    assert rows[0] == {
        "id": "exchange-online",
        "name": "Exchange Online",
        "vendor": "microsoft",
        "vendor_name": "Microsoft",
        "vendor_country": "US",
        "jurisdiction": "non-eu",
        "category": "infrastructure",
        "domain": "messagerie",
        "open_source": False,
    }


def test_list_table(directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--dir", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "libreoffice" in out and "DE eu" in out
    assert out.rstrip().endswith("4 produits, 2 fournisseurs")


def test_show_product_and_vendor(directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "show", "exchange-online", "--dir", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "juridiction: non-eu (Microsoft (US))" in out
    assert "matchers[0] dns.mx suffix mail.protection.outlook.com (strong)" in out
    assert main(["catalog", "show", "microsoft", "--dir", str(directory)]) == 0
    assert "produits: microsoft-365, exchange-online, microsoft-iis" in capsys.readouterr().out
    assert main(["catalog", "show", "nope", "--dir", str(directory)]) == 2
    assert "identifiant inconnu : nope" in capsys.readouterr().err


def test_check_ok(directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "check", "--dir", str(directory)]) == 0
    assert "catalogue valide : 2 fournisseurs, 4 produits, 9 correspondances" in (
        capsys.readouterr().out
    )


def test_check_failing_example_names_file_entry_and_example(
    catalog_dir, samples, french, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = samples.microsoft.replace('no_match = ["40.94.0.1"]', 'no_match = ["40.93.0.1"]')
    directory = catalog_dir({**samples.files, "microsoft": wrong})
    assert main(["catalog", "check", "--dir", str(directory)]) == 1
    err = capsys.readouterr().err
    assert "microsoft.toml: products[1] (exchange-online).matchers[2].no_match: '40.93.0.1'" in err


def test_check_malformed_catalog_exits_2(
    catalog_dir, samples, french, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = samples.tdf.replace("open_source = true", 'open_source = "oui"')
    directory = catalog_dir({**samples.files, "the-document-foundation": broken})
    assert main(["catalog", "check", "--dir", str(directory)]) == 2
    err = capsys.readouterr().err
    assert "the-document-foundation.toml: products[0] (libreoffice).open_source:" in err


def test_explain_reads_observations_and_inventories(
    directory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observations = [
        {"channel": "dns.mx", "locus": "commune.fr", "value": "x.mail.protection.outlook.com"},
        {"channel": "package", "locus": "poste1", "value": "evil\x1b[31m"},
        {"channel": "fleet.bios", "locus": "poste1", "value": "Dell Inc."},
    ]
    source = tmp_path / "observations.json"
    source.write_text(json.dumps({"observations": observations}))
    assert main(["catalog", "explain", str(source), "--dir", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "→ exchange-online (Microsoft) : dns.mx suffix mail.protection.outlook.com" in out
    assert (
        "microsoft-365 @ commune.fr: non-eu, strong, current, impliqué par exchange-online" in out
    )
    assert "non reconnues :" in out
    assert "evil\\x1b[31m" in out and "\x1b" not in out
    assert "canal inconnu de cette version : fleet.bios (1 observation(s))" in out


def test_explain_bad_input_exits_2(
    directory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.json"
    source.write_text('[{"channel": "BAD CHANNEL", "locus": "x", "value": "y"}]')
    assert main(["catalog", "explain", str(source), "--dir", str(directory)]) == 2
    assert "bad.json: [0].channel:" in capsys.readouterr().err


@pytest.mark.skipif(not SILL_API.exists(), reason="shared SILL data absent")
@pytest.mark.parametrize("sill", [SILL_API, SILL_ETALAB], ids=["sill-api", "etalab"])
def test_import_sill_both_formats(
    directory: Path, sill: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["catalog", "import-sill", str(sill), "--dir", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "libreoffice → SILL 78 LibreOffice" in out
    assert "1 reliés au catalogue" in out


def test_import_sill_reports_candidates_and_doubtful_links(
    catalog_dir, samples, french, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = samples.tdf.replace('sill = "78"', 'sill = "1"')
    directory = catalog_dir({**samples.files, "the-document-foundation": wrong})
    sill = tmp_path / "sill.json"
    sill.write_text(
        json.dumps(
            [
                {"_id": 1, "_name": "7zip", "wikidataId": "Q215051"},
                {"_id": 78, "_name": "LibreOffice", "wikidataId": "Q10135"},
                {"_id": 90, "_name": "Microsoft IIS"},
                {"_id": 91, "_name": "Exchange Online"},
            ]
        )
    )
    assert main(["catalog", "import-sill", str(sill), "--dir", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "liens douteux" in out and "libreoffice → SILL 1 7zip" in out
    assert "exchange-online → SILL 91 Exchange Online (nom / name)" in out


def test_import_sill_unknown_shape_exits_2(
    directory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sill = tmp_path / "sill.json"
    sill.write_text('[{"name": "x"}]')
    assert main(["catalog", "import-sill", str(sill), "--dir", str(directory)]) == 2
    assert "sill.json: [0]:" in capsys.readouterr().err


def test_scan_refuses_a_malformed_catalog(
    catalog_dir,
    samples,
    french,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = samples.microsoft.replace('kind = "suffix"', 'kind = "sufix"')
    monkeypatch.setattr(
        catalog_module, "CATALOG_DIR", catalog_dir({**samples.files, "microsoft": broken})
    )
    catalog_module.default_catalog.cache_clear()
    engine_module.default_engine.cache_clear()
    config = tmp_path / "tiebreak.toml"
    config.write_text('[organisation]\nname = "Commune"\n[scope]\nnetworks = ["127.0.0.1/32"]\n')
    output = tmp_path / "inventory.json"
    try:
        code = main(["scan", "-q", "-c", str(config), "-o", str(output), "-p", "system"])
    finally:
        catalog_module.default_catalog.cache_clear()
        engine_module.default_engine.cache_clear()
    assert code == 2
    err = capsys.readouterr().err
    assert "catalogue invalide" in err
    assert "microsoft.toml: products[1] (exchange-online).matchers[0].kind:" in err
    assert not output.exists()


def test_catalog_check_subprocess(
    directory: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    done = subprocess.run(
        [*tiebreak_cmd, "catalog", "check", "--dir", str(directory)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("catalogue valide")
