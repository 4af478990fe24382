"""What a password chosen for a local account must be (issue 15 item 2, PLAT-10).

Following the NCSC's password guidance and OWASP ASVS 4.0 (2.1.1: at least 12
characters; 2.1.2: at least 64 allowed; 2.1.7: checked against a list of
breached passwords; 2.1.9: no rules about character classes), a password:

- has at least ``MIN_LENGTH`` characters and at most ``MAX_LENGTH``;
- is not one of the 20,000 most common passwords (``core/data/README.md``),
  nor one of them with digits or symbols added before or after it, nor one of
  them (or a single character) repeated;
- does not contain the person's username, any part of their name of four
  letters or more, or the name of the service ("qaf") or their council.

Nothing else (no "one capital, one digit"): length and not being guessable
are what matter. Spaces are allowed, so a passphrase works.
"""

from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path

MIN_LENGTH = 12
MAX_LENGTH = 128
_LIST = Path(__file__).parent / "data" / "common-passwords.txt.gz"
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(_LIST, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip())


def _repeated(text: str) -> bool:
    """True for a short piece said again and again ("abcabcabcabc")."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return True
    return False


def _is_common(password: str) -> bool:
    common = common_passwords()
    lowered = password.lower()
    if lowered in common:
        return True
    core = _EDGES.sub("", lowered)
    if core and core in common:
        return True  # "Sunshine2026!!", "123password!"
    for size in range(1, len(lowered) // 2 + 1):
        if len(lowered) % size == 0 and lowered[:size] * (len(lowered) // size) == lowered:
            piece = lowered[:size]
            if size <= 3 or piece in common or _EDGES.sub("", piece) in common:
                return True  # "aaaaaaaaaaaa", "passwordpassword"
    return False


def problem(password: str, *, username: str = "", name: str = "", council: str = "") -> str | None:
    """What is wrong with ``password``, in words for the form; None if nothing."""
    if not password:
        return "Enter a password"
    if len(password) < MIN_LENGTH:
        return f"Your password must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"Your password must be {MAX_LENGTH} characters or fewer"
    if _is_common(password) or _repeated(password):
        return "This password is too common and easy to guess. Choose another, for example three random words"
    lowered = re.sub(r"\s+", "", password.lower())
    words = {username.lower()} | {part for part in re.split(r"[^a-z]+", f"{name} {council} qaf".lower()) if len(part) >= 4}
    words.add("qaf")
    for word in sorted(w for w in words if w):
        if word in lowered and (word != "qaf" or len(lowered) - len(word) < MIN_LENGTH):
            return "Your password must not contain your name, your username or the name of this service"
    return None
