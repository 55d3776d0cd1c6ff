"""`tiebreak catalog check --corpus`: the catalog measured on real-world names
(`fingerprints.evaluate`), per channel: recall on listed products, misses, false positives.

Not a command group of its own: `agent.commands.catalog` calls `check_corpus`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.i18n import t

if TYPE_CHECKING:
    from fingerprints.catalog import Catalog
    from fingerprints.evaluate import ChannelFigures


def check_corpus(catalog: Catalog, directory: Path | None, min_recall: float | None) -> int:
    """Print the evaluation; 0, 1 when the total recall is under `min_recall`, 2 bad corpus."""
    from agent.cli import EXIT_CONFIG, EXIT_PARTIAL, error
    from agent.commands.catalog import shown
    from fingerprints.engine import Engine
    from fingerprints.evaluate import CORPUS_DIR, CorpusError, evaluate, read_corpus

    if min_recall is not None and not 0.0 <= min_recall <= 1.0:
        error(t("--min-recall : entre 0 et 1", "--min-recall: between 0 and 1"))
        return EXIT_CONFIG
    try:
        rows = read_corpus(directory, catalog)
    except CorpusError as exc:
        error(t(f"corpus invalide : {shown(str(exc), 600)}", f"bad corpus: {shown(str(exc), 600)}"))
        return EXIT_CONFIG
    result = evaluate(rows, Engine(catalog))
    print(t(f"corpus : {directory or CORPUS_DIR}", f"corpus: {directory or CORPUS_DIR}"))
    for channel, figures in result.channels.items():
        print(f"{channel}: {_summary(figures)}")
        for row in figures.misses:
            print(
                f"  {t('manqué', 'missed')} {row.expected}: {shown(row.value)!r} "
                f"({row.where}{_attributes(row.attributes)})"
            )
        for row, products in figures.false_positives:
            print(
                f"  {t('faux positif', 'false positive')} {shown(row.value)!r} "
                f"({t('attendu', 'expected')} {row.expected}) → {', '.join(products)} "
                f"({row.where})"
            )
        for row, products in figures.unlisted_matched:
            print(
                f"  {t('hors catalogue reconnu', 'unlisted matched')} {shown(row.value)!r} "
                f"({row.expected}) → {', '.join(products)} ({row.where})"
            )
    total = result.total()
    print(f"{t('total', 'total')}: {_summary(total)}")
    recall = total.recall
    if min_recall is not None and recall is not None and recall < min_recall:
        print(
            t(
                f"rappel {_percent(recall)} sous le seuil {_percent(min_recall)}",
                f"recall {recall:.1%} below the threshold {min_recall:.1%}",
            )
        )
        return EXIT_PARTIAL
    return 0


def _percent(share: float | None) -> str:
    """A share as a percentage, written the French or the English way."""
    if share is None:
        return "-"
    return t(f"{share:.1%}".replace(".", ",").replace("%", " %"), f"{share:.1%}")


def _summary(figures: ChannelFigures) -> str:
    recall = _percent(figures.recall)
    return t(
        f"{figures.rows} lignes ; rappel sur les produits du catalogue {recall} "
        f"({figures.found}/{figures.listed}) ; {len(figures.misses)} manqué(s) ; "
        f"{len(figures.false_positives)} faux positif(s) dont "
        f"{_lookalike_hits(figures)} sur {figures.lookalikes} sosie(s) ; "
        f"{figures.unlisted} hors catalogue ({len(figures.unlisted_matched)} reconnu(s))",
        f"{figures.rows} rows; recall on products the catalog lists {recall} "
        f"({figures.found}/{figures.listed}); {len(figures.misses)} missed; "
        f"{len(figures.false_positives)} false positive(s), "
        f"{_lookalike_hits(figures)} of them on {figures.lookalikes} look-alike(s); "
        f"{figures.unlisted} unlisted ({len(figures.unlisted_matched)} matched)",
    )


def _lookalike_hits(figures: ChannelFigures) -> int:
    from fingerprints.evaluate import NONE

    return sum(1 for row, _ in figures.false_positives if row.expected == NONE)


def _attributes(attributes: object) -> str:
    from agent.commands.catalog import shown

    if not isinstance(attributes, dict) or not attributes:
        return ""
    return "; " + ", ".join(f"{key}={shown(str(value), 80)}" for key, value in attributes.items())
