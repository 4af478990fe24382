"""The ``qaf`` command: serve, migrate, upkeep, plugins, demo, cycle, sweep, send-mail, programme, token,
second-factor, invite, trail, backup, restore, retention, subject-access."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from pathlib import Path

from core.settings import get_settings


def _prepare():
    """Settings, plugins and a migrated database bound for this process."""
    from core.db.engine import bind, engine_for
    from core.plugins import load_plugins

    settings = get_settings()
    plugins = load_plugins(settings)
    bind(engine_for(settings.database_url))
    return settings, plugins


def _tell(words: str) -> None:
    """Progress of a long step, for the person running the command (stderr)."""
    print(words, file=sys.stderr, flush=True)


async def _migrate(rebuild_summaries: bool = False) -> str:
    """Apply pending migrations: as the bound database's role, or, with
    QAF_MIGRATE_DATABASE_URL, as the owner, then grant the app's role its
    rights (core/db/roles.py). Then what the migrations asked for (the report
    summaries rebuilt, printing its progress on stderr); with
    ``rebuild_summaries`` those are rebuilt whether asked for or not."""
    from core.db.migrate import migrate

    async def run() -> str:
        printed = await migrate(progress=_tell)
        if rebuild_summaries:
            from core.db import upkeep
            from core.db.engine import current

            await upkeep.request(current(), if_rows_in=None)
            printed += "\n" + await upkeep.run_requested(_tell)
        return printed

    settings = get_settings()
    if not settings.migrate_database_url:
        return await run()
    from core.db.engine import bind, current, engine_for
    from core.db.roles import grant_app_role
    from core.settings import SettingsError

    if not settings.migrate_database_url.startswith(("postgres://", "postgresql://")) or settings.is_sqlite:
        raise SettingsError("QAF_MIGRATE_DATABASE_URL is for PostgreSQL, with QAF_DATABASE_URL a PostgreSQL URL too")
    app = current()
    bind(engine_for(settings.migrate_database_url))
    try:
        printed = await run()
    finally:
        bind(app)
    role = await grant_app_role(settings.migrate_database_url, settings.database_url)
    if role:
        printed += f"\nThe app's role {role} may read and write the records, and only add to and read the trail."
    return printed


def cmd_migrate(args) -> int:
    settings = get_settings()
    from core.db.engine import bind, engine_for

    bind(engine_for(settings.database_url))
    print(asyncio.run(_migrate()).strip())
    return 0


def cmd_upkeep(args) -> int:
    """Finish what the migrations asked for (a rebuild cut short carries on
    where it stopped); --rebuild-summaries rebuilds the report summaries
    from the records now. Stop the app first: what it writes meanwhile
    would not be counted."""
    settings = get_settings()
    from core.db.engine import bind, engine_for

    bind(engine_for(settings.database_url))
    printed = asyncio.run(_migrate(rebuild_summaries=args.rebuild_summaries))
    done = [line for line in printed.splitlines() if line.startswith(("Report summaries", "The app's role"))]
    print("\n".join(done) if done else "Nothing to do: every migration has run and nothing is waiting.")
    return 0


SQLITE_ONE_WORKER = "several workers need PostgreSQL (QAF_DATABASE_URL); SQLite serves from one process"


def cmd_serve(args) -> int:
    import uvicorn

    from core.logs import configure

    settings, plugins = _prepare()
    if args.workers > 1 and settings.is_sqlite:
        print(f"qaf: {SQLITE_ONE_WORKER}", file=sys.stderr)
        return 1
    configure(settings.log_format, access=not args.quiet)
    asyncio.run(_migrate())
    print(f"qaf serving {', '.join(settings.councils)} at http://{args.host}:{args.port} ({_describe(settings)})", flush=True)
    # No Server header: what software answers is nobody's business (issue 16).
    common = dict(host=args.host, port=args.port, proxy_headers=True, access_log=False, log_config=None,
                  log_level="info", server_header=False)
    if args.workers <= 1:
        from web.app import create_app

        uvicorn.run(create_app(settings, plugins), **common)
        return 0
    serve_workers("web.asgi:worker_app", settings, args.workers, log_requests=not args.quiet, **common)
    return 0


def serve_workers(factory: str, settings, workers: int, log_requests: bool, **uvicorn_options) -> None:
    """Several processes (PLAT-14): uvicorn runs ``workers`` processes, each
    building its app from the same QAF_ settings with ``factory`` (an import
    string); their request figures are summed through files in the data
    directory. ``qaf-bench run --workers N`` serves through this too."""
    import shutil

    import uvicorn

    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(mode=0o700, parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.environ["QAF_ACCESS_LOG"] = "1" if log_requests else "0"
    uvicorn.run(factory, factory=True, workers=workers, **uvicorn_options)


def _describe(settings) -> str:
    if settings.is_sqlite:
        return f"SQLite at {settings.database_url.removeprefix('sqlite:///')}"
    return "PostgreSQL"


def cmd_plugins(args) -> int:
    from core.plugins import load_plugins

    settings = get_settings()
    plugins = load_plugins(settings)  # raises on any bad definition
    if args.check:
        print(f"ok: {len(plugins.info)} plugins, definitions valid")
        return 0
    supplied = plugins.registry.supplied_by()
    for info in plugins.info:
        kind = "built-in" if info.builtin else (f"council {info.council}" if info.council else "plugin")
        print(f"{info.name}  ({kind}, {info.module})")
        if info.distribution:
            print(f"    package {info.distribution}")
        for line in supplied.get(info.name, []):
            print(f"    {line}")
    return 0


def cmd_demo(args) -> int:
    from core.services.context import Context
    from core.services.demo import DEMO_PASSWORD, load_demo

    settings, plugins = _prepare()

    async def run():
        await _migrate()
        return [await load_demo(Context(registry=plugins.registry), council, examples=True) for council in settings.councils]

    for result in asyncio.run(run()):
        status = "created" if result.created else "already loaded"
        print(f"\nDemo organisation for {result.council}: {status}; {result.allocations} audits allocated this month.")
        print(f"Every demo account's password: {DEMO_PASSWORD}")
        width = max(len(login.username) for login in result.logins)
        for login in result.logins:
            print(f"  {login.username:<{width}}  {login.role_label} ({login.display_name})")
    return 0


def cmd_cycle(args) -> int:
    from core.db.tables import Organisation
    from core.services.context import Context
    from core.services.cycles import issue_cycle

    from core.calendar import today

    settings, plugins = _prepare()
    year, month = (int(part) for part in (args.month or f"{today():%Y-%m}").split("-"))

    async def run():
        await _migrate()
        orgs = await Organisation.select().where(Organisation.council == args.council)
        if not orgs:
            raise SystemExit(f"no organisation uses council {args.council!r}")
        return [await issue_cycle(Context(registry=plugins.registry), org["id"], year, month) for org in orgs]

    for result in asyncio.run(run()):
        print(f"cycle {result.cycle_id}: {'issued' if result.created else 'already issued'}, {result.allocations} allocations")
    return 0


def cmd_token(args) -> int:
    from core.db.tables import Person
    from core.services.accounts import create_token
    from core.services.context import Context
    from core.services.errors import Invalid

    settings, plugins = _prepare()

    async def run():
        person = await Person.select(Person.id).where(Person.username == args.username).first()
        if person is None:
            raise SystemExit(f"no such user {args.username!r}")
        try:
            return await create_token(Context(registry=plugins.registry), person["id"], args.label, args.days)
        except Invalid as refused:
            raise SystemExit(refused.message) from None

    print(asyncio.run(run()))
    return 0


def cmd_programme(args) -> int:
    """Print a council's programme for a year and write it as CSV.

    Reads the organisation's staff if a migrated database is already there;
    never creates or migrates one just to print a programme."""
    from core.plugins import load_plugins
    from core.programme import expand
    from core.services import programme as service

    settings = get_settings()
    if args.council not in settings.councils:
        print(
            f"qaf: council {args.council!r} is not enabled; enabled councils (QAF_COUNCILS): {', '.join(settings.councils)}",
            file=sys.stderr,
        )
        return 1
    registry = load_plugins(settings).registry

    people, why_not = asyncio.run(_staff_in_database(settings, args.council))
    source = "the organisation's staff"
    if not people:
        people = service.sample_staff(registry, args.council)
        source = f"a sample of one person per role ({why_not})"
    items = expand(registry, args.council, args.year, people)
    council = registry.council(args.council)
    # The CSV first: `qaf programme … | head` still writes it.
    target = args.csv or settings.data_dir / f"programme-{args.council}-{args.year}.csv"
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data directory is private
    # Staff names: private to the service user, as everything in the data directory.
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.write(service.to_csv(items, registry, args.council))
    print(f"{council.name}: programme for the year starting {args.year}-{council.year_start_month:02d}, for {source}")
    # Each schedule: who does it (role, post), whose records (subject) and the window it covers.
    print("Schedules:")
    for key, supplied in registry.schedules.items():
        if not key.startswith(f"{args.council}:"):
            continue
        schedule = supplied.value
        who = registry.role(registry.ref(args.council, schedule.role, "roles")).label
        parts = [f"role: {who}"]
        if schedule.post:
            parts.append(f"post: {schedule.post}")
        if schedule.subject:
            parts.append(f"subject: {registry.role(registry.ref(args.council, schedule.subject, 'roles')).label}")
        if schedule.about in ("person", "meeting"):
            # Issue 13: what its audits are on, and who or which meetings may be chosen.
            chosen = {"supervisee": "the supervisee", "line": "a line report", "team": "someone in the team"}
            parts.append(f"on: {chosen[schedule.person_from]}" if schedule.about == "person" else
                         "on: a meeting" + (f" ({', '.join(schedule.meeting_types)})" if schedule.meeting_types else ""))
        if schedule.frequency.look_back_ends_months_before:
            parts.append(f"window: the {schedule.frequency.look_back_months} months ending "
                         f"{schedule.frequency.look_back_ends_months_before} months before the month it is due")
        elif schedule.frequency.look_back_months:
            parts.append(f"window: the past {schedule.frequency.look_back_months} months")
        # PLAT-3: the cases it is done on.
        from core.services.case_attributes import criteria_words

        chosen = criteria_words(registry, key)
        if chosen:
            parts.append(f"cases: {'; '.join(chosen)}")
        for co in schedule.co_auditors:  # PLAT-4
            label = registry.role(registry.ref(args.council, co.role, "roles")).label
            parts.append(f"with: {co.post} ({label})" if co.post else f"with: {label}")
        if schedule.peer_pairs:
            parts.append("in peer pairs")
        print(f"  {schedule.activity} ({'; '.join(parts)})")
    # PLAT-4: a post nobody holds is reported, never silently dropped.
    unheld = service.unheld_posts(registry, args.council, people)
    if unheld:
        print("Not issued to anyone:")
        for post in unheld:
            print(f"  {post.message}")
    print("Programme:")
    for item in items:
        due = item.due.strftime("%a %d %b %Y") if item.due else "as required"
        extra = f" for {item.supervisee}" if item.supervisee else ""
        extra += f" with {', '.join(item.co_auditors)}" if item.co_auditors else ""
        extra += f" (peer: {item.peer})" if item.peer else ""
        flag = " (up to)" if item.optional else ""
        print(f"  {due:<16} {item.person:<40} {item.count} x {item.activity}{extra}{flag}")
    print(f"{len(items)} activities; CSV written to {target}")
    return 0


async def _staff_in_database(settings, council: str) -> tuple[list | None, str]:
    """The staff of ``council``'s organisation, only from a database that is
    already there and migrated; otherwise None and why (read-only: opening
    a SQLite file that does not exist would create it)."""
    from core.db.engine import bind, engine_for, sqlite_path
    from core.services import programme as service

    if settings.is_sqlite and not sqlite_path(settings.database_url).exists():
        return None, "no database yet"
    bind(engine_for(settings.database_url))
    if not await _schema_is_current():
        return None, "the database is not migrated: run qaf migrate"
    organisation = await service.organisation_for(council)
    if organisation is None:
        return None, "no organisation for this council yet"
    return await service.staff_of(organisation), "no active staff in the organisation yet"


async def _schema_is_current() -> bool:
    """Every committed migration has run on the bound database."""
    from core.db.migrate import pending

    return not await pending()


def cmd_send_mail(args) -> int:
    """Send the notification emails that are due (the server's sweep does this too)."""
    from core.db.engine import bind, engine_for
    from core.mail import send_due

    settings = get_settings()
    if not settings.smtp_host:
        print("qaf: QAF_SMTP_HOST is not set; no email sent", file=sys.stderr)
        return 1
    bind(engine_for(settings.database_url))
    report = asyncio.run(send_due(settings, batch=args.batch))
    print(f"{report.sent} sent, {report.retried} to retry, {report.failed} failed")
    return 0


def cmd_sweep(args) -> int:
    """Issue due cycles and act on passed deadlines once (safe to run anywhere, any time)."""
    from core.calendar import UTC
    from core.services.context import Context
    from core.services.sweep import sweep

    settings, plugins = _prepare()
    now = dt.datetime.fromisoformat(args.at).astimezone(UTC) if args.at else None

    async def run():
        await _migrate()
        ctx = Context(registry=plugins.registry) if now is None else Context(registry=plugins.registry, now=now)
        return await sweep(ctx)

    report = asyncio.run(run())
    print(f"cycles issued: {report.cycles_issued}; work issued: {report.work_issued}; deadlines passed: {report.deadlines_missed} {report.by_kind or ''}".rstrip())
    return 0


def cmd_second_factor_reset(args) -> int:
    """Forget someone's authenticator app and recovery codes (issue 15): they
    set up a new app at their next sign-in. For an administrator to run once
    they have made sure who is asking."""
    from core.db.tables import Person
    from core.services import second_factor
    from core.services.context import Context

    settings, plugins = _prepare()

    async def run():
        person = await Person.select(Person.id).where(Person.username == args.username).first()
        if person is None:
            raise SystemExit(f"no such user {args.username!r}")
        return await second_factor.reset(Context(registry=plugins.registry), person["id"])

    if asyncio.run(run()):
        print(f"{args.username} will set up a new authenticator app at their next sign-in.")
    else:
        print(f"{args.username} has no authenticator app set up: nothing to reset.")
    return 0


def cmd_invite(args) -> int:
    """Invite USERNAME (or, with --all, every member of staff not yet invited
    who has no password) to choose a password, as the administrator --by
    (issue 15 item 2): the same as the People page's buttons, trail and all.
    The emails go with the next `qaf send-mail` (or the server's sweep)."""
    from core.db.tables import Person
    from core.services import accounts, invitations
    from core.services.context import Context
    from core.services.errors import ServiceError

    settings, plugins = _prepare()
    if not settings.local_passwords:
        raise SystemExit("qaf: QAF_LOCAL_PASSWORDS is off: there are no qaf passwords to choose")
    if bool(args.username) == bool(args.all):
        raise SystemExit("qaf invite: name one USERNAME, or give --all")
    valid_for = dt.timedelta(days=settings.invitation_days)

    async def run() -> str:
        ctx = Context(registry=plugins.registry)
        by = await Person.select(Person.id).where(Person.username == args.by.strip().lower()).first()
        ctx.actor = await accounts.actor(ctx, by["id"]) if by else None
        if ctx.actor is None:
            raise SystemExit(f"qaf invite: no active user {args.by!r} to invite as")
        try:
            if args.all:
                done = await invitations.invite_all(ctx, valid_for=valid_for)
                return f"{done.invited} invited; {done.without_email} not invited: no email address."
            person = await Person.select(Person.id).where(Person.username == args.username.strip().lower()).first()
            if person is None:
                raise SystemExit(f"qaf invite: no such user {args.username!r}")
            invited = await invitations.invite(ctx, person["id"], valid_for=valid_for)
            return f"{invited['display_name']} invited at {invited['email']}; the link works for {settings.invitation_days} days."
        except ServiceError as refused:
            errors = getattr(refused, "errors", {}) or {}
            raise SystemExit("qaf invite: " + "; ".join([refused.message, *errors.values()]))

    print(asyncio.run(run()))
    return 0


def cmd_trail_verify(args) -> int:
    """Walk every organisation's trail chain; exit 1 at the first broken link (PLAT-12)."""
    from core.db.engine import bind, engine_for
    from core.services.trail import verify

    settings = get_settings()
    bind(engine_for(settings.database_url))
    result = asyncio.run(verify())
    if result.broken:
        broken = result.broken
        print(f"The trail of {broken.organisation} is broken: {broken.message}.", file=sys.stderr)
        print(f"{result.entries:,} entries before it are intact.", file=sys.stderr)
        return 1
    chains = "organisation" if result.organisations == 1 else "organisations"
    print(f"The trail of {result.entries:,} entries is intact ({result.organisations} {chains}).")
    return 0


def cmd_retention(args) -> int:
    """List (--dry-run) or anonymise (--apply) what is past its retention period (PLAT-13)."""
    from core.services import retention
    from core.services.context import Context

    settings, plugins = _prepare()

    async def run():
        await _migrate()
        ctx = Context(registry=plugins.registry)
        if args.apply:
            return await retention.apply(ctx, settings.retain_years)
        return await retention.due(ctx, settings.retain_years)

    organisations = asyncio.run(run())
    if not organisations:
        print("No organisation yet: nothing is held.")
        return 0
    for org in organisations:
        if args.apply:
            heading = f"{org.name}: anonymised {org.total:,} records" if org.total else f"{org.name}: nothing was due"
        else:
            heading = f"{org.name}: {org.total:,} records are due to be anonymised" if org.total else f"{org.name}: nothing is due"
        print(heading)
        for kind in org.kinds:
            if kind.kind == "cases" and not kind.count:
                continue
            print(f"  {kind.sentence()}")
        if args.apply and org.trail_words:
            print(f"  and the words of the {org.trail_words:,} trail entries about them (the entries stay, their chain intact)")
    total = sum(org.total for org in organisations)
    if args.apply:
        if total:
            print(f"The trail records each of the {total:,} (\"anonymised\"); counts, grades and dates are kept, so reports add up as before.")
    elif total:
        print("Nothing was changed. Run qaf retention --apply to anonymise them: their free text and the case's reference are removed, their counts kept.")
    return 0


def cmd_subject_access(args) -> int:
    """Write everything held about a case as a ZIP of PDF and JSON (PLAT-13)."""
    from core.services import subject_access
    from core.services.context import Context

    settings, plugins = _prepare()

    async def run():
        await _migrate()
        return await subject_access.gather(Context(registry=plugins.registry), args.case_id, args.council)

    held = asyncio.run(run())
    target = args.out or Path(f"subject-access-{subject_access.safe_name(args.case_id)}.zip")
    data = subject_access.to_zip(held)
    # A child's records: private to whoever ran the command.
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(data)
    print(f"Case {held.case['reference']} of {held.organisation}: {held.summary()}.")
    print(f"Written to {target} ({len(data):,} bytes): case.pdf to read, case.json for systems, and the evidence files.")
    return 0


def cmd_backup(args) -> int:
    """Copy the whole database (records, trail, evidence files, sessions) to PATH (PLAT-14)."""
    from core.backup import BackupError, backup, describe

    settings = get_settings()
    try:
        outcome = backup(settings, args.path)
    except BackupError as error:
        print(f"qaf: backup failed: {error}", file=sys.stderr)
        return 1
    print(f"Backed up the database ({_describe(settings)}) to {outcome.path} ({describe(outcome)}).")
    return 0


def cmd_restore(args) -> int:
    """Put the database back as it was at PATH's backup (PLAT-14)."""
    from core.backup import BackupError, describe, restore

    settings = get_settings()
    try:
        outcome = restore(settings, args.path, replace=args.replace)
    except BackupError as error:
        print(f"qaf: restore failed: {error}", file=sys.stderr)
        return 1
    print(f"Restored the database ({_describe(settings)}) from {outcome.path} ({describe(outcome)}).")
    print("Run `qaf migrate` (or start the app) if the backup is from an earlier release.")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qaf", description="Run a children's-services Quality Assurance Framework.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate the database, then serve the web app and API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--quiet", action="store_true", help="no line per request in the log")
    serve.add_argument("--workers", type=int, default=1, help="app processes (PostgreSQL only); each runs the sweep")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(func=cmd_migrate)
    upkeep = sub.add_parser("upkeep", help="finish what the migrations asked for (stop the app first)")
    upkeep.add_argument("--rebuild-summaries", action="store_true",
                        help="rebuild the report summaries from the records now, in batches with progress")
    upkeep.set_defaults(func=cmd_upkeep)
    plugins = sub.add_parser("plugins", help="list loaded plugins and what each supplied")
    plugins.add_argument("--check", action="store_true", help="only validate; exit 1 with the error if any")
    plugins.set_defaults(func=cmd_plugins)
    sub.add_parser("demo", help="load a demo organisation for each enabled council").set_defaults(func=cmd_demo)
    cycle = sub.add_parser("cycle", help="issue a month's audit cycle now")
    cycle.add_argument("council")
    cycle.add_argument("month", help="YYYY-MM (default: this month in London)", default=None, nargs="?")
    cycle.set_defaults(func=cmd_cycle)
    programme = sub.add_parser("programme", help="print a council's dated programme for a year and write CSV")
    programme.add_argument("--council", required=True)
    programme.add_argument("--year", type=int, required=True, help="the year the council's QA year starts in")
    programme.add_argument("--csv", type=Path, default=None, help="where to write the CSV (default: in QAF_DATA_DIR)")
    programme.set_defaults(func=cmd_programme)
    sweep = sub.add_parser("sweep", help="issue due cycles and act on passed deadlines (the server does this every minute)")
    sweep.add_argument("--at", help="act as if it were this ISO instant (for testing and catching up)")
    sweep.set_defaults(func=cmd_sweep)
    token = sub.add_parser("token", help="create an API token for a user (it expires)")
    token.add_argument("username")
    token.add_argument("--label", default="")
    token.add_argument("--days", type=int, default=None, help="days until the token expires (1-365, default 30)")
    token.set_defaults(func=cmd_token)
    send_mail = sub.add_parser("send-mail", help="send the notification emails that are due")
    send_mail.add_argument("--batch", type=int, default=50, help="emails claimed at a time")
    send_mail.set_defaults(func=cmd_send_mail)
    backup = sub.add_parser("backup", help="copy the whole database to PATH; safe while the server runs")
    backup.add_argument("path", type=Path)
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="put the database back as it was at PATH's backup (stop the app first)")
    restore.add_argument("path", type=Path)
    restore.add_argument("--replace", action="store_true", help="overwrite a database that holds records")
    restore.set_defaults(func=cmd_restore)
    factor = sub.add_parser("second-factor", help="a person's authenticator app (TOTP)")
    factor_sub = factor.add_subparsers(dest="second_factor_command", required=True)
    factor_reset = factor_sub.add_parser("reset", help="forget USERNAME's app and recovery codes: they set up a new one at next sign-in")
    factor_reset.add_argument("username")
    factor_reset.set_defaults(func=cmd_second_factor_reset)
    invite = sub.add_parser("invite", help="email staff a one-time link to choose their password (as the People page)")
    invite.add_argument("username", nargs="?", help="the member of staff to invite")
    invite.add_argument("--all", action="store_true", help="everyone active not yet invited who has no password")
    invite.add_argument("--by", required=True, help="the administrator (username) the invitation comes from")
    invite.set_defaults(func=cmd_invite)
    trail = sub.add_parser("trail", help="the append-only trail of every change")
    trail_sub = trail.add_subparsers(dest="trail_command", required=True)
    trail_sub.add_parser(
        "verify", help="check every organisation's trail is as written: exit 1 naming the first broken link"
    ).set_defaults(func=cmd_trail_verify)
    retention = sub.add_parser("retention", help="list (--dry-run) or anonymise (--apply) records past their retention period")
    how = retention.add_mutually_exclusive_group(required=True)
    how.add_argument("--dry-run", action="store_true", help="list what is due, per organisation and kind; change nothing")
    how.add_argument("--apply", action="store_true", help="anonymise what is due and record it in the trail")
    retention.set_defaults(func=cmd_retention)
    subject = sub.add_parser("subject-access", help="write everything held about a case as a ZIP of PDF and JSON")
    subject.add_argument("case_id", help="the case's id as staff know it (its id in the case-record system)")
    subject.add_argument("--council", default=None, help="the council's key, where more than one holds a case of that id")
    subject.add_argument("--out", type=Path, default=None, help="where to write the ZIP (default: subject-access-CASE_ID.zip here)")
    subject.set_defaults(func=cmd_subject_access)
    return p


def main(argv: list[str] | None = None) -> int:
    from core.definitions.errors import DefinitionError
    from core.plugins import PluginError
    from core.settings import SettingsError

    from core.services.errors import ServiceError

    args = parser().parse_args(argv)
    try:
        code = args.func(args)
        # A closed pipe shows on this flush, inside the try, not at exit.
        sys.stdout.flush()
        return code
    except (DefinitionError, PluginError, SettingsError) as error:
        print(f"qaf: {error}", file=sys.stderr)
        return 1
    except ServiceError as refused:
        # What a service refuses (`qaf cycle coventry`: no monthly cycles), in its words.
        print(f"qaf: {refused.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        # `qaf programme … | head`: the reader has gone. Stop quietly, as
        # other tools do; output still buffered goes nowhere rather than
        # raising again when Python flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a tool killed by the signal reports


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (the broken pipe was
    ours to print to, not a socket of the command's)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True


if __name__ == "__main__":
    sys.exit(main())
