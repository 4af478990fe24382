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


def qaf_state(state: State) -> QafState:
    return state["qaf"]
