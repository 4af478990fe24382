"""PDF documents from the pages' own HTML (CORE-15: "PDF of the whole report,
the same images in the PDF"; a PDF of a completed audit for the case record).

WeasyPrint lays out HTML and CSS and draws inline SVG itself, so a PDF holds
exactly the tables and the server-rendered charts (``core.charts``) the page
shows. It needs the system's Pango (Debian: libpango-1.0-0, libpangoft2-1.0-0;
``.ci/run`` installs them if missing).

The documents are tagged PDF/UA-1 (a structure tree, a title and a language)
so that a screen reader can read them. Nothing is fetched while rendering: the
HTML is self-contained, and any URL in it is refused.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

# Print styles for the PDF templates (web/templates/reports/pdf_base.html):
# GOV.UK class names, so the partials the pages use (audits/_report.html, the
# report tables) print as they are, without GOV.UK Frontend's screen CSS.
PRINT_CSS = """
@page {
  size: A4;
  margin: 18mm 15mm 20mm 15mm;
  @bottom-left { content: string(doc-title); font-size: 8pt; color: #505a5f; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 8pt; color: #505a5f; }
}
html { font-family: "Liberation Sans", Arial, "DejaVu Sans", sans-serif; font-size: 10pt; color: #0b0c0c; line-height: 1.35; }
body { margin: 0; }
h1 { font-size: 18pt; margin: 0 0 4mm; string-set: doc-title content(); }
h2 { font-size: 13pt; margin: 7mm 0 2mm; break-after: avoid; }
h3 { font-size: 11pt; margin: 5mm 0 2mm; break-after: avoid; }
p { margin: 0 0 3mm; }
a { color: #0b0c0c; text-decoration: none; }
.govuk-caption-l { display: block; color: #505a5f; font-size: 11pt; margin-bottom: 1mm; }
.govuk-visually-hidden, .app-pdf-hide { display: none; }
.govuk-body-s, .app-pdf-meta { font-size: 8.5pt; color: #505a5f; }
table { width: 100%; border-collapse: collapse; margin: 0 0 5mm; font-size: 8.5pt; }
caption { text-align: left; font-weight: bold; font-size: 10pt; padding-bottom: 1.5mm; }
caption.govuk-visually-hidden { display: none; }
th, td { text-align: left; vertical-align: top; padding: 1.2mm 2mm 1.2mm 0; border-bottom: 0.5pt solid #b1b4b6; }
thead th { border-bottom: 1pt solid #0b0c0c; }
th { font-weight: bold; }
.govuk-table__header--numeric, .govuk-table__cell--numeric { text-align: right; }
tr { break-inside: avoid; }
thead { display: table-header-group; }
dl.govuk-summary-list { display: table; width: 100%; margin: 0 0 5mm; border-collapse: collapse; }
.govuk-summary-list__row { display: table-row; break-inside: avoid; }
.govuk-summary-list__key, .govuk-summary-list__value {
  display: table-cell; padding: 1.2mm 2mm 1.2mm 0; border-bottom: 0.5pt solid #b1b4b6; vertical-align: top;
}
.govuk-summary-list__key { font-weight: bold; width: 38%; }
.qaf-prewrap { white-space: pre-wrap; }
.qaf-nowrap { white-space: nowrap; }
details, summary { display: block; }
summary { font-weight: bold; margin: 4mm 0 2mm; list-style: none; }
summary::marker { content: none; }
.app-chart { display: block; width: 100%; max-width: 165mm; margin: 1mm 0 4mm; }
.app-chart text { font-family: "Liberation Sans", Arial, "DejaVu Sans", sans-serif; }
.app-pdf-figure { break-inside: avoid; }
"""


# One thread renders every PDF, in turn (issue 19 item 6). Layout is Python
# under the GIL, so two at once would take as long as one after the other;
# a thread of its own keeps the event loop answering every other request
# while a PDF is laid out, and keeps Pango's font map on one thread.
_rendering = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="qaf-pdf")
_lock = threading.Lock()  # html_to_pdf called directly (subject access) shares the parsed styles
_prepared: tuple | None = None


def _prepare() -> tuple:
    """WeasyPrint's classes, the print CSS parsed once and one font
    configuration, made on first use and reused by every PDF."""
    global _prepared
    if _prepared is None:
        from weasyprint import CSS, HTML  # imported on first use: it loads Pango (≈2 s)
        from weasyprint.text.fonts import FontConfiguration
        from weasyprint.urls import URLFetcher

        class FetchNothing(URLFetcher):
            def fetch(self, url, headers=None):
                raise ValueError(f"a PDF fetches nothing: {url!r} refused")

        fonts = FontConfiguration()
        _prepared = (HTML, FetchNothing(), CSS(string=PRINT_CSS, font_config=fonts), fonts)
    return _prepared


def html_to_pdf(html: str) -> bytes:
    """A tagged (PDF/UA-1) A4 PDF of a self-contained HTML document."""
    with _lock:
        HTML, fetcher, css, fonts = _prepare()
        document = HTML(string=html, base_url=None, url_fetcher=fetcher)
        return document.write_pdf(stylesheets=[css], font_config=fonts, pdf_variant="pdf/ua-1")


async def render_pdf(html: str) -> bytes:
    """:func:`html_to_pdf` on the PDF thread, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_rendering, html_to_pdf, html)


_WARM_HTML = (
    '<!doctype html><html lang="en"><head><title>qaf</title></head><body><h1>qaf</h1><p>Ready.</p>'
    "<table><thead><tr><th>Domain</th><th>Grade</th></tr></thead><tbody><tr><td>One</td><td>Good</td></tr>"
    '</tbody></table><svg class="app-chart" viewBox="0 0 10 10"><text x="1" y="5">1</text></svg></body></html>'
)


def warm() -> None:
    """Load WeasyPrint, Pango and the fonts now, in the caller's thread (the
    warm-up's, at the lowest CPU priority), so the first PDF a person asks
    for does not pay for them (core/warmup.py). ``_lock`` hands what it made
    to the PDF thread."""
    html_to_pdf(_WARM_HTML)
