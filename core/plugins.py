"""Finding, loading and calling plugins.

Built-in plugins (``plugins/``) are registered as defaults. Everything
else comes from the ``qaf`` entry-point group, including the bundled
councils, exactly as a third-party package would (CORE-1). A caller may name
further groups: the test suite's example plugin registers in ``qaf.tests``,
which only the tests that use it name, so no deployment ever loads it. A council
module declares ``QAF_COUNCIL = "<key>"`` and is registered only when
``QAF_COUNCILS`` enables it; other plugins load unless ``QAF_PLUGINS_BLOCK``
names them. ``QAF_PLUGINS_TRACE=1`` logs every hook call.

A plugin's distribution declares the qaf versions it supports as its
requirement on ``qaf`` (``qaf>=0.1,<0.2``, PLAT-15); qaf refuses to load a
plugin installed outside that range, naming both versions, rather than run a
council's framework on a core it was not written for.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version
from pathlib import Path
from types import ModuleType

import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from core import hookspecs
from core.definitions.errors import DefinitionError
from core.definitions.loader import expand, load_file
from core.definitions.registry import Registry, build_registry
from core.grading import GradingScheme
from core.settings import Settings

log = logging.getLogger("qaf.plugins")

ENTRY_POINT_GROUP = "qaf"
BUILTIN_PLUGINS = ("qaf.scales", "qaf.grading", "qaf.escalation_rules")
_BUILTIN_MODULES = {
    "qaf.scales": "plugins.scales",
    "qaf.grading": "plugins.grading",
    "qaf.escalation_rules": "plugins.escalation_rules",
}


class PluginError(Exception):
    """A plugin could not be found or loaded."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    module: str
    council: str | None
    builtin: bool
    # The installed distribution it came from, e.g. "qaf-council-bedford 0.1.0" (built-ins: none).
    distribution: str | None = None


class Hooks:
    """Typed calls into the plugins; each answer says which plugin gave it."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm

    def _per_plugin(self, name: str) -> list[tuple[str, object]]:
        caller = getattr(self.pm.hook, name)
        results = []
        for impl in caller.get_hookimpls():
            others = [p for p in self.pm.get_plugins() if p is not impl.plugin]
            for answer in self.pm.subset_hook_caller(name, remove_plugins=others)():
                results.append((impl.plugin_name, answer))
        return results

    def definition_files(self) -> list[tuple[str, list[Path]]]:
        return [(plugin, [Path(p) for p in paths]) for plugin, paths in self._per_plugin("qaf_definition_files")]

    def escalations(self, registry: Registry, event) -> list:
        """Every plugin's escalations for ``event``."""
        return [e for answer in self.pm.hook.qaf_escalations(registry=registry, event=event) for e in answer]

    def grading_schemes(self) -> list[tuple[str, GradingScheme]]:
        return [(plugin, scheme) for plugin, schemes in self._per_plugin("qaf_grading_schemes") for scheme in schemes]


@dataclass
class Plugins:
    pm: pluggy.PluginManager
    hooks: Hooks
    info: list[PluginInfo]
    registry: Registry


def _council_of(module: ModuleType) -> str | None:
    return getattr(module, "QAF_COUNCIL", None)


def qaf_version() -> str | None:
    """The installed qaf's version, or None when run from a source tree that is not installed."""
    try:
        return version("qaf")
    except PackageNotFoundError:
        return None


def unsupported_qaf(entry: EntryPoint, running: str | None) -> str | None:
    """Why ``entry``'s package cannot run on qaf ``running``, or None if it can.

    The package declares the qaf versions it supports as its ``Requires-Dist``
    on ``qaf``; a package that names no qaf requirement is not checked.
    """
    dist = getattr(entry, "dist", None)
    if dist is None or running is None:
        return None
    for line in dist.requires or ():
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != "qaf":
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if not requirement.specifier.contains(running, prereleases=True):
            # Lower bound first, as people write a range: ">=0.2, <0.3".
            supported = ", ".join(
                str(s) for s in sorted(requirement.specifier, key=lambda s: (not s.operator.startswith(">"), s.version))
            )
            return (
                f"plugin {entry.name!r} comes from {dist.metadata['Name']} {dist.version}, which supports "
                f"qaf {supported}; this is qaf {running}. Install a release of "
                f"{dist.metadata['Name']} made for qaf {running}, or a qaf it supports"
            )
    return None


def build_plugin_manager(
    settings: Settings, groups: tuple[str, ...] = (ENTRY_POINT_GROUP,)
) -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    info: list[PluginInfo] = []
    blocked = set(settings.plugins_block)

    for name in BUILTIN_PLUGINS:
        if name in blocked:
            continue
        module = importlib.import_module(_BUILTIN_MODULES[name])
        pm.register(module, name=name)
        info.append(PluginInfo(name, module.__name__, None, True))

    installed: dict[str, ModuleType] = {}
    distributions: dict[str, str] = {}
    unsupported: dict[str, str] = {}
    running = qaf_version()
    for entry in (entry for group in groups for entry in entry_points(group=group)):
        if entry.name in blocked or entry.name in installed:
            continue
        refusal = unsupported_qaf(entry, running)
        try:
            installed[entry.name] = entry.load()
        except Exception as exc:  # a broken third-party package must say which one
            if refusal:  # most likely why it does not import
                raise PluginError(refusal) from exc
            raise PluginError(f"plugin {entry.name!r} ({entry.value}) failed to import: {exc}") from exc
        if refusal:
            unsupported[entry.name] = refusal
        if getattr(entry, "dist", None) is not None:
            distributions[entry.name] = f"{entry.dist.metadata['Name']} {entry.dist.version}"

    councils = {name: module for name, module in installed.items() if _council_of(module)}
    unknown = [c for c in settings.councils if c not in councils]
    if unknown:
        raise PluginError(
            f"QAF_COUNCILS names {', '.join(map(repr, unknown))}, which is not installed; "
            f"installed councils: {', '.join(sorted(councils)) or 'none'} "
            f"(a council is its own package: pip install {' '.join('qaf-council-' + c for c in unknown)})"
        )
    for name, module in installed.items():
        council = _council_of(module)
        if council and council != name:
            raise PluginError(f"plugin {name!r} declares QAF_COUNCIL = {council!r}; the two must match")
        if council and name not in settings.councils:
            continue
        if name in unsupported:  # an installed council that is not enabled is never run
            raise PluginError(unsupported[name])
        pm.register(module, name=name)
        info.append(PluginInfo(name, module.__name__, council, False, distributions.get(name)))

    pm.check_pending()
    if settings.plugins_trace:
        pm.trace.root.setwriter(lambda message: log.info("trace: %s", message.rstrip()))
        pm.enable_tracing()
    return pm, info


def load_plugins(settings: Settings, groups: tuple[str, ...] = (ENTRY_POINT_GROUP,)) -> Plugins:
    """Load every enabled plugin and build the checked registry.

    ``groups``: the entry-point groups plugins are found in; only ``qaf``
    unless a caller (the test suite) names more.

    Raises DefinitionError (naming plugin, file, definition and field) or
    PluginError: both must stop start-up.
    """
    pm, info = build_plugin_manager(settings, groups)
    hooks = Hooks(pm)
    loaded = []
    for plugin, paths in hooks.definition_files():
        for path in expand(paths):
            loaded.extend(load_file(plugin, path))
    registry = build_registry(loaded, hooks.grading_schemes())
    registry.hooks = hooks
    return Plugins(pm=pm, hooks=hooks, info=info, registry=registry)


__all__ = ["DefinitionError", "PluginError", "Plugins", "load_plugins", "Hooks"]
