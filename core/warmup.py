"""What a server process loads after it has started, not before it answers
(issue 19 item 6: ``qaf serve`` answers ``/healthz`` within 2 s).

Some libraries cost a second or more the first time they are used: the
bank-holiday calendar (``holidays`` loads every country's calendar, ≈0.9 s of
CPU), WeasyPrint with Pango and its fonts (≈2 s, then the first PDF). (The
argon2 hash an unknown username is checked against is made on first use, in
the hashing threads.) Importing them at
start-up kept the server from answering for seconds; leaving them to first
use makes the first sign-in, deadline or PDF wait for them. So the app's
start-up starts one background thread that loads them in turn, once per
process, a few seconds after the server answers (``start``). Whatever needs one
of them before the thread got to it loads it itself (Python's import lock
and the caches make that safe), and the sweep waits for the calendar off
the event loop (``wait``).
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("qaf.warmup")

# After the app's start-up, before the warm-up thread starts: the first
# requests (often sign-ins, whose password hashes run at the lowest CPU
# priority, core/services/accounts.py) come first.
DELAY_SECONDS = 3.0

_lock = threading.Lock()
_thread: threading.Thread | None = None
_calendar_ready = threading.Event()


def _warm() -> None:
    # At normal priority: at the lowest (as the password hashes) it hardly
    # ran on a busy machine, and a PDF asked meanwhile waited for it (the
    # import lock and ``core.pdf``'s lock). The delay keeps it out of the
    # way of the first requests.
    try:
        from core.calendar import is_working_day, london_date, utcnow

        is_working_day(london_date(utcnow()))
    except Exception:  # a warm-up never stops the server; first use will say what is wrong
        log.exception("warming the bank-holiday calendar failed")
    finally:
        _calendar_ready.set()
    try:
        from core.pdf import warm

        warm()
    except Exception:
        log.exception("warming the PDF renderer failed")


def start() -> None:
    """Start the warm-up thread, once per process."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_warm, name="qaf-warmup", daemon=True)
            _thread.start()


def wait_for_calendar(timeout: float | None = None) -> bool:
    """Block (in a thread, not on the event loop) until the calendar is loaded."""
    return _calendar_ready.wait(timeout)
