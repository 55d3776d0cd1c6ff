"""A malformed catalog is refused with the file, the entry and the key of each problem."""

from __future__ import annotations

import pytest

from fingerprints.catalog import CatalogError, load_catalog


def problems(catalog_dir, files: dict[str, str]) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir(files))
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_invalid_regex_names_file_entry_and_key(catalog_dir, samples) -> None:
    broken = samples.microsoft.replace(
        "pattern = 'Microsoft IIS httpd(?: (?P<version>[0-9.]+))?'",
        "pattern = 'Microsoft IIS httpd(?: (?P<version>[0-9.]+)?'",
    )
    found = problems(catalog_dir, {**samples.files, "microsoft": broken})
    assert len(found) == 1
    assert (
        found[0].startswith("catalog/microsoft.toml: ") or "/catalog/microsoft.toml: " in found[0]
    )
    assert "products[2] (microsoft-iis).matchers[0].pattern: invalid regex" in found[0]


def test_unknown_key_is_rejected(catalog_dir, samples) -> None:
    broken = samples.tdf.replace(
        'replaceability = "easy"', 'replaceability = "easy"\nreplacability = 1'
    )
    found = problems(catalog_dir, {**samples.files, "the-document-foundation": broken})
    assert len(found) == 1
    assert "the-document-foundation.toml: products[0] (libreoffice).replacability:" in found[0]
    assert "unknown key" in found[0]


def test_unknown_matcher_key_names_the_matcher(catalog_dir, samples) -> None:
    broken = samples.microsoft.replace('pattern = "MS="', 'pattern = "MS="\npatern = "x"')
    found = problems(catalog_dir, {**samples.files, "microsoft": broken})
    assert "products[0] (microsoft-365).matchers[0].patern: clé inconnue" in found[0]


def test_dangling_alternative_fails(catalog_dir, samples) -> None:
    broken = samples.tdf.replace(
        'replaceability = "easy"', 'replaceability = "easy"\nalternatives = ["x"]'
    )
    found = problems(catalog_dir, {**samples.files, "the-document-foundation": broken})
    assert found == [
        next(p for p in found if "products[0] (libreoffice).alternatives: produit inconnu 'x'" in p)
    ]


def test_dangling_implies_and_parent_fail(catalog_dir, samples) -> None:
    broken = samples.microsoft.replace('implies = ["microsoft-365"]', 'implies = ["office-365"]')
    found = problems(
        catalog_dir,
        {
            **samples.files,
            "microsoft": broken,
            "filiale": samples.vendor("filiale", parent="groupe"),
        },
    )
    assert any("(exchange-online).implies: produit inconnu 'office-365'" in p for p in found)
    assert any("filiale.toml: vendor.parent: fournisseur inconnu 'groupe'" in p for p in found)


def test_parent_cycle_fails(catalog_dir, samples) -> None:
    files = {
        "a": samples.vendor("a", parent="b"),
        "b": samples.vendor("b", parent="c"),
        "c": samples.vendor("c", parent="a"),
    }
    found = problems(catalog_dir, files)
    assert len(found) == 1
    assert "vendor.parent: cycle de parents / parent cycle" in found[0]
    assert "a → b → c → a" in found[0]


def test_duplicate_product_id_fails(catalog_dir, samples) -> None:
    copy = samples.tdf.replace('id = "the-document-foundation"', 'id = "tdf-copy"')
    found = problems(catalog_dir, {**samples.files, "tdf-copy": copy})
    assert len(found) == 1
    assert "products[0] (libreoffice).id: produit déjà défini dans" in found[0]


def test_file_name_must_be_vendor_id(catalog_dir, samples) -> None:
    found = problems(catalog_dir, {**samples.files, "wrong-name": samples.vendor("acme")})
    assert any("wrong-name.toml: vendor.id:" in p and "acme.toml" in p for p in found)


def test_toml_syntax_error_names_file_and_line(catalog_dir, samples) -> None:
    found = problems(catalog_dir, {**samples.files, "acme": "[vendor\nid = 1"})
    assert len(found) == 1
    assert "acme.toml: TOML invalide / invalid TOML" in found[0]
    assert "line 1" in found[0]


def test_missing_source_note_is_named(catalog_dir, samples) -> None:
    text = samples.vendor("acme").replace(
        "[vendor.sources]", 'exposures = ["us-cloud-act"]\n[vendor.sources]'
    )
    found = problems(catalog_dir, {"acme": text})
    assert found[0].endswith("vendor.sources: sources lacks a note for exposures")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('pattern = "40.92.0.0/15"', 'pattern = "40.92.0.1/15"', "has host bits set"),
        ('kind = "cidr"', 'kind = "suffix"', "suffix pattern is a bare domain name"),
        (
            'pattern = "mail.protection.outlook.com"',
            'pattern = ".outlook.com"',
            "without leading dot",
        ),
        (
            'pattern = "microsoft:internet_information_services"',
            'pattern = "microsoft"',
            "cpe pattern is 'vendor:product'",
        ),
        (
            "pattern = 'Microsoft IIS httpd(?: (?P<version>[0-9.]+))?'",
            "pattern = '(?i)Microsoft IIS httpd'",
            "inline global flags",
        ),
        (
            "pattern = 'Microsoft IIS httpd(?: (?P<version>[0-9.]+))?'",
            "pattern = '(a)\\1'",
            "numbered back-references",
        ),
    ],
)
def test_bad_patterns_are_refused(catalog_dir, samples, old: str, new: str, message: str) -> None:
    assert old in samples.microsoft
    found = problems(
        catalog_dir, {**samples.files, "microsoft": samples.microsoft.replace(old, new, 1)}
    )
    assert len(found) == 1
    assert ".pattern: " in found[0] and message in found[0]


def test_empty_directory_is_an_error(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    with pytest.raises(CatalogError, match="aucun fichier de catalogue"):
        load_catalog(tmp_path)


def test_a_domain_without_a_name_is_refused(catalog_dir, samples) -> None:
    """Pages and exports name every domain in two languages: a new one is named first."""
    broken = samples.tdf.replace('domain = "bureautique"', 'domain = "tableur"', 1)
    assert broken != samples.tdf
    found = problems(catalog_dir, {**samples.files, "the-document-foundation": broken})
    assert len(found) == 1
    assert "the-document-foundation.toml: products[0] (libreoffice).domain:" in found[0]
    assert "domaine inconnu 'tableur'" in found[0]
    assert "inventory/domains.py" in found[0]
