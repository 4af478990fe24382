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


def html_to_pdf(html: str) -> bytes:
    """A tagged (PDF/UA-1) A4 PDF of a self-contained HTML document."""
    from weasyprint import CSS, HTML  # imported on first use: it loads Pango
    from weasyprint.urls import URLFetcher

    class FetchNothing(URLFetcher):
        def fetch(self, url, headers=None):
            raise ValueError(f"a PDF fetches nothing: {url!r} refused")

    document = HTML(string=html, base_url=None, url_fetcher=FetchNothing())
    return document.write_pdf(stylesheets=[CSS(string=PRINT_CSS)], pdf_variant="pdf/ua-1")


async def render_pdf(html: str) -> bytes:
    """:func:`html_to_pdf` off the event loop (layout takes tens of milliseconds)."""
    return await asyncio.to_thread(html_to_pdf, html)
