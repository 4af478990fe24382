"""``qaf-bench compare A.json B.json`` (or ``python -m bench.compare A B``):
the change between two ``qaf-bench run --json`` results, row by row.

Throughput: higher is better; times and ratios to the raw SQL: lower is
better. A change is marked ``better``/``worse`` beyond ``--noise`` percent
(default 10: runs on a shared 2-core machine vary that much).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _rows(results: dict) -> dict[str, tuple[float | None, bool]]:
    """measure -> (value, higher is better)."""
    out: dict[str, tuple[float | None, bool]] = {}
    for p in results.get("pages", []):
        out[f"{p['name']}: req/s"] = (p["rps"], True)
        out[f"{p['name']}: p95 ms"] = (p["p95_ms"], False)
        if p.get("floor_ratio") is not None:
            out[f"{p['name']}: ratio to floor"] = (p["floor_ratio"], True)
        if p.get("server_cpu_ms_per_request") is not None:
            out[f"{p['name']}: server CPU ms per request"] = (p["server_cpu_ms_per_request"], False)
    for f in results.get("floors", []):
        out[f"floor {f['name']}: req/s"] = (f["rps"], True)
    for r in results.get("reports", []):
        out[f"{r['name']}: ms"] = (r.get("ms"), False)
        if r.get("raw_ms") is not None:
            out[f"{r['name']}: raw SQL ms"] = (r["raw_ms"], False)
        if r.get("ratio") is not None:
            out[f"{r['name']}: ratio to raw"] = (r["ratio"], False)
    if results.get("allocation"):
        # Since issue 19 the monthly issue is the draw and the programme's
        # work; earlier runs timed the draw alone.
        name = "monthly issue: s" if "work" in results["allocation"] else "monthly allocation (the draw alone): s"
        out[name] = (results["allocation"]["s"], False)
    if results.get("sweep"):
        out["deadline sweep: s"] = (results["sweep"]["s"], False)
    out["server peak RSS: MB"] = (results.get("server_peak_rss_mb"), False)
    return out


def compare(a: dict, b: dict, noise: float = 10.0) -> list[dict]:
    before, after = _rows(a), _rows(b)
    out = []
    for name in list(before) + [n for n in after if n not in before]:
        x, higher = before.get(name, (None, True))
        y, higher = after.get(name, (None, higher))
        change = None
        verdict = ""
        if x is not None and y is not None and x != 0:
            change = (y - x) / abs(x) * 100
            if abs(change) > noise:
                verdict = "better" if (change > 0) == higher else "worse"
        elif x is None and y is not None:
            verdict = "new"
        elif y is None and x is not None:
            verdict = "gone"
        out.append({"measure": name, "a": x, "b": y, "change_pct": change, "verdict": verdict})
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def print_comparison(a: dict, b: dict, rows: list[dict], out=sys.stdout) -> None:
    def workers(r: dict) -> str:
        n = r.get("workers", 1)
        return f"{n} worker{'' if n == 1 else 's'}"

    print(f"A: {a.get('when', '?')} {a.get('database', '?')} scale {a.get('scale')}, {workers(a)}   "
          f"B: {b.get('when', '?')} {b.get('database', '?')} scale {b.get('scale')}, {workers(b)}", file=out)
    line = f"{'measure':<70} {'A':>10} {'B':>10} {'change':>8}  verdict"
    print(line, file=out)
    print("-" * len(line), file=out)
    for r in rows:
        change = "" if r["change_pct"] is None else f"{r['change_pct']:+.0f}%"
        print(f"{r['measure']:<70} {_fmt(r['a']):>10} {_fmt(r['b']):>10} {change:>8}  {r['verdict']}", file=out)


def run_cli(args) -> int:
    try:
        a, b = (json.loads(Path(p).read_text()) for p in (args.a, args.b))
    except (OSError, ValueError) as error:
        print(f"qaf-bench compare: {error}", file=sys.stderr)
        return 2
    print_comparison(a, b, compare(a, b, args.noise))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--noise", type=float, default=10.0)
    return run_cli(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
