"""Headless Chromium (Playwright, async API) and axe-core accessibility checks.

* :func:`launch_chromium` starts the system Chromium (``/usr/bin/chromium``, or
  ``$QAF_TEST_CHROMIUM``); Playwright never downloads a browser.
* :func:`assert_accessible` injects the vendored axe-core
  (``tests/support/vendor/axe-core-*.min.js``, or ``$QAF_TEST_AXE_JS``) into the
  page and fails with a readable list of WCAG 2.2 A/AA violations.
* :class:`A11yTracker` records every URL a page (or every page of a context)
  navigates to, so a test can assert that axe ran on each one.
"""

from __future__ import annotations

import functools
import os
import shutil
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urldefrag

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"


class A11yError(AssertionError):
    """axe-core found violations; ``.violations`` holds axe's raw result objects."""

    def __init__(self, message: str, url: str, violations: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.url = url
        self.violations = violations


# --------------------------------------------------------------------- Chromium
def chromium_executable() -> str:
    candidates = [os.environ.get("QAF_TEST_CHROMIUM"), "/usr/bin/chromium"]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "Chromium was not found at $QAF_TEST_CHROMIUM or /usr/bin/chromium.\n"
        "Install it: apt-get install chromium  (or run `bash .ci/run`, which installs it). "
        "Playwright's own browser downloads are not used."
    )


async def launch_chromium(playwright: Any, **overrides: Any) -> Any:
    """Launch headless system Chromium from an ``async_playwright()`` instance."""
    options: dict[str, Any] = {
        "executable_path": chromium_executable(),
        "headless": True,
        "args": list(CHROMIUM_ARGS),
        "timeout": 60_000,
    }
    extra_args = overrides.pop("args", None)
    if extra_args:
        options["args"] += list(extra_args)
    options.update(overrides)
    return await playwright.chromium.launch(**options)


# ---------------------------------------------------------------------- axe-core
def axe_script_path() -> Path:
    override = os.environ.get("QAF_TEST_AXE_JS")
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"QAF_TEST_AXE_JS={override!r} is not a file")
        return path
    found = sorted(VENDOR_DIR.glob("axe-core-*.min.js"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(
            f"axe-core is not vendored: expected one {VENDOR_DIR}/axe-core-<version>.min.js "
            "(copy node_modules/axe-core/axe.min.js from `npm pack axe-core@4.11.0`), "
            "or point QAF_TEST_AXE_JS at an axe.min.js"
        )
    raise FileNotFoundError(f"expected exactly one axe-core-*.min.js in {VENDOR_DIR}, found: {[p.name for p in found]}")


@functools.lru_cache(maxsize=4)
def _read_axe(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def axe_source() -> str:
    return _read_axe(axe_script_path())


# Indirect eval via the DevTools protocol is not subject to the page's
# Content-Security-Policy (unlike add_script_tag), so strict-CSP pages work.
_INJECT_JS = "source => { if (typeof window.axe === 'undefined') { (0, eval)(source); } return typeof window.axe; }"

_RUN_JS = """async ([context, options]) => {
  const result = await window.axe.run(context || document, options);
  return { url: result.url, violations: result.violations };
}"""


async def _inject_axe(page: Any) -> None:
    source = axe_source()
    for frame in page.frames:
        try:
            kind = await frame.evaluate(_INJECT_JS, source)
        except Exception:
            if frame is page.main_frame:
                raise
            continue  # detached or otherwise unreachable child frame: axe skips it
        if frame is page.main_frame and kind != "object":
            raise RuntimeError(f"axe-core failed to load into {page.url} (typeof axe = {kind!r})")


def format_violations(url: str, violations: list[dict[str, Any]]) -> str:
    nodes = sum(len(v.get("nodes", [])) for v in violations)
    lines = [f"{len(violations)} accessibility violation(s) ({nodes} element(s)) on {url}:"]
    for number, violation in enumerate(violations, 1):
        lines.append(
            f"{number}. {violation['id']} [{violation.get('impact') or 'n/a'}]: {violation.get('help', '')}"
        )
        if violation.get("helpUrl"):
            lines.append(f"   {violation['helpUrl']}")
        for node in violation.get("nodes", []):
            target = " >> ".join(
                " ".join(t) if isinstance(t, list) else str(t) for t in node.get("target", [])
            )
            html = " ".join(str(node.get("html", "")).split())
            if len(html) > 300:
                html = html[:297] + "..."
            lines.append(f"   - target: {target}")
            lines.append(f"     html:   {html}")
            summary = " ".join(str(node.get("failureSummary") or "").split())
            if summary:
                lines.append(f"     fix:    {summary}")
    return "\n".join(lines)


# page -> URLs axe ran on (read by A11yTracker)
_CHECKED: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def _normalise(url: str) -> str:
    return urldefrag(url)[0]


async def run_axe(
    page: Any,
    *,
    tags: Iterable[str] = WCAG_TAGS,
    include: list[Any] | None = None,
    exclude: list[Any] | None = None,
    disable_rules: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Run axe on the page's current document; return the violations (may be empty)."""
    await _inject_axe(page)
    context: dict[str, Any] | None = None
    if include or exclude:
        context = {}
        if include:
            context["include"] = include
        if exclude:
            context["exclude"] = exclude
    options: dict[str, Any] = {
        "runOnly": {"type": "tag", "values": list(tags)},
        "resultTypes": ["violations"],
    }
    disabled = list(disable_rules)
    if disabled:
        options["rules"] = {rule: {"enabled": False} for rule in disabled}
    result = await page.evaluate(_RUN_JS, [context, options])
    _CHECKED.setdefault(page, []).append(_normalise(page.url))
    return result["violations"]


async def assert_accessible(
    page: Any,
    *,
    tags: Iterable[str] = WCAG_TAGS,
    include: list[Any] | None = None,
    exclude: list[Any] | None = None,
    disable_rules: Iterable[str] = (),
) -> None:
    """Fail (``A11yError``, an ``AssertionError``) if axe finds WCAG 2.2 A/AA violations.

    ``include``/``exclude`` are axe context selectors; ``disable_rules`` are rule
    ids to skip (use sparingly and say why in the test).
    """
    violations = await run_axe(page, tags=tags, include=include, exclude=exclude, disable_rules=disable_rules)
    if violations:
        url = page.url
        raise A11yError(format_violations(url, violations), url, violations)


# --------------------------------------------------------------------- tracking
class A11yTracker:
    """Records every main-frame URL visited, and which ones axe checked.

        tracker = A11yTracker(page)          # or A11yTracker(context) for all its pages
        await tracker.goto(url)              # navigate + assert_accessible
        await page.click("text=Save")        # a navigation is recorded automatically
        await tracker.check()                # assert_accessible on the current page
        tracker.assert_all_checked()         # every visited URL was checked

    Any call of :func:`assert_accessible`/:func:`run_axe` on a tracked page counts
    as a check.  URLs are compared without their ``#fragment``.
    """

    def __init__(self, target: Any | None = None) -> None:
        self.visited: list[str] = []
        self.pages: list[Any] = []
        if target is not None:
            if hasattr(target, "main_frame"):
                self.attach(target)
            else:
                self.attach_context(target)

    def attach(self, page: Any) -> Any:
        if page in self.pages:
            return page
        self.pages.append(page)
        _CHECKED.setdefault(page, [])

        def on_navigated(frame: Any) -> None:
            if frame is page.main_frame:
                self._visit(frame.url)

        page.on("framenavigated", on_navigated)
        if page.url and page.url != "about:blank":
            self._visit(page.url)
        return page

    def attach_context(self, context: Any) -> Any:
        for page in context.pages:
            self.attach(page)
        context.on("page", self.attach)
        return context

    def _visit(self, url: str) -> None:
        if url and url != "about:blank":
            self.visited.append(_normalise(url))

    @property
    def checked(self) -> list[str]:
        return [url for page in self.pages for url in _CHECKED.get(page, [])]

    def unchecked(self, ignore: Callable[[str], bool] | None = None) -> list[str]:
        done = set(self.checked)
        seen: dict[str, None] = {}
        for url in self.visited:
            if url not in done and not (ignore and ignore(url)):
                seen[url] = None
        return list(seen)

    def assert_all_checked(self, ignore: Callable[[str], bool] | None = None) -> None:
        if not self.visited:
            raise AssertionError("no page was visited, so nothing was checked for accessibility")
        missing = self.unchecked(ignore)
        if missing:
            listing = "\n".join(f"  - {url}" for url in missing)
            raise AssertionError(f"axe-core never ran on {len(missing)} visited page(s):\n{listing}")

    async def goto(self, url: str, *, page: Any | None = None, check: bool = True, **kwargs: Any) -> Any:
        """``page.goto`` then (by default) :func:`assert_accessible`; returns the response."""
        page = page or self._only_page()
        response = await page.goto(url, **kwargs)
        if check:
            await assert_accessible(page)
        return response

    async def check(self, page: Any | None = None, **kwargs: Any) -> None:
        await assert_accessible(page or self._only_page(), **kwargs)

    def _only_page(self) -> Any:
        live = [p for p in self.pages if not p.is_closed()]
        if len(live) != 1:
            raise ValueError(f"tracker has {len(live)} open pages; pass page=")
        return live[0]
