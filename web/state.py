"""What the running app holds: settings, plugins and the definitions registry."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State

from core.plugins import Plugins
from core.settings import Settings


@dataclass(frozen=True, slots=True)
class QafState:
    settings: Settings
    plugins: Plugins

    @property
    def registry(self):
        return self.plugins.registry

    # Over https the cookies are ``__Host-`` cookies: sent only over https,
    # for the whole site, and never set by a sibling domain (issue 15).
    @property
    def session_cookie_name(self) -> str:
        return "__Host-session" if self.settings.https else "session"

    @property
    def csrf_cookie_name(self) -> str:
        return "__Host-csrftoken" if self.settings.https else "csrftoken"


def qaf_state(state: State) -> QafState:
    return state["qaf"]
