"""Every hook a qaf plugin may implement, in one module.

Hooks are synchronous and return data; core does all I/O (pluggy has no
async hooks). A plugin module implements them with ``@hookimpl`` and is
registered through the ``qaf`` entry-point group (``pyproject.toml``):

    [project.entry-points.qaf]
    mycouncil = "mycouncil_qaf"

Every hook here is documented in ``docs/plugins.md`` and covered by a test;
``tests/test_plugin_contract.py`` fails when one is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from core.definitions.registry import Registry
    from core.escalation import Escalation, EscalationEvent
    from core.grading import GradingScheme

PROJECT = "qaf"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def qaf_definition_files() -> list[Path]:
    """Return the YAML data files (or folders of them) this plugin ships.

    Each file may hold any of the sections ``council``, ``roles``,
    ``scales``, ``forms`` and ``workflows``. Core decodes them strictly,
    qualifies every key with the plugin's name, cross-checks references and
    stops start-up naming plugin, file, definition and field on any error.
    """


@hookspec
def qaf_grading_schemes() -> list[GradingScheme]:
    """Return grading schemes: how a form's overall grade relates to its
    domain grades (CORE-5). A form names one in ``grading.scheme`` as
    ``<plugin>:<key>``."""


@hookspec
def qaf_escalations(registry: Registry, event: EscalationEvent) -> list[Escalation]:
    """Return who must be told about ``event`` and what they must do by when
    (CORE-11). Called when a grade is final, a re-audit is compared with its
    predecessor, a child-safety concern is raised, a deadline passes or an
    allocation is missed. Every plugin's answers are acted on; the built-in
    ``qaf.escalation_rules`` answers from the council's ``escalations`` data.
    ``notify`` names relations (auditor, practitioner, team_manager,
    case_chair) or role keys, found up the line-management ladder."""
