"""Council packages (issue 18, PLAT-15, CORE-1): the wheels a council installs.

The core wheel and each council's wheel are built from this repository
(`uv build`), installed into a clean virtual environment of their own, and run
there: `qaf plugins --check`, `qaf demo`, `qaf serve` (healthz, then a demo
user signs in and sees their council's work). The four councils run side by
side, each in its own environment, so each is shown to stand on its own.

The environments are filled offline from the uv cache: the core wheel's
dependencies at the lock's versions (`uv sync --frozen --no-install-workspace`
into the new environment), then the two wheels with `uv pip install --no-deps`
and `uv pip check` that the wheels' own requirements hold.

A plugin package installed outside the qaf versions it declares stops start-up
naming both versions (the fake distribution below is found through
importlib.metadata, as an installed one is).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from markupsafe import escape

from helpers import csrf_from, process_env

ROOT = Path(__file__).parent.parent
QAF = str(Path(sys.executable).with_name("qaf"))
# `uv run` tells its children where uv is; else the one on PATH.
UV = os.environ.get("UV") or shutil.which("uv")

COUNCILS = ("haringey", "bedford", "coventry", "partnership")


def _uv(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    result = subprocess.run([UV, *args], cwd=cwd, env=base | env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"uv {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def _clean_env(data_dir: Path, council: str) -> dict[str, str]:
    # The demo's sign-in as the README gives it: no authenticator app to set up.
    env = process_env(QAF_DATA_DIR=str(data_dir), QAF_COUNCILS=council, QAF_SWEEP_SECONDS="0", QAF_SECOND_FACTOR="off")
    return {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    """Every workspace member's wheel, built as a release would build it."""
    assert UV, "uv is not installed (`bash .ci/run` installs it)"
    out = tmp_path_factory.mktemp("wheels")
    started = time.monotonic()
    _uv("build", "--wheel", "--offline", "--all-packages", "--out-dir", str(out))
    built = {re.sub(r"-[0-9].*", "", w.name): w for w in out.glob("*.whl")}
    built["_seconds"] = time.monotonic() - started  # type: ignore[assignment]
    return built


def _journey(key: str, wheels: dict[str, Path], home: Path) -> dict:
    """Install qaf alone, then with qaf-council-<key>, in a new environment; run it."""
    seen: dict = {}
    started = time.monotonic()
    venv = home / "venv"
    _uv("sync", "--frozen", "--offline", "--no-dev", "--no-group", "councils", "--no-install-workspace",
        "--quiet", UV_PROJECT_ENVIRONMENT=str(venv))
    python = str(venv / "bin" / "python")
    qaf = str(venv / "bin" / "qaf")
    env = _clean_env(home / "data", key)
    _uv("pip", "install", "--offline", "--no-deps", "--python", python, str(wheels["qaf"]))
    seen["core_only"] = subprocess.run([qaf, "plugins", "--check"], env=env, cwd=home, capture_output=True, text=True,
                                       timeout=120)
    _uv("pip", "install", "--offline", "--no-deps", "--python", python, str(wheels[f"qaf_council_{key}"]))
    seen["installed_seconds"] = time.monotonic() - started
    check = subprocess.run([UV, "pip", "check", "--python", python], capture_output=True, text=True, timeout=60)
    seen["pip_check"] = check.stdout + check.stderr
    seen["dev_tools"] = subprocess.run(
        [python, "-c", "import importlib.util as u; print(sorted(m for m in ('pytest', 'playwright', 'faker', "
                       "'time_machine', 'aiosmtpd', 'bench', 'qaf_example_plugin') if u.find_spec(m)))"],
        env=env, cwd=home, capture_output=True, text=True, timeout=60).stdout.strip()
    seen["where"] = subprocess.run(
        [python, "-c", f"import councils.{key}, core; print(councils.{key}.__file__); print(core.__file__)"],
        env=env, cwd=home, capture_output=True, text=True, timeout=60).stdout.split()
    seen["check"] = subprocess.run([qaf, "plugins", "--check"], env=env, cwd=home, capture_output=True, text=True,
                                   timeout=120)
    seen["demo"] = subprocess.run([qaf, "demo"], env=env, cwd=home, capture_output=True, text=True, timeout=300)
    seen["demo_seconds"] = time.monotonic() - started
    port = _free_port()
    server = subprocess.Popen([qaf, "serve", "--port", str(port), "--quiet"], env=env, cwd=home,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # four servers start at once on a shared 2-core machine
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"qaf serve ({key}) did not answer /healthz")
            try:
                seen["healthz"] = httpx.get(f"{url}/healthz", timeout=1).json()
                seen["serving_seconds"] = time.monotonic() - started
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        # "  bedford.team_manager.3   Team Manager (Rosa Reid)": a log-in the demo printed.
        username, role, name = re.search(rf"^\s+({key}\.\S+)\s+(.+) \(([^()]+)\)$", seen["demo"].stdout, re.M).groups()
        seen["person"] = (role, name)
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as client:
            login = client.get("/login")
            signed_in = client.post("/login", data={"username": username, "password": "qaf-demo-2026",
                                                    "_csrf_token": csrf_from(login.text), "next": "/"})
            seen["home"] = (signed_in.status_code, str(signed_in.url.path), signed_in.text)
            css = re.search(r'href="(/static/[^"]+\.css)"', login.text).group(1)
            seen["static"] = client.get(css).status_code
        seen["signed_in_seconds"] = time.monotonic() - started
    finally:
        server.terminate()
        try:
            seen["log"] = server.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            server.kill()
            seen["log"] = server.communicate()[0]
    seen["seconds"] = time.monotonic() - started
    return seen


@pytest.fixture(scope="module")
def journeys(wheels, tmp_path_factory) -> dict[str, dict]:
    """All four councils, two at a time, each in its own clean environment."""
    homes = {key: tmp_path_factory.mktemp(f"clean-{key}") for key in COUNCILS}
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time: the CI machine has two cores
        futures = {key: pool.submit(_journey, key, wheels, homes[key]) for key in COUNCILS}
        done = {}
        for key, future in futures.items():
            try:
                done[key] = future.result()
            except Exception as error:  # reported by that council's test
                done[key] = {"error": error}
    done["_seconds"] = time.monotonic() - started  # type: ignore[assignment]
    print(f"\nbuild {wheels['_seconds']:.1f} s; install and run all four {done['_seconds']:.1f} s; " + ", ".join(
        f"{k}: installed {v.get('installed_seconds', 0):.1f} s, demo done {v.get('demo_seconds', 0):.1f} s, "
        f"serving {v.get('serving_seconds', 0):.1f} s, signed in {v.get('signed_in_seconds', 0):.1f} s, "
        f"all {v.get('seconds', 0):.1f} s" for k, v in done.items() if k in COUNCILS))
    return done


@pytest.mark.req("PLAT-15")
def test_the_core_wheel_holds_no_council_and_each_council_wheel_only_its_own(wheels):
    names = set(wheels) - {"_seconds"}
    assert names == {"qaf", "qaf_bench", *(f"qaf_council_{key}" for key in COUNCILS)}
    core = zipfile.ZipFile(wheels["qaf"]).namelist()
    assert not [n for n in core if n.startswith(("councils/", "bench/", "tests/"))]
    assert "core/cli.py" in core and "plugins/scales.py" in core
    assert any(n.startswith("web/templates/") for n in core) and any(n.startswith("web/static/") for n in core)
    core_meta = zipfile.ZipFile(wheels["qaf"]).read("qaf-0.1.0.dist-info/entry_points.txt").decode()
    assert "[qaf]" not in core_meta  # the core registers no plugin
    assert "qaf = core.cli:main" in core_meta
    for key in COUNCILS:
        wheel = zipfile.ZipFile(wheels[f"qaf_council_{key}"])
        files = [n for n in wheel.namelist() if ".dist-info/" not in n]
        assert f"councils/{key}/__init__.py" in files
        assert f"councils/{key}/definitions/council.yaml" in files
        assert all(n.startswith(f"councils/{key}/") for n in files), files
        assert "councils/__init__.py" not in files  # a namespace the four share
        meta = wheel.read(f"qaf_council_{key}-0.1.0.dist-info/METADATA").decode()
        assert f"Name: qaf-council-{key}" in meta
        assert "Requires-Dist: qaf<0.2,>=0.1" in meta  # the qaf versions it supports
        points = wheel.read(f"qaf_council_{key}-0.1.0.dist-info/entry_points.txt").decode()
        assert f"[qaf]\n{key} = councils.{key}" in points


@pytest.mark.req("PLAT-15")
@pytest.mark.req("CORE-1")
@pytest.mark.parametrize("key", COUNCILS)
def test_a_council_package_installed_beside_the_core_wheel_serves_its_demo(journeys, key):
    seen = journeys[key]
    if "error" in seen:
        raise seen["error"]
    # The core wheel alone has no council, and says which package to install.
    assert seen["core_only"].returncode == 1
    assert (f"qaf: QAF_COUNCILS names '{key}', which is not installed; installed councils: none "
            f"(a council is its own package: pip install qaf-council-{key})") in seen["core_only"].stderr
    # Both wheels' requirements hold (Faker is left out on purpose: pyproject.toml, override-dependencies).
    problems = [line for line in seen["pip_check"].splitlines()
                if "requires" in line and "faker" not in line]
    assert not problems, seen["pip_check"]
    assert seen["dev_tools"] == "[]"  # no test tooling, no benchmark
    council_file, core_file = seen["where"]
    assert f"/site-packages/councils/{key}/__init__.py" in council_file and "/site-packages/core/" in core_file
    assert seen["check"].returncode == 0, seen["check"].stderr
    assert "definitions valid" in seen["check"].stdout
    assert seen["demo"].returncode == 0, seen["demo"].stderr
    assert f"Demo organisation for {key}: created" in seen["demo"].stdout
    assert seen["healthz"] == {"status": "ok"}
    status, path, home = seen["home"]
    assert status == 200 and path == "/", path  # signed in, not sent back to /login
    # Their name and their role in the council's words (its definitions/roles.yaml), on their home page.
    role, name = seen["person"]
    assert f'<span class="qaf-user__name">{escape(name)}</span>' in home
    assert f'<span class="qaf-user__role">{escape(role)}</span>' in home
    assert seen["static"] == 200
    assert f"qaf serving {key} at" in seen["log"]


def _fake_distribution(site: Path, key: str, supports: str) -> None:
    """An installed council package as importlib.metadata finds one: a
    dist-info with its entry point and its requirement on qaf."""
    module = site / f"qaf_council_{key}_fake"
    module.mkdir(parents=True)
    (module / "__init__.py").write_text(
        f"from core.hookspecs import hookimpl\nQAF_COUNCIL = {key!r}\n\n"
        "@hookimpl\ndef qaf_definition_files():\n    return []\n"
    )
    info = site / f"qaf_council_{key}-2.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.4\nName: qaf-council-{key}\nVersion: 2.0.0\nRequires-Dist: {supports}\n"
    )
    (info / "entry_points.txt").write_text(f"[qaf]\n{key} = qaf_council_{key}_fake\n")


@pytest.mark.req("PLAT-15")
def test_qaf_refuses_to_start_with_a_council_package_outside_the_versions_it_supports(tmp_path):
    site = tmp_path / "site"
    _fake_distribution(site, "newham", "qaf>=0.2,<0.3")
    env = process_env(QAF_DATA_DIR=str(tmp_path / "data"), QAF_SWEEP_SECONDS="0", QAF_COUNCILS="newham",
                      PYTHONPATH=str(site))
    refusal = ("qaf: plugin 'newham' comes from qaf-council-newham 2.0.0, which supports qaf >=0.2, <0.3; "
               "this is qaf 0.1.0. Install a release of qaf-council-newham made for qaf 0.1.0, or a qaf it supports")
    check = subprocess.run([QAF, "plugins", "--check"], env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 1
    assert refusal in check.stderr
    serve = subprocess.run([QAF, "serve", "--port", str(_free_port())], env=env, capture_output=True, text=True,
                           timeout=120)
    assert serve.returncode == 1
    assert refusal in serve.stderr
    assert not (tmp_path / "data" / "qaf.sqlite3").exists()  # refused before touching the database
    # Installed but not enabled, it is never run, so it stops nothing.
    other = subprocess.run([QAF, "plugins", "--check"], env=env | {"QAF_COUNCILS": "haringey"},
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    # Inside its range, it loads.
    inside = tmp_path / "inside"
    _fake_distribution(inside, "newham", "qaf>=0.1,<0.2")
    ok = subprocess.run([QAF, "plugins"], env=env | {"PYTHONPATH": str(inside)}, capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "newham  (council newham, qaf_council_newham_fake)\n    package qaf-council-newham 2.0.0\n" in ok.stdout


def test_readme_command_a_installs_the_app_and_councils_without_development_tools():
    """README command (a), `uv run --frozen --no-dev qaf ...`, installs what
    the lock resolves without the dev group: qaf, the four councils (the
    default `councils` group) and their dependencies, nothing to test or
    benchmark with. (b), `bash .ci/run`, runs `uv sync --frozen --compile-bytecode`: everything."""
    readme = (ROOT / "README.md").read_text()
    assert "pip install uv && uv run --frozen --no-dev qaf demo && uv run --frozen --no-dev qaf serve" in readme
    assert '"${uv[@]}" sync --frozen --compile-bytecode </dev/null' in (ROOT / ".ci" / "run").read_text()

    def names(*args: str) -> set[str]:
        out = _uv("export", "--frozen", "--no-hashes", "--no-header", "--no-annotate", *args).stdout
        return {line.split("==")[0].split(" ;")[0].strip() for line in out.splitlines()
                if line.strip() and "sys_platform == 'never'" not in line}

    app = names("--no-dev")
    assert {"-e .", *(f"-e ./councils/{key}" for key in COUNCILS)} <= app
    development = {"pytest", "pytest-asyncio", "pytest-xdist", "playwright", "aiosmtpd", "time-machine", "pypdf",
                   "faker", "-e ./bench", "-e ./tests/example_plugin"}
    assert not app & development, app & development
    everything = names()
    assert development - {"faker"} <= everything  # faker: nobody imports it (pyproject.toml, override-dependencies)
    assert "faker" not in everything
