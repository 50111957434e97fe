"""The project's set-up files agree with each other."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = proj["dependencies"] + proj["optional-dependencies"]["test"]
    return {_name(r): r.replace(" ", "") for r in reqs}


def test_environment_yml_lists_the_same_packages_as_pyproject() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {_name(r): r.replace(" ", "") for r in pip_section if not r.startswith("-")}
    assert listed == _pyproject_requirements()
    assert any(str(d).startswith("python") for d in env["dependencies"])


def test_constraints_pin_every_dependency_exactly() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt line {line!r} is not an exact pin"
            pins[_name(name)] = version
    missing = [n for n in _pyproject_requirements() if n not in pins]
    assert not missing, f"constraints.txt does not pin {missing}"


def test_torch_and_torchvision_are_pinned_as_a_pair() -> None:
    text = (ROOT / "constraints.txt").read_text()
    assert "torch==2.14.1" in text and "torchvision==0.29.1" in text


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 tools/course.py test" in readme
    assert "python3 tools/course.py test" in ci
    assert "python3 tools/course.py lab" in readme
