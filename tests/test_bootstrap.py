"""Every lesson starts anywhere: its first code cell (tagged ``bootstrap``, the same text in every lesson) does nothing
but say so when genimg_course is importable, and otherwise pip-installs the course from the one source it names
($GENIMG_COURSE_SOURCE, else the cloned course the notebook sits in, else the package name), imports it and says what
it did.

Here the cell runs in a Python started without site-packages, with ``subprocess.run`` replaced by a fake pip that
records its command and writes a stand-in package; tests/test_wheel.py installs the real wheel in a bare venv.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
IDS = [nb.stem for nb in NOTEBOOKS]
TAG = "bootstrap"


def _code(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _cell() -> str:
    return _code(NOTEBOOKS[0])[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_first_code_cell_is_the_bootstrap_and_the_parameters_cell_follows(path: Path) -> None:
    code = _code(path)
    tagged = [i for i, c in enumerate(code) if TAG in c.metadata.get("tags", [])]
    assert tagged == [0], f"{path.name}: cells tagged {TAG!r} at code cells {tagged}; expected one, the first"
    assert "parameters" in code[1].metadata.get("tags", []), f"{path.name}: the parameters cell must follow it"
    assert code[0].outputs == [] and code[0].execution_count is None


def test_the_bootstrap_cell_is_the_same_in_every_lesson() -> None:
    assert len(NOTEBOOKS) >= 14
    first = _cell()
    differ = [p.name for p in NOTEBOOKS if _code(p)[0].source != first]
    assert not differ, f"the bootstrap cell of {differ} differs from {NOTEBOOKS[0].name}'s"


def test_the_source_is_named_in_one_place() -> None:
    cell = _cell()
    assert cell.count('os.environ.get("GENIMG_COURSE_SOURCE"') == 1
    assert cell.count('else "genimg-course"') == 1, "the package name is the default in one place"
    assert len(cell.splitlines()) <= 20, "keep the cell short: a learner reads it first"
    compile(cell, "bootstrap", "exec")


def _run_cell(tmp_path: Path, source: str | None, *, importable: bool = False, fail: bool = False,
              cwd: Path | None = None) -> tuple[str, list]:
    """Run the bootstrap cell in ``python -I -S`` (no site-packages, so no genimg_course), with a fake pip, in
    ``cwd`` (default ``tmp_path``)."""
    site = tmp_path / "site"
    site.mkdir()
    if importable:
        (site / "genimg_course").mkdir()
        (site / "genimg_course" / "__init__.py").write_text('__version__ = "0.0.here"\n')
    prelude = textwrap.dedent(f"""
        import json, os, subprocess, sys
        sys.path.insert(0, {str(site)!r})
        calls = []
        def fake_pip(argv, **kw):
            calls.append(list(argv))
            if {fail!r}:
                return subprocess.CompletedProcess(argv, 1, "", "ERROR: No matching distribution found\\n")
            os.makedirs(os.path.join({str(site)!r}, "genimg_course"))
            with open(os.path.join({str(site)!r}, "genimg_course", "__init__.py"), "w") as f:
                f.write('__version__ = "0.0.fake"\\n')
            return subprocess.CompletedProcess(argv, 0, "", "")
        subprocess.run = fake_pip
    """)
    script = prelude + "try:\n" + textwrap.indent(_cell(), "    ") + "\nfinally:\n    print('CALLS ' + json.dumps(calls))\n"
    env = {"PATH": "/usr/bin:/bin"}
    if source is not None:
        env["GENIMG_COURSE_SOURCE"] = source
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], cwd=cwd or tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    out = done.stdout + done.stderr
    calls = json.loads(out.split("CALLS ", 1)[1].splitlines()[0]) if "CALLS " in out else []
    return out, calls


def test_an_installed_course_is_reported_in_one_line_and_not_reinstalled(tmp_path: Path) -> None:
    out, calls = _run_cell(tmp_path, "/nowhere/genimg_course-9.whl", importable=True)
    lines = [line for line in out.splitlines() if not line.startswith("CALLS")]
    assert calls == []
    assert lines == [f"genimg_course 0.0.here is installed ({tmp_path / 'site' / 'genimg_course'})"], out


def test_a_bare_kernel_installs_from_the_source_in_the_environment_and_says_so(tmp_path: Path) -> None:
    wheel = "/wheels/genimg_course-0.1.0-py3-none-any.whl"
    out, calls = _run_cell(tmp_path, wheel)
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", wheel]], out
    assert f"installed genimg_course 0.0.fake from {wheel} into {tmp_path / 'site' / 'genimg_course'}" in out


@pytest.mark.parametrize("source", [None, "", "  "])
def test_without_a_source_it_installs_the_package_by_name(tmp_path: Path, source: str | None) -> None:
    out, calls = _run_cell(tmp_path, source)
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", "genimg-course"]], out
    assert "installed genimg_course 0.0.fake from genimg-course" in out


def test_a_failed_install_stops_with_pips_message(tmp_path: Path) -> None:
    out, calls = _run_cell(tmp_path, "git+https://example.invalid/genimg-course.git", fail=True)
    assert len(calls) == 1
    assert "RuntimeError: pip install git+https://example.invalid/genimg-course.git failed" in out
    assert "No matching distribution found" in out


def _clone(where: Path) -> Path:
    """A stand-in cloned course: pyproject.toml, genimg_course/__init__.py and notebooks/."""
    (where / "genimg_course").mkdir(parents=True)
    (where / "genimg_course" / "__init__.py").write_text('__version__ = "0.0.clone"\n')
    (where / "pyproject.toml").write_text('[project]\nname = "genimg-course"\n')
    (where / "notebooks").mkdir()
    return where


@pytest.mark.parametrize("inside", ["notebooks", "."])
def test_in_a_cloned_course_without_a_source_it_installs_that_clone(tmp_path: Path, inside: str) -> None:
    clone = _clone(tmp_path / "clone")
    out, calls = _run_cell(tmp_path, None, cwd=clone / inside)
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", str(clone)]], out
    assert f"installed genimg_course 0.0.fake from {clone} into" in out


def test_the_environment_s_source_wins_over_a_clone(tmp_path: Path) -> None:
    clone = _clone(tmp_path / "clone")
    out, calls = _run_cell(tmp_path, "/wheels/genimg_course-0.1.0-py3-none-any.whl", cwd=clone / "notebooks")
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", "/wheels/genimg_course-0.1.0-py3-none-any.whl"]]
