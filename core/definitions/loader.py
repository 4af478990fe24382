"""Read a plugin's YAML data files into strictly decoded definitions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import msgspec
import yaml

from core.definitions.errors import DefinitionError
from core.definitions.model import KINDS, Council, Definition, DefinitionFile

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]*)`")
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


@dataclass(frozen=True, slots=True)
class Loaded:
    """One decoded definition and where it came from."""

    kind: str  # "council", "roles", "scales", "forms", "workflows"
    value: Definition
    plugin: str
    file: str


def display_path(path: Path) -> str:
    """A path relative to the working directory when it is beneath it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _split(error: msgspec.ValidationError) -> tuple[str, str]:
    match = _AT_PATH.match(str(error))
    assert match is not None
    path = (match.group("path") or "").lstrip(".")
    message = match.group("message")
    unknown = _UNKNOWN_FIELD.match(message)
    if unknown:
        # msgspec names the unknown key in the message, not the path.
        path = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
    return message, path


def expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.yaml") if p.is_file()))
        else:
            files.append(path)
    return files


def load_file(plugin: str, path: Path) -> list[Loaded]:
    shown = display_path(path)

    def fail(definition: str, field: str, message: str) -> DefinitionError:
        return DefinitionError(plugin=plugin, file=shown, definition=definition, field=field, message=message)

    try:
        # libyaml's parser where PyYAML has it: a third of start-up was the
        # pure-Python parser reading the councils' definitions (issue 19 item 6).
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except FileNotFoundError:
        raise fail("(file)", "(file)", "the file does not exist") from None
    except yaml.YAMLError as exc:
        raise fail("(file)", "(file)", f"not valid YAML: {exc}") from None
    if raw is None:
        return []
    try:
        sections = msgspec.convert(raw, DefinitionFile)
    except msgspec.ValidationError as exc:
        message, field = _split(exc)
        raise fail("(file)", field or "(file)", message) from None

    loaded: list[Loaded] = []
    if sections.council is not None:
        loaded.append(Loaded("council", _decode(fail, "council", sections.council, Council), plugin, shown))
    for kind, struct in KINDS.items():
        for index, entry in enumerate(getattr(sections, kind)):
            key = entry.get("key") if isinstance(entry, dict) else None
            name = f"{kind}.{key}" if isinstance(key, str) else f"{kind}[{index}]"
            loaded.append(Loaded(kind, _decode(fail, name, entry, struct), plugin, shown))
    return loaded


def _decode(fail, name: str, entry: object, struct: type[Definition]) -> Definition:
    try:
        return msgspec.convert(entry, struct)
    except msgspec.ValidationError as exc:
        message, field = _split(exc)
        raise fail(name, field or "(definition)", message) from None
