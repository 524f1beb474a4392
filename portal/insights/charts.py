"""Charts as inline SVG, drawn by the app: no script, readable without colour (labels, dashes, shapes),
and each with a <title> and <desc> for screen readers. Every chart on a page has its data table under it."""
from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

from portal.money import SYMBOLS

WIDTH = 720
# Colours with at least 3:1 contrast on white, each paired with its own dash pattern and marker.
SERIES_STYLES = [
    ("#0e6e6a", "", "circle"),
    ("#b4531a", "6 4", "square"),
    ("#5a3ea8", "2 3", "diamond"),
    ("#1d4f91", "10 3 2 3", "triangle"),
]
HIGHLIGHT = "#b4531a"
EMPTY_CELL = "#f5f7fa"
LOW, HIGH = (227, 243, 241), (14, 110, 106)  # heat map: brand-soft to brand


def _fmt(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 12, weight: str = "normal",
          fill: str = "#17243a", extra: str = "") -> str:
    return (f'<text x="{_fmt(x)}" y="{_fmt(y)}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
            f'fill="{fill}"{extra}>{escape(content)}</text>')


def _svg(chart_id: str, width: float, height: float, title: str, desc: str, body: list[str], css_class: str = "chart") -> Markup:
    return Markup(
        f'<svg class="{css_class}" id="{chart_id}" viewBox="0 0 {_fmt(width)} {_fmt(height)}" width="{_fmt(width)}" '
        f'height="{_fmt(height)}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, -apple-system, Segoe UI, sans-serif">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>'
        + "".join(body) + "</svg>"
    )


def nice_ceiling(value: float) -> float:
    """The next 'round' number at or above value (1, 2, 2.5, 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return f'<rect x="{_fmt(x - 4)}" y="{_fmt(y - 4)}" width="8" height="8" fill="{colour}"/>'
    if shape == "diamond":
        return f'<path d="M{_fmt(x)} {_fmt(y - 5)} L{_fmt(x + 5)} {_fmt(y)} L{_fmt(x)} {_fmt(y + 5)} L{_fmt(x - 5)} {_fmt(y)} Z" fill="{colour}"/>'
    if shape == "triangle":
        return f'<path d="M{_fmt(x)} {_fmt(y - 5)} L{_fmt(x + 5)} {_fmt(y + 4)} L{_fmt(x - 5)} {_fmt(y + 4)} Z" fill="{colour}"/>'
    return f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="4.5" fill="{colour}"/>'


# ---------------------------------------------------------------- horizontal bars (the funnel)

@dataclass
class Bar:
    label: str
    value: float
    value_text: str
    note: str = ""
    highlight: bool = False


def horizontal_bars(chart_id: str, title: str, desc: str, bars: list[Bar]) -> Markup:
    """One bar per row: label on the left, the value at the end of the track, a note under the bar."""
    label_width, bar_left, bar_width = 190, 200, 420
    row = 54 if any(bar.note for bar in bars) else 40
    height = row * len(bars) + 8
    largest = max((bar.value for bar in bars), default=0) or 1
    body = []
    for i, bar in enumerate(bars):
        top = 4 + i * row
        length = max(2.0, bar_width * bar.value / largest) if bar.value else 0
        colour = HIGHLIGHT if bar.highlight else "#0e6e6a"
        body.append(_text(label_width, top + 20, bar.label, anchor="end", size=13, weight="600"))
        body.append(f'<rect x="{bar_left}" y="{top + 6}" width="{bar_width}" height="22" rx="4" fill="{EMPTY_CELL}"/>')
        if length:
            body.append(f'<rect x="{bar_left}" y="{top + 6}" width="{_fmt(length)}" height="22" rx="4" fill="{colour}"/>')
        body.append(_text(bar_left + bar_width + 10, top + 22, bar.value_text, size=14, weight="700"))
        if bar.note:
            body.append(_text(bar_left, top + 44, bar.note, size=11, fill=HIGHLIGHT if bar.highlight else "#46546b",
                              weight="600" if bar.highlight else "normal"))
    return _svg(chart_id, WIDTH, height, title, desc, body)


# ---------------------------------------------------------------- lines over periods (retention)

@dataclass
class Line:
    name: str
    values: list[float | None]


def line_chart(chart_id: str, title: str, desc: str, labels: list[str], lines: list[Line], *, unit: str = "%",
               minimum_top: float = 100.0, floor: float = 0.0, ceiling: float | None = None) -> Markup:
    """Series over categories placed in equal bands, so the first and last labels stay inside the chart.
    The axis runs from `floor` (below zero for scores such as NPS) to `ceiling`, or a round number above the data."""
    left, right, top, bottom, height = 52, 12, 16, 40, 300
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [v for line in lines for v in line.values if v is not None]
    if ceiling is None:
        ceiling = nice_ceiling(max(values + [minimum_top]))
    band = plot_w / max(1, len(labels))
    every = max(1, math.ceil(len(labels) * 78 / plot_w))  # keep about 78px between axis labels

    def x_of(i: int) -> float:
        return left + band * (i + 0.5)

    def y_of(value: float) -> float:
        return top + plot_h - plot_h * (value - floor) / (ceiling - floor)

    body = []
    for tick in (floor + (ceiling - floor) * i / 4 for i in range(5)):
        y = y_of(tick)
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{_fmt(y)}" y2="{_fmt(y)}" stroke="#dde3ec"/>')
        body.append(_text(left - 8, y + 4, f"{tick:,.0f}{unit}" if tick == int(tick) else f"{_fmt(tick)}{unit}",
                          anchor="end", size=11, fill="#46546b"))
    for i, label in enumerate(labels):
        if (len(labels) - 1 - i) % every == 0:
            body.append(_text(x_of(i), height - bottom + 20, label, anchor="middle", size=11, fill="#46546b"))
    for index, line in enumerate(lines):
        colour, dash, shape = SERIES_STYLES[index % len(SERIES_STYLES)]
        points = [(x_of(i), y_of(v)) for i, v in enumerate(line.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in points)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr}/>')
        body += [_marker(shape, x, y, colour) for x, y in points]
    return _svg(chart_id, WIDTH, height, title, desc, body)


def legend(lines_or_names: list[str]) -> Markup:
    """HTML legend matching the series styles of line_chart and grouped_bars, in order."""
    items = []
    for index, name in enumerate(lines_or_names):
        colour, dash, shape = SERIES_STYLES[index % len(SERIES_STYLES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        swatch = (f'<svg width="34" height="12" aria-hidden="true" focusable="false"><line x1="1" x2="33" y1="6" y2="6" '
                  f'stroke="{colour}" stroke-width="2.5"{dash_attr}/>{_marker(shape, 17, 6, colour)}</svg>')
        items.append(f"<li>{swatch} {escape(name)}</li>")
    return Markup('<ul class="chart-legend">' + "".join(items) + "</ul>")


# ---------------------------------------------------------------- grouped vertical bars (lifetime value)

def grouped_bars(chart_id: str, title: str, desc: str, categories: list[str], series: list[Line],
                 value_text) -> Markup:
    left, right, top, bottom, height = 72, 16, 24, 40, 300
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [v for line in series for v in line.values if v is not None]
    ceiling = nice_ceiling(max(values + [0]) or 1)
    group_w = plot_w / max(1, len(categories))
    bar_w = min(56, (group_w - 24) / max(1, len(series)))
    body = []
    for i in range(5):
        tick = ceiling * i / 4
        y = top + plot_h - plot_h * tick / ceiling
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{_fmt(y)}" y2="{_fmt(y)}" stroke="#dde3ec"/>')
        body.append(_text(left - 8, y + 4, value_text(tick), anchor="end", size=11, fill="#46546b"))
    for c, category in enumerate(categories):
        group_left = left + c * group_w + (group_w - bar_w * len(series)) / 2
        for s, line in enumerate(series):
            value = line.values[c] or 0
            colour = SERIES_STYLES[s % len(SERIES_STYLES)][0]
            bar_h = plot_h * value / ceiling
            x, y = group_left + s * bar_w, top + plot_h - bar_h
            body.append(f'<rect x="{_fmt(x + 2)}" y="{_fmt(y)}" width="{_fmt(bar_w - 4)}" height="{_fmt(bar_h)}" fill="{colour}"'
                        + (' fill-opacity="0.55" stroke="' + colour + '" stroke-width="1.5"' if s % 2 else "") + "/>")
            body.append(_text(x + bar_w / 2, y - 5, value_text(value), anchor="middle", size=10, fill="#17243a"))
        body.append(_text(left + c * group_w + group_w / 2, height - bottom + 20, category, anchor="middle", size=12, weight="600"))
    return _svg(chart_id, WIDTH, height, title, desc, body)


# ---------------------------------------------------------------- heat map (cohorts)

def _shade(share: float) -> str:
    share = max(0.0, min(1.0, share))
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(LOW, HIGH))
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_map(chart_id: str, title: str, desc: str, row_labels: list[str], column_labels: list[str],
             cells: list[list[tuple[float, str] | None]]) -> Markup:
    """cells[r][c] is (percent, tooltip) or None for a period that hasn't happened."""
    label_w, header_h = 76, 28
    columns = max(1, len(column_labels))
    cell_w = max(10.0, min(48.0, (WIDTH - label_w) / columns))
    cell_h = 22 if cell_w >= 34 else 14
    width, height = label_w + cell_w * columns + 4, header_h + cell_h * len(row_labels) + 4
    # Month 0 is 100% by definition; scale the colours on the later periods so their differences show.
    later = [cell[0] for row in cells for cell in row[1:] if cell is not None]
    scale = max(later) if later and max(later) > 0 else 100.0
    body = []
    every = 1 if cell_w >= 34 else (3 if cell_w >= 18 else 6)
    for c, label in enumerate(column_labels):
        if c % every == 0:
            body.append(_text(label_w + c * cell_w + cell_w / 2, header_h - 10, label.split()[-1], anchor="middle",
                              size=10, fill="#46546b"))
    for r, label in enumerate(row_labels):
        y = header_h + r * cell_h
        body.append(_text(label_w - 6, y + cell_h / 2 + 4, label, anchor="end", size=11 if cell_h > 14 else 9))
        for c, cell in enumerate(cells[r]):
            x = label_w + c * cell_w
            if cell is None:
                continue
            percent, tooltip = cell
            share = 1.0 if c == 0 else percent / scale
            body.append(f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(cell_w - 1)}" height="{cell_h - 1}" '
                        f'fill="{_shade(share)}"><title>{escape(tooltip)}</title></rect>')
            if cell_w >= 34:
                colour = "#ffffff" if share > 0.55 else "#17243a"
                body.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, f"{percent:.0f}%", anchor="middle", size=10, fill=colour))
    return _svg(chart_id, width, height, title, desc, body, css_class="chart heat-map")


def heat_scale() -> Markup:
    """A small key for the heat map's colours."""
    stops = "".join(f'<stop offset="{i * 25}%" stop-color="{_shade(i / 4)}"/>' for i in range(5))
    return Markup(f'<svg class="heat-scale" width="160" height="14" aria-hidden="true" focusable="false">'
                  f'<defs><linearGradient id="heat-gradient">{stops}</linearGradient></defs>'
                  f'<rect width="160" height="14" rx="3" fill="url(#heat-gradient)"/></svg>')


# ---------------------------------------------------------------- sparklines (the home tiles)

def sparkline(chart_id: str, title: str, labels: list[str], values: list[float], value_text) -> Markup:
    width, height, pad = 132, 34, 3
    if not values:
        return Markup("")
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = (width - 2 * pad) / max(1, len(values) - 1)
    points = [(pad + i * step, height - pad - (height - 2 * pad) * (v - low) / span) for i, v in enumerate(values)]
    path = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in points)
    desc = "; ".join(f"{label}: {value_text(value)}" for label, value in zip(labels, values))
    last_x, last_y = points[-1]
    body = [f'<polyline points="{path}" fill="none" stroke="#0e6e6a" stroke-width="2" stroke-linejoin="round"/>',
            f'<circle cx="{_fmt(last_x)}" cy="{_fmt(last_y)}" r="3" fill="#0e6e6a"/>']
    return _svg(chart_id, width, height, title, desc, body, css_class="sparkline")


def money_axis(currency: str):
    """Short money labels for axes and bars, from minor units: £850, £12k, £1.2m."""
    symbol = SYMBOLS.get(currency, currency + " ")

    def label(minor: float) -> str:
        units = minor / 100
        if abs(units) >= 1_000_000:
            return f"{symbol}{units / 1_000_000:,.1f}m"
        if abs(units) >= 10_000:
            return f"{symbol}{units / 1000:,.0f}k"
        return f"{symbol}{units:,.0f}"

    return label
