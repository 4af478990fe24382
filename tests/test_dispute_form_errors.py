"""The dispute forms' GOV.UK error summaries link to each domain's own field
(HAR-11): every ``href="#id"`` in the summary is the id of the control that
needs fixing, so a keyboard or screen-reader user lands on it."""

from __future__ import annotations

import re

import pytest

from core.db.tables import Person
from core.services import audits
from core.services.context import Context
from helpers import allocation_of, csrf_from, finalise, sign_in


def _summary_links(page: str) -> list[tuple[str, str]]:
    summary = page.split("govuk-error-summary__list", 1)[1].split("</ul>", 1)[0]
    return [(href, re.sub(r"\s+", " ", text).strip()) for href, text in re.findall(r'<a href="#([^"]+)">(.*?)</a>', summary, re.S)]


def _control_ids(page: str) -> dict[str, str]:
    """id -> tag of every form control on the page."""
    return {m.group(2): m.group(1) for m in re.finditer(r'<(input|select|textarea)\b[^>]*\bid="([^"]+)"', page)}


@pytest.mark.req("HAR-11")
@pytest.mark.req("HAR-9")
async def test_each_domains_errors_link_to_that_domains_fields(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    row = await audits.load_row(allocation["id"])
    people = await audits.relations_of(Context(registry=registry), row)
    practitioner = await Person.select().where(Person.id == people["practitioner"]).first()
    manager = await Person.select().where(Person.id == people["team_manager"]).first()

    await sign_in(client, practitioner["username"])
    form = await client.get(f"/disputes/new/{allocation['id']}")
    domains = re.findall(r'name="proposed\.([a-z0-9_]+)"', form.text)
    assert "overall" in domains and len(domains) >= 3
    first, second = domains[0], domains[1]
    refused = await client.post(f"/disputes/new/{allocation['id']}", data={
        "_csrf_token": csrf_from(form.text), f"proposed.{first}": "good", f"proposed.{second}": "outstanding"})
    assert refused.status_code == 422
    links = _summary_links(refused.text)
    assert [href for href, _ in links] == ["criteria", f"domains-{first}-rationale", f"domains-{second}-rationale"]
    assert links[0][1] == "Choose the grading criteria your dispute is based on"
    controls = _control_ids(refused.text)
    assert controls["criteria"] == "input"  # the first radio of the criteria
    for domain in (first, second):
        assert controls[f"domains-{domain}-rationale"] == "textarea"
        # The textarea is that domain's own field, not another's.
        assert re.search(rf'<textarea[^>]*id="domains-{domain}-rationale"[^>]*name="rationale\.{domain}"', refused.text) or re.search(
            rf'<textarea[^>]*name="rationale\.{domain}"[^>]*id="domains-{domain}-rationale"', refused.text)

    # A grade that is not on the scale: the proposed grade's link lands on its select.
    refused = await client.post(f"/disputes/new/{allocation['id']}", data={
        "_csrf_token": csrf_from(form.text), "criteria": "fostering", "proposed.overall": "requires_improvement",
        "rationale.overall": "x"})
    assert [href for href, _ in _summary_links(refused.text)] == ["domains-overall-proposed"]
    assert _control_ids(refused.text)["domains-overall-proposed"] == "select"

    raised = await client.post(f"/disputes/new/{allocation['id']}", data={
        "_csrf_token": csrf_from(form.text), "criteria": "fostering", "proposed.overall": "good", "rationale.overall": "Meets good."})
    dispute_url = str(raised.url.path)

    # The resolving step's amended grade: linked to its own select too.
    await sign_in(client, manager["username"])
    page = await client.get(dispute_url)
    await client.post(f"{dispute_url}/step", data={"_csrf_token": csrf_from(page.text), "transition": "meeting_held"})
    page = await client.get(dispute_url)
    refused = await client.post(f"{dispute_url}/step", data={
        "_csrf_token": csrf_from(page.text), "transition": "resolve_informally", "outcome": "amended", "amend.overall": "brilliant"})
    assert refused.status_code == 422
    hrefs = [href for href, _ in _summary_links(refused.text)]
    assert hrefs == ["amend-overall", "reason"]
    controls = _control_ids(refused.text)
    assert (controls["amend-overall"], controls["reason"]) == ("select", "textarea")
