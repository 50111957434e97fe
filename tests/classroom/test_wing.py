"""The two wings: the course's machinery never imports the classroom tools, and the tools load no
torch until a command needs it."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import genimg_course

PACKAGE = Path(genimg_course.__file__).resolve().parent
CLASSROOM = PACKAGE / "classroom"


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, relative imports resolved against its package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts[:-1]  # the package a relative import starts from (for __init__.py too)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return found


def test_the_machinery_never_imports_the_classroom_wing():
    machinery = [p for p in PACKAGE.rglob("*.py") if CLASSROOM not in p.parents and p.name != "__main__.py"]
    assert len(machinery) > 5
    offenders = {str(p.relative_to(PACKAGE)): m for p in machinery for m in _imports(p)
                 if m == "genimg_course.classroom" or m.startswith("genimg_course.classroom.")}
    assert not offenders, f"the machinery imports the classroom wing: {offenders}"


def test_the_classroom_modules_load_no_torch():
    code = ("import sys\n"
            "from genimg_course.classroom import bands, cli, env, lessons, prefetch, runner, site, solutions, student\n"
            "cli.build_parser()\n"
            "print('torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False", "importing the classroom tools loaded torch"


def test_run_offers_the_profiles_names_and_auto():
    from genimg_course.classroom import runner
    from genimg_course.profiles import PROFILE_NAMES

    assert runner.PROFILE_CHOICES == (*PROFILE_NAMES, "auto")
