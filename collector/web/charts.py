"""Server-rendered SVG charts: no script, nothing from a CDN, prints as crisply as it shows.

Each chart has a <title> and <desc> for screen readers; pages also show the figures as a table.
Suppressed values (None) are drawn as a hatched stub labelled "<5".
"""

import hashlib
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 16, 40
COLOURS = ("#0b4f8a", "#b3470a", "#1d5c2e", "#6a3d9a", "#a4161a", "#4a4a4a")


def _nice_max(value: float) -> float:
    if value <= 5:
        return 5
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return float(step)
    return float(value)


def _frame(title: str, desc: str, body: list[str]) -> Markup:
    # Ids unique per chart: several charts share a page.
    key = "c" + hashlib.sha1(title.encode()).hexdigest()[:8]
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="{key}t {key}d">'
        f'<title id="{key}t">{escape(title)}</title><desc id="{key}d">{escape(desc)}</desc>'
        '<rect width="100%" height="100%" fill="#fff"/>' + "".join(body) + "</svg>"
    )
    return Markup(svg)


def _axes(labels: Sequence[str], top: float, unit: str = "") -> list[str]:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    out = []
    for i in range(5):
        value = top * i / 4
        y = PAD_TOP + plot_h - plot_h * i / 4
        out.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#ddd"/>'
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#333">{value:g}{escape(unit)}</text>'
        )
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        x = PAD_LEFT + slot * (i + 0.5)
        out.append(
            f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" text-anchor="middle" '
            f'font-size="11" fill="#333">{escape(label)}</text>'
        )
    return out


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[int | None], unit: str = ""
) -> Markup:
    """One bar per label; None is a suppressed small count."""
    top = _nice_max(max((v for v in values if v is not None), default=0))
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(labels), 1)
    body = _axes(labels, top, unit)
    key = "h" + hashlib.sha1(title.encode()).hexdigest()[:8]
    body.append(
        f'<defs><pattern id="hatch-{key}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="#999"/></pattern></defs>'
    )
    for i, v in enumerate(values):
        x = PAD_LEFT + slot * i + slot * 0.15
        w = slot * 0.7
        if v is None:
            h = plot_h * 0.04
            y = PAD_TOP + plot_h - h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="url(#hatch-{key})"/>'
                f'<text x="{x + w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11">&lt;5</text>'
            )
            continue
        h = plot_h * v / top if top else 0
        y = PAD_TOP + plot_h - h
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{COLOURS[0]}"/>'
        )
        if v:
            body.append(
                f'<text x="{x + w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'font-size="11">{v}</text>'
            )
    desc = ", ".join(
        f"{lab}: {'fewer than 5' if v is None else v}"
        for lab, v in zip(labels, values, strict=True)
    )
    return _frame(title, desc, body)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    unit: str = "",
    top: float | None = None,
) -> Markup:
    """Several lines over the same labels, with a legend."""
    peak = max((v for _, vals in series for v in vals if v is not None), default=0)
    top = top if top is not None else _nice_max(peak)
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(labels), 1)
    body = _axes(labels, top, unit)
    for n, (name, values) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        points = [
            (PAD_LEFT + slot * (i + 0.5), PAD_TOP + plot_h - (plot_h * v / top if top else 0))
            for i, v in enumerate(values)
            if v is not None
        ]
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>'
            )
            body.extend(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points
            )
        lx = PAD_LEFT + 8 + n * 180
        body.append(
            f'<rect x="{lx}" y="{HEIGHT - 14}" width="12" height="4" fill="{colour}"/>'
            f'<text x="{lx + 16}" y="{HEIGHT - 9}" font-size="11">{escape(name)}</text>'
        )
    desc = "; ".join(
        f"{name}: "
        + ", ".join(
            f"{lab} {'n/a' if v is None else f'{v:g}{unit}'}"
            for lab, v in zip(labels, vals, strict=True)
        )
        for name, vals in series
    )
    return _frame(title, desc, body)
