"""The trajectory chart: an SVG line chart drawn on the server, no JavaScript.

Time runs along the x axis from the first point to at least TIE Break's 2030 horizon (a dashed
vertical line with its label); the left axis is the dependency index (0–100), the right one euros
per year with rounded ticks. Every series is a polyline with a dot at each point, and each dot has
a `<title>` (its tooltip: date and value); a missing value (None) breaks the line. The chart is an
image for assistive technologies (`role="img"`, named by its `<title>` and `<desc>`): the page
shows the same figures in a table beside it.

Colours come from CSS classes only (the Content-Security-Policy forbids style attributes): the
"trajectory chart" section of `static/tiebreak.css`. Every text is escaped, and the output depends
only on the input (same input, same bytes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

from markupsafe import Markup, escape

__all__ = ["HORIZON", "Series", "euros", "trajectory_svg"]

HORIZON: Final = date(2030, 12, 31)
"""TIE Break's horizon: the end of 2030."""

INDEX_TICKS: Final = (0, 25, 50, 75, 100)
NBSP: Final = "\u00a0"
NNBSP: Final = "\u202f"
LABEL_CHARS: Final = 48
"""Longest visible label (axis, legend); the full text stays in the <title> and <desc>."""

_CLASS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
# Not allowed in XML 1.0 (even as references), or able to reorder the text shown around them.
_UNWANTED = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)
_MONTHS: Final = {
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Series:
    """One line: its name (legend, tooltips), points in any order, CSS class, and axis.

    `css_class` names the colour in the stylesheet (`tc-index`, `tc-cost`, `tc-target`,
    `tc-other`); `axis` is "left" for the dependency index (0–100), "right" for euros per year.
    """

    label: str
    points: Sequence[tuple[date, float | None]]
    css_class: str = "tc-index"
    axis: Literal["left", "right"] = "left"


# --- Text -----------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Text safe in XML and shown as typed: control and bidi-override characters removed."""
    return _UNWANTED.sub("", str(text))


def _shown(text: str, limit: int = LABEL_CHARS) -> str:
    cleaned = _clean(text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def _grouped(value: float, decimals: int, lang: str) -> str:
    rounded = round(value, decimals)
    text = f"{abs(rounded):,.{decimals}f}"
    if lang == "fr":
        text = text.replace(",", NNBSP).replace(".", ",")
    return ("-" if rounded < 0 else "") + text


def euros(value: float, lang: str = "fr", decimals: int = 0) -> str:
    """`12 500 €` in French (narrow no-break space between thousands), `€12,500` in English."""
    number = _grouped(value, decimals, lang)
    if lang == "fr":
        return f"{number}{NBSP}€"
    return f"-€{number[1:]}" if number.startswith("-") else f"€{number}"


def _index(value: float, lang: str) -> str:
    decimals = 0 if float(value).is_integer() else 1
    return _grouped(value, decimals, lang)


def _day(day: date, lang: str) -> str:
    month = _MONTHS["fr" if lang == "fr" else "en"][day.month - 1]
    if lang == "fr":
        return f"{'1er' if day.day == 1 else day.day} {month} {day.year}"
    return f"{day.day} {month} {day.year}"


def _value(value: float, axis: str, lang: str) -> str:
    if axis == "right":
        return euros(value, lang, 0 if abs(value) >= 100 or float(value).is_integer() else 2)
    return _index(value, lang) + ("/100" if lang == "en" else f"{NNBSP}/{NNBSP}100")


def _colon(lang: str) -> str:
    return f"{NNBSP}: " if lang == "fr" else ": "


# --- Scales ---------------------------------------------------------------------------------------


def _number(value: float) -> str:
    """A coordinate: one decimal, never `-0.0`."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def nice_ticks(low: float, high: float, most: int = 5) -> list[float]:
    """Round ticks (1, 2, 2.5 or 5 × 10^n apart) covering [low, high], at most `most` intervals."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0:
        high = low + 1
    raw = (high - low) / most
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(
        (m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw - 1e-12 * power), 10 * power
    )
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(n * step, 10) for n in range(first, last + 1)]


def _decimals(ticks: Sequence[float]) -> int:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return 0 if step >= 1 and all(float(t).is_integer() for t in ticks) else 2


def _year_ticks(start: date, end: date) -> list[date]:
    years = end.year - start.year + 1
    every = 1 if years <= 12 else 2 if years <= 24 else 5 if years <= 60 else 10
    first = start.year if start == date(start.year, 1, 1) else start.year + 1
    return [date(y, 1, 1) for y in range(first, end.year + 1) if y % every == 0 or every == 1]


# --- Drawing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Frame:
    left: float
    right: float
    top: float
    bottom: float
    start: date
    end: date

    def x(self, day: date) -> float:
        span = (self.end - self.start).days
        return self.left + (day - self.start).days / span * (self.right - self.left)

    def y(self, value: float, low: float, high: float) -> float:
        clipped = min(max(value, low), high)
        return self.bottom - (clipped - low) / (high - low) * (self.bottom - self.top)


def _text(x: float, y: float, content: str, css: str, anchor: str = "start") -> str:
    return (
        f'<text x="{_number(x)}" y="{_number(y)}" class="{css}" text-anchor="{anchor}">'
        f"{escape(content)}</text>"
    )


def _valued(series: Series) -> list[tuple[date, float | None]]:
    """Points sorted by date (stable), non-finite values as gaps."""
    points = [
        (day, None if value is None or not math.isfinite(value) else float(value))
        for day, value in series.points
    ]
    return sorted(points, key=lambda point: point[0])


def _segments(points: Iterable[tuple[date, float | None]]) -> list[list[tuple[date, float]]]:
    runs: list[list[tuple[date, float]]] = [[]]
    for day, value in points:
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((day, value))
    return [run for run in runs if run]


def _legend_rows(series: Sequence[Series], width: int) -> list[list[tuple[int, float]]]:
    """Legend items (series index, x) in rows that fit the width; text ~7 px a character."""
    rows: list[list[tuple[int, float]]] = [[]]
    x = 8.0
    for number, one in enumerate(series):
        size = 30 + 7 * len(_shown(one.label, 40)) + 18
        if rows[-1] and x + size > width - 8:
            rows.append([])
            x = 8.0
        rows[-1].append((number, x))
        x += size
    return rows if rows[0] else []


def _describe(
    series: Sequence[tuple[Series, list[tuple[date, float | None]]]],
    start: date,
    end: date,
    horizon: date,
    horizon_label: str,
    lang: str,
) -> str:
    parts = []
    fr = lang == "fr"
    parts.append(
        (f"Du {_day(start, lang)} au {_day(end, lang)}" if fr else
         f"From {_day(start, lang)} to {_day(end, lang)}")
        + f". {_clean(horizon_label)}{_colon(lang)}{_day(horizon, lang)}."
    )  # fmt: skip
    for one, points in series:
        valued = [(d, v) for d, v in points if v is not None]
        if not valued:
            continue
        (first_day, first), (last_day, last) = valued[0], valued[-1]
        count = len(valued)
        points_word = "point" if count == 1 else "points"
        if count == 1:
            what = f"{_value(first, one.axis, lang)} ({_day(first_day, lang)})"
        elif fr:
            what = (
                f"de {_value(first, one.axis, lang)} ({_day(first_day, lang)}) "
                f"à {_value(last, one.axis, lang)} ({_day(last_day, lang)})"
            )
        else:
            what = (
                f"from {_value(first, one.axis, lang)} ({_day(first_day, lang)}) "
                f"to {_value(last, one.axis, lang)} ({_day(last_day, lang)})"
            )
        parts.append(f"{_clean(one.label)}{_colon(lang)}{what}, {count} {points_word}.")
    return " ".join(parts)


def trajectory_svg(
    series: Sequence[Series],
    *,
    title: str,
    left_label: str,
    right_label: str,
    horizon: date = HORIZON,
    horizon_label: str,
    width: int = 720,
    height: int = 300,
    lang: str = "fr",
    chart_id: str = "trajectoire",
) -> Markup:
    """The chart as an inline `<svg>` element (see the module docstring).

    `chart_id` prefixes the ids of the `<title>` and `<desc>` (give each chart of a page its
    own). The right axis is drawn only when a series uses it. With no value at all, the chart
    says "Aucune donnée validée" ("No validated data").
    """
    if not _ID.fullmatch(chart_id):
        raise ValueError(f"chart_id must match {_ID.pattern}: {chart_id!r}")
    for one in series:
        if not _CLASS.fullmatch(one.css_class):
            raise ValueError(f"css_class must match {_CLASS.pattern}: {one.css_class!r}")
    width, height = max(int(width), 240), max(int(height), 160)
    lang = "fr" if lang != "en" else "en"
    prepared = [(one, _valued(one)) for one in series]
    has_values = any(v is not None for _, points in prepared for _, v in points)
    title_id, desc_id = f"{chart_id}-titre", f"{chart_id}-desc"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trajectory" role="img"'
        f' width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' aria-labelledby="{title_id} {desc_id}">'
        f'<title id="{title_id}">{escape(_clean(title))}</title>'
    )
    if not has_values:
        empty = "Aucune donnée validée" if lang == "fr" else "No validated data"
        return Markup(  # noqa: S704 (every text escaped above and here)
            head
            + f'<desc id="{desc_id}">{escape(empty)}</desc>'
            + f'<rect class="tc-frame" x="0.5" y="0.5" width="{width - 1}" height="{height - 1}"'
            ' fill="none"/>' + _text(width / 2, height / 2, empty, "tc-empty", "middle") + "</svg>"
        )

    right_axis = any(one.axis == "right" for one in series)
    legend = _legend_rows(series, width)
    days = [day for _, points in prepared for day, _ in points]
    start = min(days)
    end = max(max(days), horizon)
    if end <= start:
        end = start + timedelta(days=365)
    frame = _Frame(
        left=44.0,
        right=float(width - (92 if right_axis else 16)),
        top=30.0,
        bottom=float(height - 30 - 18 * len(legend)),
        start=start,
        end=end,
    )
    if frame.bottom - frame.top < 40:
        frame = _Frame(frame.left, frame.right, frame.top, frame.top + 40, start, end)
    right_values = [
        v for one, points in prepared if one.axis == "right" for _, v in points if v is not None
    ]
    money = nice_ticks(min(right_values, default=0.0), max(right_values, default=1.0))
    money_low, money_high = money[0], money[-1]
    money_decimals = _decimals(money)

    description = _describe(prepared, start, end, horizon, horizon_label, lang)
    out = [head, f'<desc id="{desc_id}">{escape(description)}</desc>']

    # Grid and left axis (dependency index).
    out.append('<g class="tc-grid">')
    for tick in INDEX_TICKS:
        level = _number(frame.y(tick, 0, 100))
        out.append(
            f'<line x1="{_number(frame.left)}" x2="{_number(frame.right)}"'
            f' y1="{level}" y2="{level}"/>'
        )
    out.append("</g>")
    out.append('<g class="tc-axis tc-axis-left">')
    for tick in INDEX_TICKS:
        out.append(_text(frame.left - 6, frame.y(tick, 0, 100) + 4, str(tick), "tc-tick", "end"))
    out.append(_text(4, 16, _shown(left_label), "tc-axis-label"))
    out.append("</g>")

    # Right axis (euros per year).
    if right_axis:
        out.append('<g class="tc-axis tc-axis-right">')
        for amount in money:
            y = frame.y(amount, money_low, money_high)
            shown = euros(amount, lang, money_decimals)
            out.append(_text(frame.right + 6, y + 4, shown, "tc-tick"))
        out.append(_text(width - 4, 16, _shown(right_label), "tc-axis-label", "end"))
        out.append("</g>")

    # Time axis: a tick and the year at each 1 January.
    out.append('<g class="tc-axis tc-axis-time">')
    out.append(
        f'<line class="tc-baseline" x1="{_number(frame.left)}" x2="{_number(frame.right)}"'
        f' y1="{_number(frame.bottom)}" y2="{_number(frame.bottom)}"/>'
    )
    for tick_day in _year_ticks(start, end):
        x = frame.x(tick_day)
        out.append(
            f'<line x1="{_number(x)}" x2="{_number(x)}" y1="{_number(frame.bottom)}"'
            f' y2="{_number(frame.bottom + 5)}"/>'
        )
        out.append(_text(x, frame.bottom + 18, str(tick_day.year), "tc-tick", "middle"))
    out.append("</g>")

    # The horizon.
    if start <= horizon <= end:
        x = frame.x(horizon)
        out.append(
            f'<g class="tc-horizon"><line x1="{_number(x)}" x2="{_number(x)}"'
            f' y1="{_number(frame.top - 6)}" y2="{_number(frame.bottom)}"/>'
            + _text(x - 4, frame.top + 8, _shown(horizon_label, 32), "tc-horizon-label", "end")
            + "</g>"
        )

    # The series: one polyline per run of values, a dot with its tooltip at each value.
    for one, points in prepared:
        low, high = (money_low, money_high) if one.axis == "right" else (0.0, 100.0)
        out.append(f'<g class="tc-series {one.css_class}">')
        for run in _segments(points):
            if len(run) > 1:
                coordinates = " ".join(
                    f"{_number(frame.x(d))},{_number(frame.y(v, low, high))}" for d, v in run
                )
                out.append(f'<polyline fill="none" points="{coordinates}"/>')
        for day, value in points:
            if value is None:
                continue
            tip = (
                f"{_clean(one.label)} — {_day(day, lang)}{_colon(lang)}"
                f"{_value(value, one.axis, lang)}"
            )
            out.append(
                f'<circle class="tc-point" cx="{_number(frame.x(day))}"'
                f' cy="{_number(frame.y(value, low, high))}" r="4">'
                f"<title>{escape(tip)}</title></circle>"
            )
        out.append("</g>")

    # The legend, under the time axis.
    for row_number, row in enumerate(legend):
        line_y = frame.bottom + 38 + 18 * row_number
        for number, x in row:
            one = series[number]
            out.append(
                f'<g class="tc-legend tc-series {one.css_class}">'
                f'<line x1="{_number(x)}" x2="{_number(x + 22)}" y1="{_number(line_y - 4)}"'
                f' y2="{_number(line_y - 4)}"/>'
                f'<rect x="{_number(x + 8)}" y="{_number(line_y - 7)}" width="6" height="6"/>'
                + _text(x + 30, line_y, _shown(one.label, 40), "tc-legend-label")
                + "</g>"
            )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text escaped above)
