"""The trajectory chart (server/web/chart.py): well-formed SVG, one dot per value, coordinates that
follow the data, the 2030 horizon, escaped labels, the empty chart, euros in French."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest

from server.web.chart import Series, euros, nice_ticks, trajectory_svg

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)</script> & \"quoted\" 'single' \x00\x1b\u202e"

INDEX = Series(
    "Indice de dépendance",
    [(date(2024, 3, 1), 72.0), (date(2025, 6, 1), 60.0), (date(2026, 2, 1), 48.5)],
    "tc-index",
    "left",
)
COST = Series(
    "Coût annuel",
    [(date(2024, 3, 1), 12_500.0), (date(2025, 6, 1), 9_800.0), (date(2026, 2, 1), 4_000.0)],
    "tc-cost",
    "right",
)


def chart(series: list[Series], **options: object) -> str:
    settings: dict[str, object] = {
        "title": "Trajectoire de la commune",
        "left_label": "Indice (0–100)",
        "right_label": "Coût annuel (€)",
        "horizon_label": "Horizon 2030",
    }
    settings.update(options)
    return str(trajectory_svg(series, **settings))  # type: ignore[arg-type]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def circles(root: ET.Element) -> list[ET.Element]:
    return root.findall(f".//{SVG}circle")


def dot(root: ET.Element, tooltip_part: str) -> tuple[float, float]:
    for circle in circles(root):
        tip = circle.find(f"{SVG}title")
        if tip is not None and tooltip_part in (tip.text or ""):
            return float(circle.get("cx", "nan")), float(circle.get("cy", "nan"))
    raise AssertionError(f"no dot whose tooltip has {tooltip_part!r}")


def horizon_x(root: ET.Element) -> float:
    group = root.find(f".//{SVG}g[@class='tc-horizon']")
    assert group is not None, "no horizon line"
    line = group.find(f"{SVG}line")
    assert line is not None
    assert line.get("x1") == line.get("x2")  # vertical
    return float(line.get("x1", "nan"))


def texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def test_the_svg_is_well_formed_accessible_and_has_one_dot_per_value() -> None:
    root = parse(chart([INDEX, COST]))
    assert root.get("role") == "img"
    labelled = (root.get("aria-labelledby") or "").split()
    ids = {node.get("id"): node for node in root.iter() if node.get("id")}
    assert len(labelled) == 2 and all(name in ids for name in labelled)
    assert {ids[name].tag for name in labelled} == {f"{SVG}title", f"{SVG}desc"}
    assert ids[labelled[0]].text == "Trajectoire de la commune"
    assert len(circles(root)) == len(INDEX.points) + len(COST.points)
    # Each dot's tooltip tells its series, date and value.
    assert dot(root, "1er juin 2025")  # French dates
    tips = [c.findtext(f"{SVG}title") or "" for c in circles(root)]
    assert any("Indice de dépendance" in tip and "48,5" in tip for tip in tips)
    assert any("Coût annuel" in tip and "12\u202f500\u00a0€" in tip for tip in tips)
    assert len(root.findall(f".//{SVG}polyline")) == 2
    # No inline style: the CSP forbids it; colours come from classes.
    assert not [node for node in root.iter() if "style" in node.attrib]
    assert "style=" not in chart([INDEX, COST])


def test_the_same_input_gives_the_same_bytes() -> None:
    assert chart([INDEX, COST]) == chart([INDEX, COST])
    shuffled = Series(INDEX.label, list(reversed(INDEX.points)), INDEX.css_class, INDEX.axis)
    assert chart([shuffled, COST]) == chart([INDEX, COST])


def test_moving_a_point_moves_its_dot_and_only_its_dot() -> None:
    before = parse(chart([INDEX]))
    higher = Series(
        INDEX.label, [*INDEX.points[:2], (date(2026, 2, 1), 30.0)], INDEX.css_class, INDEX.axis
    )
    after = parse(chart([higher]))
    x0, y0 = dot(before, "48,5")
    x1, y1 = dot(after, "30")
    assert x1 == x0 and y1 > y0  # a lower index is drawn lower (SVG y grows downwards)
    assert dot(before, "72") == dot(after, "72")
    later = Series(
        INDEX.label, [*INDEX.points[:2], (date(2027, 2, 1), 48.5)], INDEX.css_class, INDEX.axis
    )
    x2, y2 = dot(parse(chart([later])), "48,5")
    assert x2 > x0 and y2 == y0


def test_the_2030_horizon_is_drawn_after_the_last_point() -> None:
    root = parse(chart([INDEX, COST]))
    last = max(float(c.get("cx", "nan")) for c in circles(root))
    assert horizon_x(root) > last
    assert "Horizon 2030" in texts(root)
    years = [text for text in texts(root) if re.fullmatch(r"20\d\d", text)]
    assert years[0] == "2025" and years[-1] == "2030"
    # Data beyond the horizon: the axis goes on, the horizon stays where it is.
    beyond = Series("Indice", [(date(2029, 1, 1), 40.0), (date(2033, 1, 1), 20.0)], "tc-index")
    root = parse(chart([beyond]))
    xs = sorted(float(c.get("cx", "nan")) for c in circles(root))
    assert xs[0] < horizon_x(root) < xs[1]


def test_a_single_point_is_a_dot_and_none_breaks_the_line() -> None:
    one = parse(chart([Series("Indice", [(date(2025, 5, 1), 50.0)], "tc-index")]))
    assert len(circles(one)) == 1
    assert one.findall(f".//{SVG}polyline") == []
    gap = Series(
        "Indice",
        [
            (date(2024, 1, 1), 80.0),
            (date(2024, 6, 1), 70.0),
            (date(2025, 1, 1), None),
            (date(2025, 6, 1), 60.0),
            (date(2026, 1, 1), 55.0),
            (date(2026, 6, 1), None),
            (date(2027, 1, 1), 40.0),
        ],
        "tc-index",
    )
    root = parse(chart([gap]))
    assert len(circles(root)) == 5  # one per value, none for the gaps
    lines = root.findall(f".//{SVG}polyline")
    assert [len((line.get("points") or "").split()) for line in lines] == [2, 2]


def test_hostile_labels_are_escaped() -> None:
    hostile = Series(HOSTILE, [(date(2025, 1, 1), 10.0), (date(2025, 6, 1), 20.0)], "tc-index")
    svg = chart([hostile], title=HOSTILE, left_label=HOSTILE, horizon_label=HOSTILE)
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    root = parse(svg)  # still well-formed XML: the control characters are gone
    assert root.findtext(f"{SVG}title") == "<script>alert(1)</script> & \"quoted\" 'single' "
    assert not [node for node in root.iter() if node.tag.endswith("script")]
    assert any("<script>alert(1)</script>" in text for text in texts(root))
    with pytest.raises(ValueError, match="css_class"):
        trajectory_svg(
            [Series("x", [], 'tc-index" onload="alert(1)')],
            title="t",
            left_label="l",
            right_label="r",
            horizon_label="h",
        )


@pytest.mark.parametrize(
    ("series", "lang", "message"),
    [
        ([], "fr", "Aucune donnée validée"),
        ([Series("Indice", [], "tc-index")], "fr", "Aucune donnée validée"),
        ([Series("Indice", [(date(2025, 1, 1), None)], "tc-index")], "en", "No validated data"),
    ],
)
def test_no_data_says_so(series: list[Series], lang: str, message: str) -> None:
    root = parse(chart(series, lang=lang))
    assert message in texts(root)
    assert circles(root) == []
    assert root.findtext(f"{SVG}desc") == message


def test_euro_ticks_are_round_and_written_in_french() -> None:
    root = parse(chart([INDEX, COST]))
    ticks = [text for text in texts(root) if text.endswith("€")]
    assert ticks == [
        "0\u00a0€",
        "2\u202f500\u00a0€",
        "5\u202f000\u00a0€",
        "7\u202f500\u00a0€",
        "10\u202f000\u00a0€",
        "12\u202f500\u00a0€",
    ]
    english = parse(chart([INDEX, COST], lang="en"))
    assert [text for text in texts(english) if text.startswith("€")][-1] == "€12,500"
    assert euros(1_234_567.5, "fr", 2) == "1\u202f234\u202f567,50\u00a0€"
    assert nice_ticks(0, 13_000) == [0, 5_000, 10_000, 15_000]
    assert nice_ticks(0, 3) == [0, 1, 2, 3]
    # Without a series on the right axis, no euro axis.
    assert not [text for text in texts(parse(chart([INDEX]))) if "€" in text and "(" not in text]
