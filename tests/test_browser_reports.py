"""Reports in a real browser (CORE-15, HAR-16), against ``qaf demo`` + ``qaf serve``:
the head of QA opens the report from the navigation, changes the period with
the form, and downloads a table (CSV) and the whole report (PDF); then opens
the overview of all QA activity (BED-6) and the quarterly yes/no audits
summary (BED-7). axe-core (WCAG 2.2 A/AA) runs on every page, charts included.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.async_api import Page, expect

from support.browser import A11yTracker

HEAD_OF_QA = "haringey.head_of_qa"
PASSWORD = "qaf-demo-2026"  # every demo account's (`qaf demo` prints it)


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
    await page.wait_for_url(f"{base}/audits")
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

    # The quarter holding that month, through the form.
    month_key = await page.get_by_label("Month in the period").input_value()
    await page.get_by_label("Period", exact=True).select_option("quarter")
    await page.get_by_role("button", name="Show report").click()
    await page.wait_for_url(re.compile(r"/reports\?.*period=quarter"))
    await expect(heading).to_have_text(re.compile(r"^[A-Z][a-z]+ to [A-Z][a-z]+ \d{4}: whole council$"))
    await expect(page.get_by_label("Period", exact=True)).to_have_value("quarter")
    quarter_start = await page.get_by_label("Month in the period").input_value()
    assert quarter_start <= month_key
    await a11y.check()

    # And back to the month, by typing it.
    await page.get_by_label("Period", exact=True).select_option("month")
    await page.get_by_label("Month in the period").fill(month_key)
    await page.get_by_role("button", name="Show report").click()
    await page.wait_for_url(re.compile(rf"/reports\?.*date={month_key}"))
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
    rows = list(csv.reader(io.StringIO(await response.text())))
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
    await a11y.check()
    pdf_href = await page.get_by_role("link", name="download the overview (PDF)").get_attribute("href")
    assert pdf_href.startswith("/reports/overview.pdf?")
    response = await page.request.get(f"{base}{pdf_href}")
    assert response.status == 200 and (await response.body()).startswith(b"%PDF-")

    # BED-7: the quarterly summary of yes/no audits (whatever the council's forms).
    await a11y.goto(f"{base}/reports/questions?period=quarter&date={month_key}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^[A-Z][a-z]+ to [A-Z][a-z]+ \d{4}: whole council$"))
    await expect(page.get_by_role("table", name="Audits required and done, by auditor role")).to_be_visible()
    await a11y.check()

    a11y.assert_all_checked()
