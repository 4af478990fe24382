"""The one error a bad definition raises, naming where it is (CORE-2)."""

from __future__ import annotations


class DefinitionError(Exception):
    """A plugin's definition is malformed or refers to something that is not there."""

    def __init__(self, *, plugin: str, file: str, definition: str, field: str, message: str):
        self.plugin = plugin
        self.file = file
        self.definition = definition
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"Bad definition in plugin {self.plugin!r}, file {self.file}, "
            f"definition {self.definition!r}, field {self.field!r}: {self.message}"
        )
