"""Server-rendered SVG charts for reports (CORE-15): no script, no inline
styles (the CSP forbids them), presentation attributes and classes only.

Each chart is an ``<svg role="img" aria-labelledby="<title id> <desc id>">``
with a ``<title>`` and a ``<desc>`` that says the numbers in words; the page
puts the same numbers in a table beside it. Text is escaped here, so the
result is safe to mark up as ``Markup`` in a template.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

# GOV.UK palette, dark enough for 3:1 against white (WCAG 1.4.11).
COLOURS = ("#00703c", "#1d70b8", "#f47738", "#d4351c", "#4c2c92", "#505a5f")
WIDTH = 640
BAR = 22
GAP = 10
LABEL = 300


def _open(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="app-chart" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]


def stacked_bars(
    chart_id: str, title: str, rows: list[tuple[str, list[int]]], series: list[str]
) -> Markup:
    """One horizontal bar per row, split into ``series`` (e.g. grade levels, best first)."""
    top = 34
    height = top + len(rows) * (BAR + GAP) + 10
    words = "; ".join(
        f"{label}: " + ", ".join(f"{n} {name}" for n, name in zip(values, series)) for label, values in rows
    )
    out = _open(chart_id, title, words or "No figures for this period.", WIDTH, height)
    # Legend.
    x = 0
    for i, name in enumerate(series):
        out.append(f'<rect x="{x}" y="4" width="14" height="14" fill="{COLOURS[i % len(COLOURS)]}"/>')
        out.append(f'<text x="{x + 18}" y="16" class="app-chart__legend" font-size="13">{escape(name)}</text>')
        x += 24 + 8 * len(name)
    biggest = max((sum(values) for _, values in rows), default=0) or 1
    span = WIDTH - LABEL - 40
    for r, (label, values) in enumerate(rows):
        y = top + r * (BAR + GAP)
        out.append(
            f'<text x="{LABEL - 8}" y="{y + BAR - 6}" text-anchor="end" font-size="13">{escape(label if len(label) <= 40 else label[:39] + "…")}</text>'
        )
        x = LABEL
        for i, value in enumerate(values):
            if value:
                w = round(span * value / biggest, 1)
                out.append(
                    f'<rect x="{x}" y="{y}" width="{w}" height="{BAR}" fill="{COLOURS[i % len(COLOURS)]}">'
                    f"<title>{escape(label)}: {value} {escape(series[i])}</title></rect>"
                )
                x += w
        out.append(f'<text x="{x + 6}" y="{y + BAR - 6}" font-size="13">{sum(values)}</text>')
    out.append("</svg>")
    return Markup("\n".join(out))


def lines(chart_id: str, title: str, labels: list[str], series: list[tuple[str, list[int]]]) -> Markup:
    """A trend: one line per series across ``labels`` (periods, oldest first)."""
    height, left, bottom, top = 260, 40, 40, 34
    # Room on the right for the last period's label, centred on its point.
    plot_w, plot_h = WIDTH - left - 50, height - top - bottom
    biggest = max((v for _, values in series for v in values), default=0) or 1
    words = "; ".join(f"{name}: " + ", ".join(f"{lab} {v}" for lab, v in zip(labels, values)) for name, values in series)
    out = _open(chart_id, title, words or "No figures.", WIDTH, height)
    step = plot_w / max(len(labels) - 1, 1)
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#505a5f"/>'
    )
    out.append(f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="12">{biggest}</text>')
    out.append(f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="12">0</text>')
    for i, lab in enumerate(labels):
        out.append(
            f'<text x="{round(left + i * step, 1)}" y="{height - 14}" text-anchor="middle" font-size="12">{escape(lab)}</text>'
        )
    x = 0
    for s, (name, values) in enumerate(series):
        colour = COLOURS[s % len(COLOURS)]
        out.append(f'<rect x="{x}" y="4" width="14" height="14" fill="{colour}"/>')
        out.append(f'<text x="{x + 18}" y="16" font-size="13">{escape(name)}</text>')
        x += 24 + 8 * len(name)
        points = [
            (round(left + i * step, 1), round(top + plot_h - plot_h * v / biggest, 1)) for i, v in enumerate(values)
        ]
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="3" points="'
            + " ".join(f"{px},{py}" for px, py in points)
            + '"/>'
        )
        for (px, py), v, lab in zip(points, values, labels):
            out.append(
                f'<circle cx="{px}" cy="{py}" r="4" fill="{colour}"><title>{escape(name)}, {escape(lab)}: {v}</title></circle>'
            )
    out.append("</svg>")
    return Markup("\n".join(out))


def grade_distribution(chart_id: str, grades, levels) -> Markup:
    """Final grades per domain (a report's ``grades``), bars split by level."""
    return stacked_bars(
        chart_id,
        "Final grades by domain",
        [(g.title, list(g.levels.values())) for g in grades],
        [label for _, label in levels],
    )


def movement(chart_id: str, moves) -> Markup:
    """Re-audit movement per domain: improved, same, downgraded."""
    return stacked_bars(
        chart_id,
        "Re-audit movement by domain",
        [(m.title, [m.improved, m.same, m.downgraded]) for m in moves],
        ["Improved", "Same", "Downgraded"],
    )


def trend(chart_id: str, points) -> Markup:
    """Allocated, completed and overdue over the report's trend periods."""
    labels = [p.period.short_label for p in points]
    return lines(
        chart_id,
        "Audits over the last periods",
        labels,
        [
            ("Allocated", [p.counts.allocated for p in points]),
            ("Completed", [p.counts.completed for p in points]),
            ("Overdue", [p.counts.overdue for p in points]),
        ],
    )
