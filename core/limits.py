"""How much free text a person may type into each field: enough for what
the field is for, and a cap on what one request can make everyone store,
copy into notifications and the trail, and email (issue 16: fields took
1 MiB each). Pages show the cap with the GOV.UK character count."""

from __future__ import annotations

# A SMART action says what is to be done in a sentence or two.
ACTION_WHAT = 500
# A progress update, a concern for a child's safety: a few paragraphs.
ACTION_UPDATE = 5000
CONCERN = 5000


def too_long(text: str, limit: int, field: str) -> str | None:
    """The GOV.UK message when ``text`` is over ``limit`` characters."""
    if len(text) > limit:
        return f"{field} must be {limit} characters or less"
    return None


# Actions one person may set in an hour: a team manager setting a dozen after
# a themed audit day is well within it; a script emailing the whole council
# is not (issue 16: notification and email flooding).
ACTIONS_PER_HOUR = 30
