"""The monthly draw as ``_issue_cycle`` runs it since December 2026 (issue 19
item 4): a case's category and worker are read only when the draw first looks
at its shuffled position (``NeedMore``), each auditor's own cases are given,
and the categories are those there may be. It picks exactly what the plain
rule picks, with the same eligible counts (CORE-9)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from core.services.cycles import NeedMore, SeededOrder, _Sampler
from tests.test_allocation_draw import _plain_draw


class _Unread:
    """A case detail the draw has not read yet: any use of it fails the test."""

    def __eq__(self, other):
        raise AssertionError("the draw used a case it had not read")

    __ne__ = __eq__
    __hash__ = None  # type: ignore[assignment]


def _lazy_draw(rules, cases, auditors, per_auditor, seed, extra_category=None):
    n = len(cases)
    order = SeededOrder(n, seed)
    unread = _Unread()
    categories: list = [unread] * n
    workers: list = [unread] * n
    auditor_ids = {a["id"] for a in auditors}
    own: dict[int, list[int]] = {}
    for i, case in enumerate(cases):
        if case["allocated_worker"] in auditor_ids:
            own.setdefault(case["allocated_worker"], []).append(i)
    names = {c["category"] for c in cases} | ({extra_category} if extra_category else set())
    sampler = _Sampler(rules, order, categories, [c["team"] for c in cases], workers, auditor_ids,
                       known=0, category_names=names, own=own)
    counts: dict[str, int] = {}
    out = []
    for auditor in auditors:
        for _ in range(per_auditor):
            eligible = sampler.eligible(auditor)
            if not eligible:
                break
            while True:
                try:
                    index = sampler.pick(auditor, counts if rules.category_mix else None)
                    break
                except NeedMore as need:
                    assert sampler.known < need.upto <= n
                    upto = min(n, max(need.upto, sampler.known + 5))
                    for position in range(sampler.known, upto):
                        i = order[position]
                        categories[i], workers[i] = cases[i]["category"], cases[i]["allocated_worker"]
                    sampler.known = upto
            counts[categories[index]] = counts.get(categories[index], 0) + 1
            sampler.take(index)
            out.append((auditor["id"], cases[index]["id"], eligible))
    return out, sampler.known


@pytest.mark.req("CORE-9")
@pytest.mark.parametrize("chunk", [1, 7])
def test_the_draw_that_reads_cases_as_it_goes_picks_what_the_plain_rule_picks(monkeypatch, chunk):
    monkeypatch.setattr(_Sampler, "CHUNK", chunk)
    read_less = 0
    for trial in range(50):
        r = random.Random(trial)
        kinds = ["cin", "cp", "lac", "care_leaver", "fostering"][: r.randint(1, 5)]
        cases = [
            {"id": 1000 + i, "category": "nrpf" if r.random() < 0.02 else r.choice(kinds), "team": r.choice([None, 1, 2, 3, 4, 5]),
             "allocated_worker": r.randint(1, 40)}
            for i in range(r.randint(0, 600))
        ]
        auditors = [{"id": i, "team": r.choice([None, 1, 2, 3])} for i in sorted(r.sample(range(1, 60), r.randint(1, 25)))]
        rules = SimpleNamespace(allow_own_team=r.random() < 0.3, category_mix=r.random() < 0.7)
        per_auditor, seed = r.randint(1, 30), r.randint(0, 10**6)
        # A category named but with no case left (all being audited) costs a longer scan, not another pick.
        extra = "disabled_children" if r.random() < 0.3 else None
        drawn, known = _lazy_draw(rules, cases, auditors, per_auditor, seed, extra)
        assert drawn == _plain_draw(rules, cases, auditors, per_auditor, seed), trial
        read_less += known < len(cases)
    if chunk < 100:
        # The point of it: with chunks small beside the cases, many draws read only part of them.
        assert read_less > 12, read_less
