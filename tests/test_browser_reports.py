"""Reports in a real browser (CORE-15, HAR-16), against ``qaf demo`` + ``qaf serve``:
the head of QA opens the report from the navigation, changes the period with
the form, and downloads a table (CSV) and the whole report (PDF); then opens
the overview of all QA activity (BED-6) and the quarterly yes/no audits
summary (BED-7). The partnership's QA manager reads the report cut by lens and
restricts it to one lens with the form (CSCP-10). axe-core (WCAG 2.2 A/AA) runs
on every page, charts included.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from support.browser import A11yTracker
from support.live_server import serve, server_env, stop_live_server
from support.snapshots import snapshot_demo

HEAD_OF_QA = "haringey.head_of_qa"
PASSWORD = "qaf-demo-2026"  # every demo account's (`qaf demo` prints it)
PARTNERSHIP_QA = "partnership.qa_manager"


async def month_in_period(page) -> str:
    """The period control's month and year (a GOV.UK date input without the
    day), as the report's month key: 2026-11."""
    month = await page.get_by_label("Month", exact=True).input_value()
    year = await page.get_by_label("Year", exact=True).input_value()
    return f"{year}-{int(month):02d}"


async def type_month(page, key: str) -> None:
    await page.get_by_label("Month", exact=True).fill(str(int(key[5:])))
    await page.get_by_label("Year", exact=True).fill(key[:4])


@pytest.mark.req("CORE-15")
@pytest.mark.req("HAR-16")
@pytest.mark.req("BED-6")
@pytest.mark.req("BED-7")
async def test_the_head_of_qa_reads_and_downloads_the_report(live_server, page: Page, a11y: A11yTracker):
    try:
        await reports_journey(live_server, page, a11y)
    except BaseException:
        print(f"--- qaf serve output ---\n{live_server.log()[-8000:]}")  # shown with the failure
        raise


async def reports_journey(live_server, page: Page, a11y: A11yTracker) -> None:
    base = live_server.url
    await page.set_viewport_size({"width": 1280, "height": 900})

    await a11y.goto(f"{base}/login")
    await page.get_by_label("Username").fill(HEAD_OF_QA)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/")  # the home (issue 17)
    await a11y.check()

    # The monthly report, from the navigation.
    await page.get_by_role("navigation", name="Menu").get_by_role("link", name="Reports").click()
    await page.wait_for_url(re.compile(rf"^{re.escape(base)}/reports$"))
    heading = page.get_by_role("heading", level=1)
    await expect(heading).to_have_text(re.compile(r"^[A-Z][a-z]+ \d{4}: whole council$"))
    month_heading = await heading.inner_text()
    await expect(page.get_by_label("Period", exact=True)).to_have_value("month")
    # The charts are images with a name and a description, beside the same numbers in tables.
    # (Each chart is named by its title and its description, which says the numbers.)
    await expect(page.get_by_role("img", name=re.compile(r"^Final grades by domain"))).to_be_visible()
    await expect(page.get_by_role("img", name=re.compile(r"^Audits over the last periods Allocated: "))).to_be_visible()
    await expect(page.get_by_role("table", name="Completion and timeliness")).to_be_visible()
    await a11y.check()
    await fits_phone_and_desktop(page, a11y, charts=2)  # the demo has no re-audits yet: no movement chart

    # The quarter holding that month, through the form.
    month_key = await month_in_period(page)
    await page.get_by_label("Period", exact=True).select_option("quarter")
    await page.get_by_role("button", name="Show report").click()
    await page.wait_for_url(re.compile(r"/reports\?.*period=quarter"))
    await expect(heading).to_have_text(re.compile(r"^[A-Z][a-z]+ to [A-Z][a-z]+ \d{4}: whole council$"))
    await expect(page.get_by_label("Period", exact=True)).to_have_value("quarter")
    quarter_start = await month_in_period(page)
    assert quarter_start <= month_key
    await a11y.check()

    # Issue 17: a month that cannot be comes back with the GOV.UK error
    # summary and the form as typed, not a dead end.
    await page.get_by_label("Period", exact=True).select_option("month")
    await page.get_by_label("Month", exact=True).fill("13")
    await page.get_by_role("button", name="Show report").click()
    await page.wait_for_url(re.compile(r"/reports\?.*date-month=13"))
    summary = page.locator(".govuk-error-summary:not(#qaf-request-error)")
    await expect(summary).to_contain_text("Month in the period must be a real month")
    await expect(page).to_have_title(re.compile(r"^Error: "))
    await expect(page.get_by_label("Month", exact=True)).to_have_value("13")
    await expect(page.get_by_label("Period", exact=True)).to_have_value("month")
    await a11y.check()
    await summary.get_by_role("link").click()
    await expect(page.get_by_label("Month", exact=True)).to_be_focused()

    # And back to the month, by typing it.
    await type_month(page, month_key)
    await page.get_by_role("button", name="Show report").click()
    await page.wait_for_url(re.compile(rf"/reports\?.*date-month={int(month_key[5:])}&date-year={month_key[:4]}"))
    await expect(heading).to_have_text(month_heading)
    await a11y.check()

    # A table as CSV: a download, served as text/csv.
    link = page.get_by_role("link", name="CSV of completion and timeliness")
    href = await link.get_attribute("href")
    assert href.startswith("/reports/export.csv?") and "table=completion" in href
    async with page.expect_download() as downloading:
        await link.click()
    download = await downloading.value
    assert download.suggested_filename.endswith("-completion.csv")
    response = await page.request.get(f"{base}{href}")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert (await response.body()).startswith(b"\xef\xbb\xbf")  # so Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO((await response.text()).removeprefix("\ufeff"))))
    assert rows[0] == ["Measure", "Number"]
    assert [r[0] for r in rows[1:]] == ["Allocated", "Completed", "Completed on time", "Overdue"]
    with open(await download.path(), encoding="utf-8", newline="") as saved:
        assert saved.read() == await response.text()

    # The whole report, charts included, as a PDF.
    pdf_link = page.get_by_role("link", name="download the whole report with its charts (PDF)")
    response = await page.request.get(f"{base}{await pdf_link.get_attribute('href')}")
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert (await response.body()).startswith(b"%PDF-")

    # BED-6: the overview of all QA activity by type, linked from the report.
    await page.get_by_role("link", name="Overview of all QA activity by type").click()
    await page.wait_for_url(re.compile(r"/reports/overview\?"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(month_heading)
    activity = page.get_by_role("table", name="QA activity by type")
    await expect(activity).to_be_visible()
    await expect(activity.get_by_role("row", name=re.compile(r"^All activity "))).to_be_visible()
    await fits_phone_and_desktop(page, a11y)
    pdf_href = await page.get_by_role("link", name="download the overview (PDF)").get_attribute("href")
    assert pdf_href.startswith("/reports/overview.pdf?")
    response = await page.request.get(f"{base}{pdf_href}")
    assert response.status == 200 and (await response.body()).startswith(b"%PDF-")

    # BED-7: the quarterly summary of yes/no audits (whatever the council's forms).
    await a11y.goto(f"{base}/reports/questions?period=quarter&date={month_key}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^[A-Z][a-z]+ to [A-Z][a-z]+ \d{4}: whole council$"))
    await expect(page.get_by_role("table", name="Audits required and done, by auditor role")).to_be_visible()
    await fits_phone_and_desktop(page, a11y)

    # The programme delivery report: its wide tables scroll in their own regions.
    await a11y.goto(f"{base}/programme/delivery")
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    await fits_phone_and_desktop(page, a11y)

    a11y.assert_all_checked()


# Every text in a chart, in px as drawn, and its font family (issue 17: >= 14 px, sans-serif).
CHART_TEXT = """() => [...document.querySelectorAll('svg.app-chart')].map(svg => {
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return [...svg.querySelectorAll('text')].map(t => {
    const style = getComputedStyle(t);
    return [parseFloat(style.fontSize) * scale, style.fontFamily];
  });
})"""


WIDEST = """() => [...document.body.querySelectorAll('*')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.qaf-table-scroll'))
  .slice(-5).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 40))"""


async def fits_phone_and_desktop(page: Page, a11y: A11yTracker, charts: int = 0) -> None:
    """Issue 17: at 1280 px and at 320 px the page never scrolls sideways (a wide
    table or chart scrolls in its own focusable region), axe passes, and every
    chart's text is sans-serif at 14 px or more as drawn. Leaves the page at 1280 px."""
    for width in (320, 1280):
        await page.set_viewport_size({"width": width, "height": 900})
        overflow = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if overflow[0] > overflow[1]:  # name the widest elements in the failure
            overflow += await page.evaluate(WIDEST)
        assert overflow[0] <= overflow[1], f"{page.url} scrolls sideways at {width} px: {overflow}"
        for region in await page.locator(".qaf-table-scroll").all():
            assert await region.get_attribute("tabindex") == "0" and await region.get_attribute("role") == "region"
            assert await region.get_attribute("aria-label")
        texts = await page.evaluate(CHART_TEXT)
        assert len(texts) == charts
        for chart in texts:
            assert chart and all(size >= 14 and family.endswith("sans-serif") for size, family in chart), chart
        await a11y.check()


# ------------------------------------------------------------------ CSCP-10
async def table_rows(page: Page, name: str) -> list[list[str]]:
    """A table's rows as the user reads them (header row first), by its caption."""
    table = page.get_by_role("table", name=name, exact=True)
    await expect(table).to_be_visible()
    return await table.evaluate(
        "t => [...t.rows].map(r => [...r.cells].map(c => c.innerText.trim()))"
    )


def figures(row) -> list[str]:
    """A service row (qa_overview) as the report's activity columns show it."""
    return [
        row.title, *(str(n) for n in (
            row.allocated, row.completed, row.on_time, row.overdue,
            row.actions_raised, row.actions_closed, row.actions_overdue,
            row.follow_ups, row.follow_ups_in_time, row.follow_ups_overdue,
        ))
    ]


@pytest_asyncio.fixture
async def partnership_server(tmp_path):
    """The partnership's demo (as `qaf demo` loads it) plus five agency returns
    due this month (tests/test_reports_lenses.py: professional and independent
    lenses), served by a real `qaf serve`; with what the services compute for
    that month, whole council, and for the professional lens alone."""
    from conftest import make_settings
    from core.db.engine import bind, engine_for
    from core.db.migrate import migrate
    from core.plugins import load_plugins
    from core.services import qa_overview, reports
    from helpers import acting
    from test_reports_lenses import partnership_quarter

    data_dir = tmp_path / "live"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'qaf.sqlite3'}"  # the file `qaf serve` opens in QAF_DATA_DIR
    registry = load_plugins(make_settings(data_dir, url, councils=("partnership",))).registry
    bind(engine_for(url))
    await migrate()
    await snapshot_demo(registry, "partnership")
    month = await partnership_quarter(registry)
    qa = await acting(registry, PARTNERSHIP_QA)
    whole = await qa_overview.overview(qa, month, reports.Scope("org"))
    professional = await qa_overview.overview(qa, month, reports.Scope("org"), qa_overview.parse_lens(qa, "professional"))

    server = serve(data_dir, server_env(data_dir, QAF_COUNCILS="partnership"))
    try:
        yield server, month, whole, professional
    finally:
        stop_live_server(server)


@pytest.mark.req("CSCP-10")
@pytest.mark.req("CORE-15")
async def test_the_partnership_cuts_its_report_by_lens(partnership_server, page: Page, a11y: A11yTracker):
    server, month, whole, professional = partnership_server
    try:
        await lens_journey(server.url, page, a11y, month, whole, professional)
    except BaseException:
        print(f"--- qaf serve output ---\n{server.log()[-8000:]}")  # shown with the failure
        raise


async def lens_journey(base: str, page: Page, a11y: A11yTracker, month, whole, professional) -> None:
    await page.set_viewport_size({"width": 1280, "height": 900})

    await a11y.goto(f"{base}/login")
    await page.get_by_label("Username").fill(PARTNERSHIP_QA)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/login" not in url)
    await a11y.check()
    # Issue 17: the widest menu (an administrator on a monitoring body, with
    # unread notifications: nine items) on one row at 1280 px.
    menu = await page.evaluate(
        "[...document.querySelectorAll('.govuk-service-navigation__item')].map(li => [li.innerText, li.getBoundingClientRect().top])"
    )
    assert [name.split()[0] for name, _ in menu][-2:] == ["Action", "Notifications"]
    assert len({top for _, top in menu}) == 1, menu

    # The monthly report, from the navigation; the month the returns are due in.
    await page.get_by_role("navigation", name="Menu").get_by_role("link", name="Reports").click()
    await page.wait_for_url(re.compile(rf"^{re.escape(base)}/reports$"))
    await a11y.check()
    heading = page.get_by_role("heading", level=1)
    if await month_in_period(page) != month.key:  # the last day of a month
        await type_month(page, month.key)
        await page.get_by_role("button", name="Show report").click()
        await page.wait_for_url(re.compile(r"/reports\?.*date-month="))
    await expect(heading).to_have_text(f"{month.label}: whole council")
    await expect(page.get_by_label("Lens", exact=True)).to_have_value("")
    await expect(page.get_by_role("heading", level=2, name="By lens")).to_be_visible()

    # CSCP-10: every lens, with what the service counts for the month.
    by_lens = await table_rows(page, "By lens")
    assert by_lens[0][:5] == ["Lens", "Allocated", "Completed", "Completed on time", "Overdue"]
    assert [r[0] for r in by_lens[1:]] == ["Independent Lens", "Provider Lens", "Professional Lens", "Citizen Lens"]
    assert by_lens[1:] == [figures(r) for r in whole.by_lens]
    lens_row = {r[0]: r for r in by_lens[1:]}
    # The five returns made above (the demo allocates none of these forms):
    # three multi-agency audits, two graded; two scorecards, both received.
    assert lens_row["Professional Lens"][1:5] == ["3", "2", "2", "0"]
    assert lens_row["Independent Lens"][1:5] == ["2", "2", "2", "0"]
    # The professional lens's two graded audits, on the partnership's three-level scale.
    scale_label, levels = whole.scales["partnership:three_level"]
    grades = await table_rows(page, f"Overall grades of completed audits by lens: {scale_label}")
    assert grades[0] == ["Lens", *(label for _, label in levels), "Total"]
    counts = next(r for r in whole.by_lens if r.key == "professional").grades["partnership:three_level"]
    assert grades[1:] == [["Professional Lens", *(str(counts.get(k, 0)) for k, _ in levels), str(sum(counts.values()))]]
    assert grades[1] == ["Professional Lens", "0", "1", "1", "2"]
    await a11y.check()

    # Cut by one lens with the form, as a user would.
    await page.get_by_label("Lens", exact=True).select_option(label="Professional Lens")
    await page.get_by_role("button", name="Show report").click()
    await page.wait_for_url(re.compile(r"/reports\?.*lens=professional"))
    await expect(heading).to_have_text(f"{month.label}: whole council, Professional Lens")
    await expect(page.get_by_label("Lens", exact=True)).to_have_value("professional")
    await expect(page.get_by_text("Restricted to the Professional Lens")).to_be_visible()
    activity = await table_rows(page, "QA activity by type")
    expected_activity = [figures(r) for r in professional.activities] + [figures(professional.total)]
    assert activity[1:] == expected_activity
    assert activity[-1] == ["All activity", "3", "2", "2", "0", "0", "0", "0", "0", "0", "0"]
    assert "Performance Scorecard return" not in [r[0] for r in activity]  # the independent lens's
    assert await table_rows(page, "By lens") == [by_lens[0], lens_row["Professional Lens"]]
    await a11y.check()

    # The lens's tables as CSV: the same figures the page shows.
    for caption, rows in (("by lens", [lens_row["Professional Lens"]]), ("qa activity by type", expected_activity)):
        link = page.get_by_role("link", name=f"CSV of {caption}")
        href = await link.get_attribute("href")
        assert href.startswith("/reports/export.csv?") and "lens=professional" in href
        response = await page.request.get(f"{base}{href}")
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(await response.text())))[1:] == rows
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="CSV of by lens").click()
    download = await downloading.value
    assert download.suggested_filename == f"qaf-report-month-{month.key}-org-professional-lenses.csv"
    with open(await download.path(), encoding="utf-8", newline="") as saved:
        assert list(csv.reader(saved))[1:] == [lens_row["Professional Lens"]]

    a11y.assert_all_checked()
