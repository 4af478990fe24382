"""The plugin contract: every hook documented with its exact signature, and tested."""

from __future__ import annotations

import inspect
from pathlib import Path

import core.hookspecs as hookspecs

ROOT = Path(__file__).parent.parent
DOC = (ROOT / "docs" / "plugins.md").read_text()


def _specs():
    return [(name, fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("qaf_")]


def test_every_hook_is_in_one_module_with_the_qaf_prefix_and_a_docstring():
    specs = _specs()
    assert specs, "no hook specs found"
    for name, fn in specs:
        assert getattr(fn, "qaf_spec", None) is not None, f"{name} lacks @hookspec"
        assert (fn.__doc__ or "").strip(), f"{name} has no docstring"


def test_every_hook_is_documented_with_its_exact_signature():
    for name, fn in _specs():
        signature = str(inspect.signature(fn)).replace("'", "")
        assert f"### `{name}{signature}`" in DOC, f"docs/plugins.md does not document {name}{signature}"


def test_every_hook_is_exercised_by_a_test():
    tests = [p for p in (ROOT / "tests").glob("test_*.py") if p.name != Path(__file__).name]
    text = "\n".join(p.read_text() for p in tests)
    for name, _ in _specs():
        assert name in text, f"no test names the hook {name}"
