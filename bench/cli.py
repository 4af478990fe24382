"""``qaf-bench``: the scale benchmark's command (docs/performance.md).

A development tool, installed by ``uv sync`` as the workspace member
``qaf-bench``; the product's ``qaf`` command has no benchmark in it.

    uv run qaf-bench generate --scale 0.1 --seed 1
    uv run qaf-bench run --seconds 5 --clients 50 --json bench.json
    uv run qaf-bench run --workers 2 ...            # PostgreSQL: two server processes
    uv run qaf-bench compare before.json after.json
    uv run qaf-bench pages --calls 60 --plans      # each staff page in-process
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_generate(args) -> int:
    """Fill an empty database with a large council's ten years of QA."""
    import datetime as _dt

    from bench.generate import print_counts, run_cli

    as_of = _dt.datetime.fromisoformat(args.as_of).astimezone(_dt.timezone.utc) if args.as_of else None
    print_counts(run_cli(args.scale, args.seed, as_of, quiet=args.quiet))
    return 0


def cmd_run(args) -> int:
    """Drive the real server with concurrent clients and time reports, allocation and the sweep."""
    from bench.run import run_cli

    return run_cli(args)


def cmd_compare(args) -> int:
    """Print the change between two ``qaf-bench run --json`` results."""
    from bench.compare import run_cli

    return run_cli(args)


def cmd_pages(args) -> int:
    """Time each staff page in-process through the app: whole, SQL, render; with --plans its query plans."""
    from bench.pages import run_cli

    return run_cli(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qaf-bench", description="qaf's scale data and benchmarks (not for a live database)."
    )
    sub = p.add_subparsers(dest="command", required=True)
    generate = sub.add_parser("generate", help="fill an empty database with --scale N of a large council's ten years")
    generate.add_argument("--scale", type=float, default=1.0, help="1 = 5,000 staff, 200,000 cases, 100,000 audits")
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--as-of", default=None, help="ISO instant the data ends at (default today 06:00 UTC)")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.set_defaults(func=cmd_generate)
    run = sub.add_parser("run", help="benchmark the server, reports, allocation and sweep; print one table")
    run.add_argument("--scale", type=float, default=None, help="generate this scale first if the database is empty")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--seconds", type=float, default=10.0, help="load time per page")
    run.add_argument("--clients", type=int, default=50)
    run.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    run.add_argument("--workers", type=int, default=1, help="server processes, as qaf serve --workers N "
                     "(PostgreSQL only; SQLite serves from one process)")
    run.add_argument("--pages", default="", help="drive only the pages whose names contain one of these comma-separated "
                     "words (the framework floor and health check always); default every page")
    run.set_defaults(func=cmd_run)
    pages = sub.add_parser("pages", help="each staff page in-process: median ms, statements, SQL and render time")
    pages.add_argument("--calls", type=int, default=60, help="requests per page (cycling through its users)")
    pages.add_argument("--users", type=int, default=10, help="users per page")
    pages.add_argument("--only", action="append", default=None, help="pages whose name contains this (repeatable)")
    pages.add_argument("--plans", action="store_true", help="print each page's statements with their query plans")
    pages.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    pages.set_defaults(func=cmd_pages)
    compare = sub.add_parser("compare", help="the change between two run --json results")
    compare.add_argument("a", type=Path, help="the earlier results (JSON)")
    compare.add_argument("b", type=Path, help="the later results (JSON)")
    compare.add_argument("--noise", type=float, default=10.0, help="percent change below which nothing is marked")
    compare.set_defaults(func=cmd_compare)
    return p


def main(argv: list[str] | None = None) -> int:
    from core.definitions.errors import DefinitionError
    from core.plugins import PluginError
    from core.settings import SettingsError

    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (DefinitionError, PluginError, SettingsError) as error:
        print(f"qaf-bench: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
