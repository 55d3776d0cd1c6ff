"""Reference prices: the schema refuses an unsourced or ill-formed price, the shipped catalog prices
the big non-European families (or says, with a source, why it cannot), and `catalog show` prints it.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from agent.cli import main
from fingerprints.catalog import CatalogError, default_catalog, load_catalog
from fingerprints.schema import Price

SOURCE = "Éditeur, page tarifs : 10,00 € HT par utilisateur et par mois, × 12"
PRICED = {
    "unit": "user",
    "eur_per_year": 120.0,
    "offer": "Offre test",
    "source": SOURCE,
    "url": "https://example.com/tarifs",
    "date": datetime.date(2026, 1, 1),
}
REASON = {
    "not_estimable": "facturé à l'usage : aucun prix unitaire annuel / usage-priced",
    "source": SOURCE,
    "url": "https://example.com/tarifs",
    "date": datetime.date(2026, 1, 1),
}

# The big non-European families the catalog must price, or say why it cannot.
FAMILIES = {
    "microsoft-365": [
        "microsoft-365", "exchange-online", "microsoft-teams", "sharepoint-online", "onedrive",
        "entra-id", "intune", "microsoft-365-apps", "microsoft-office",
    ],
    "windows": ["microsoft-windows", "microsoft-windows-server", "active-directory", "hyper-v"],
    "google-workspace": ["google-workspace", "gmail", "google-drive", "google-meet"],
    "zoom": ["zoom"],
    "adobe": ["adobe-acrobat", "adobe-creative-cloud", "adobe-admin-console"],
    "vmware": ["vmware-vsphere", "vmware-horizon"],
    "citrix": ["citrix-virtual-apps", "citrix-workspace", "netscaler"],
    "endpoint-security": [
        "microsoft-defender", "trend-micro-apex-one", "trend-micro-email-security",
        "sophos-endpoint", "sophos-email", "kaspersky-endpoint", "symantec-endpoint",
        "symantec-email-security-cloud", "crowdstrike-falcon", "eset-endpoint", "eset-protect",
        "bitdefender-gravityzone", "withsecure-elements",
    ],
    "clouds": [
        "amazon-web-services", "amazon-route-53", "amazon-ses", "amazon-cloudfront",
        "microsoft-azure", "azure-dns", "google-cloud", "google-cloud-dns", "oracle-cloud",
    ],
}  # fmt: skip
USAGE_PRICED = FAMILIES["clouds"]
# Services that come with a subscription priced elsewhere: service → product carrying the price.
INCLUDED = {
    "exchange-online": "microsoft-365",
    "microsoft-teams": "microsoft-365",
    "sharepoint-online": "microsoft-365",
    "onedrive": "microsoft-365",
    "entra-id": "microsoft-365",
    "microsoft-365-apps": "microsoft-365",
    "gmail": "google-workspace",
    "google-drive": "google-workspace",
    "google-meet": "google-workspace",
}


# ---------------------------------------------------------------- schema


def refused(**changes: Any) -> str:
    data = {**PRICED, **changes}
    data = {key: value for key, value in data.items() if value is not None}
    with pytest.raises(ValidationError) as caught:
        Price.model_validate(data)
    return str(caught.value)


def test_valid_prices_pass() -> None:
    assert Price.model_validate(PRICED).eur_per_year == 120.0
    assert Price.model_validate(REASON).not_estimable is not None
    assert Price.model_validate({**REASON, "url": None}).url is None


def test_price_without_source_is_refused() -> None:
    assert "source" in refused(source=None)
    assert "source" in refused(source="")


def test_price_without_date_is_refused() -> None:
    assert "date" in refused(date=None)
    assert "date" in refused(date="hier")


def test_price_and_reason_together_are_refused() -> None:
    assert "not_estimable excludes" in refused(not_estimable=REASON["not_estimable"])


def test_neither_price_nor_reason_is_refused() -> None:
    assert "needs eur_per_year and unit" in refused(eur_per_year=None)
    assert "needs eur_per_year and unit" in refused(unit=None)
    with pytest.raises(ValidationError):
        Price.model_validate({**REASON, "not_estimable": None})


@pytest.mark.parametrize("amount", [0, -1, -129.96])
def test_zero_or_negative_price_is_refused(amount: float) -> None:
    assert "greater than 0" in refused(eur_per_year=amount)


def test_bad_unit_url_and_unknown_key_are_refused() -> None:
    assert "unit" in refused(unit="seat")
    assert "https://" in refused(url="http://example.com")
    assert "extra" in refused(currency="USD").lower()


def test_catalog_error_names_file_product_and_key(catalog_dir, samples) -> None:
    block = (
        'replaceability = "easy"\n'
        "[products.price]\n"
        'unit = "user"\n'
        "eur_per_year = 10\n"
        "date = 2026-01-01\n"
    )
    broken = samples.tdf.replace('replaceability = "easy"', block)
    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir({**samples.files, "the-document-foundation": broken}))
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [
        "products[0] (libreoffice).price.source: clé obligatoire absente / missing required key"
    ]
    assert caught.value.problems[0].split(": ", 1)[0].endswith("the-document-foundation.toml")

    both = block.replace(
        "date =", f'not_estimable = "{REASON["not_estimable"]}"\nsource = "{SOURCE}"\ndate ='
    )
    broken = samples.tdf.replace('replaceability = "easy"', both)
    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir({**samples.files, "the-document-foundation": broken}))
    assert any(
        "products[0] (libreoffice).price: not_estimable excludes eur_per_year and unit" in p
        for p in caught.value.problems
    )


# ---------------------------------------------------------------- the shipped catalog


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_big_non_eu_families_have_a_price(family: str) -> None:
    catalog = default_catalog()
    missing = [pid for pid in FAMILIES[family] if catalog.products[pid].price is None]
    assert missing == []


def test_every_price_is_sourced_dated_and_linked() -> None:
    today = datetime.date.today()
    problems = []
    for product in default_catalog().products.values():
        price = product.price
        if price is None:
            continue
        if len(price.source.strip()) < 40:
            problems.append(f"{product.id}: source too short to name a page")
        if price.url is None or not price.url.startswith("https://"):
            problems.append(f"{product.id}: no https url")
        if price.date > today:
            problems.append(f"{product.id}: date in the future")
        if price.eur_per_year is not None:
            if not price.offer:
                problems.append(f"{product.id}: a figure without the offer it is for")
            if "HT" not in price.source:
                problems.append(f"{product.id}: source does not say the figure is HT")
    assert problems == []


def test_usage_priced_clouds_are_not_estimable() -> None:
    catalog = default_catalog()
    for pid in USAGE_PRICED:
        price = catalog.products[pid].price
        assert price is not None and price.eur_per_year is None, pid
        assert price.not_estimable is not None and "usage" in price.not_estimable, pid


def test_included_services_are_not_counted_twice() -> None:
    catalog = default_catalog()
    for service, carrier in INCLUDED.items():
        price = catalog.products[service].price
        assert price is not None and price.eur_per_year is None, service
        assert price.not_estimable is not None and carrier in price.not_estimable, service
    tenant = catalog.products["microsoft-365"].price
    assert tenant is not None and tenant.unit == "user"
    assert tenant.eur_per_year == pytest.approx(10.83 * 12)


# ---------------------------------------------------------------- catalog show


def test_show_prints_the_price_source_and_date(
    french: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["catalog", "show", "microsoft-365"]) == 0
    out = capsys.readouterr().out
    assert "prix de référence: 129,96 € HT par utilisateur et par an (Microsoft 365 Business" in out
    assert "    source (2026-06-01): Riverflow" in out
    assert "url: https://riverflowsbv.com/en/kennisbank/microsoft-365-prijzen" in out


def test_show_prints_why_a_price_is_not_estimable(
    french: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["catalog", "show", "amazon-web-services"]) == 0
    out = capsys.readouterr().out
    assert "prix de référence: non estimable : facturé à l'usage" in out
    assert "source (2026-09-20): Amazon Web Services" in out


def test_show_in_english(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIEBREAK_LANG", "en")
    assert main(["catalog", "show", "microsoft-365"]) == 0
    assert "reference price: €129.96 excl. VAT per user per year" in capsys.readouterr().out
    assert main(["catalog", "show", "zoom"]) == 0
    assert "reference price: not estimable: prix public en dollars" in capsys.readouterr().out


def test_show_without_price_prints_no_price_line(
    catalog_dir, samples, french, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = catalog_dir(samples.files)
    assert main(["catalog", "show", "libreoffice", "--dir", str(directory)]) == 0
    assert "prix de référence" not in capsys.readouterr().out
