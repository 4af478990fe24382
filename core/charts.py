"""Server-rendered SVG charts for reports (CORE-15): no script, no inline
styles (the CSP forbids them), presentation attributes and classes only.

Each chart is an ``<svg role="img" aria-labelledby="<title id> <desc id>">``
with a ``<title>`` and a ``<desc>`` that says the numbers in words; the page
puts the same numbers in a table beside it. Text is escaped here, so the
result is safe to mark up as ``Markup`` in a template.

Legibility (issue 17): the SVG has a fixed size in CSS pixels (``WIDTH``), so
its sans-serif text is drawn at ``FONT_SIZE`` px wherever it is shown; on a
narrow screen the page puts it in a region that scrolls sideways. Values are
labelled directly: each bar segment carries its count, each line its name.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

# GOV.UK palette, dark enough for 3:1 against white (WCAG 1.4.11).
COLOURS = ("#00703c", "#1d70b8", "#f47738", "#d4351c", "#4c2c92", "#505a5f")
WIDTH = 640
BAR = 26
GAP = 10
LABEL = 290
FONT_SIZE = 16  # px, at the chart's display size (WCAG 1.4.4 guidance: at least 14)
FONT_FAMILY = "Arial, Helvetica, sans-serif"
INK = "#0b0c0c"
# Text drawn on each palette colour: white where it has 4.5:1, else near-black (orange).
ON_COLOUR = {"#f47738": INK}


def _open(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="app-chart" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="{FONT_FAMILY}" font-size="{FONT_SIZE}" fill="{INK}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]


def stacked_bars(
    chart_id: str, title: str, rows: list[tuple[str, list[int]]], series: list[str]
) -> Markup:
    """One horizontal bar per row, split into ``series`` (e.g. grade levels, best first)."""
    top = 36
    height = top + len(rows) * (BAR + GAP) + 10
    words = "; ".join(
        f"{label}: " + ", ".join(f"{n} {name}" for n, name in zip(values, series)) for label, values in rows
    )
    out = _open(chart_id, title, words or "No figures for this period.", WIDTH, height)
    # Legend.
    x = 0
    for i, name in enumerate(series):
        out.append(f'<rect x="{x}" y="4" width="14" height="14" fill="{COLOURS[i % len(COLOURS)]}"/>')
        out.append(f'<text x="{x + 20}" y="17" class="app-chart__legend">{escape(name)}</text>')
        x += 32 + 9 * len(name)
    biggest = max((sum(values) for _, values in rows), default=0) or 1
    span = WIDTH - LABEL - 40
    for r, (label, values) in enumerate(rows):
        y = top + r * (BAR + GAP)
        out.append(
            f'<text x="{LABEL - 8}" y="{y + BAR - 8}" text-anchor="end">{escape(label if len(label) <= 32 else label[:31] + "…")}</text>'
        )
        x = LABEL
        for i, value in enumerate(values):
            if value:
                w = round(span * value / biggest, 1)
                out.append(
                    f'<rect x="{x}" y="{y}" width="{w}" height="{BAR}" fill="{COLOURS[i % len(COLOURS)]}">'
                    f"<title>{escape(label)}: {value} {escape(series[i])}</title></rect>"
                )
                if w >= 12 + 9 * len(str(value)):  # the count on its segment, where it fits
                    colour = COLOURS[i % len(COLOURS)]
                    out.append(
                        f'<text x="{round(x + w / 2, 1)}" y="{y + BAR - 8}" text-anchor="middle" '
                        f'fill="{ON_COLOUR.get(colour, "#ffffff")}" aria-hidden="true">{value}</text>'
                    )
                x += w
        out.append(f'<text x="{round(x + 6, 1)}" y="{y + BAR - 8}" font-weight="bold">{sum(values)}</text>')
    out.append("</svg>")
    return Markup("\n".join(out))


def lines(chart_id: str, title: str, labels: list[str], series: list[tuple[str, list[int]]]) -> Markup:
    """A trend: one line per series across ``labels`` (periods, oldest first)."""
    height, left, bottom, top = 280, 48, 40, 20
    # Room on the right for each line's name, at its last point (direct labels).
    plot_w, plot_h = WIDTH - left - 150, height - top - bottom
    biggest = max((v for _, values in series for v in values), default=0) or 1
    words = "; ".join(f"{name}: " + ", ".join(f"{lab} {v}" for lab, v in zip(labels, values)) for name, values in series)
    out = _open(chart_id, title, words or "No figures.", WIDTH, height)
    step = plot_w / max(len(labels) - 1, 1)
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#505a5f"/>'
    )
    out.append(f'<text x="{left - 8}" y="{top + 6}" text-anchor="end">{biggest}</text>')
    out.append(f'<text x="{left - 8}" y="{top + plot_h + 5}" text-anchor="end">0</text>')
    for i, lab in enumerate(labels):
        out.append(
            f'<text x="{round(left + i * step, 1)}" y="{height - 12}" text-anchor="middle">{escape(lab)}</text>'
        )
    ends = []
    for s, (name, values) in enumerate(series):
        colour = COLOURS[s % len(COLOURS)]
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
        if points:
            ends.append([points[-1][1] + 5, points[-1][0], name, values[-1], colour])
    # Each line's name and last value beside its last point, nudged apart where lines meet.
    ends.sort(key=lambda e: e[0])
    for k in range(1, len(ends)):
        ends[k][0] = max(ends[k][0], ends[k - 1][0] + FONT_SIZE + 2)
    if ends and ends[-1][0] > top + plot_h + 5:  # kept above the period labels
        ends[-1][0] = top + plot_h + 5
        for k in range(len(ends) - 2, -1, -1):
            ends[k][0] = min(ends[k][0], ends[k + 1][0] - FONT_SIZE - 2)
    for y, px, name, last, colour in ends:
        out.append(f'<rect x="{px + 10}" y="{round(y - 11, 1)}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{px + 26}" y="{round(y, 1)}">{escape(name)} {last}</text>')
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
