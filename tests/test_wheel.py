"""`pip install .` gives the whole course: the wheel holds every subpackage, the shipped weights (byte for byte), the
site's assets, the reference runs, the `genimg` command and the course's own files (the lessons, their bands, the docs
they link to, the scripts that made the weights, the benchmarks: pyproject.toml's course-files, with a manifest of
SHA-256s); every file a lesson names is one of those. A lesson opened in a kernel that has the dependencies but not the
course installs the course itself (its bootstrap cell) from that wheel and runs under smoke; then, with no checkout,
`genimg course` lays the course out in a folder of one's own and `genimg student` finds the lessons. And a lesson in
a cloned course, in a kernel without the package and no source named, installs that clone.

The wheel is built offline from a copy of the sources (pip wheel, no build isolation), so the checkout is left as it
was. The two bare-kernel tests are marked ``notebooks`` (each starts a kernel and runs lesson 00: about 40 s).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from genimg_course import checkpoints

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "genimg_course"
LESSON = "00_setup"  # the shortest lesson: nothing is trained


def _setup():
    """setup.py as a module (its course_files), without running setup()."""
    text = (ROOT / "setup.py").read_text()
    namespace: dict = {"__file__": str(ROOT / "setup.py"), "__name__": "course_setup"}
    exec(compile(text.replace("\nsetup(cmdclass", "\n_setup_args = dict(cmdclass"), "setup.py", "exec"), namespace)
    return namespace


COURSE_FILES = _setup()["course_files"](ROOT)


def _package_dirs() -> list[str]:
    """Every package directory under genimg_course (one holding an __init__.py), as dotted names."""
    return sorted(".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")
                  if "__pycache__" not in p.parts)


def _data_files(folder: str, pattern: str = "*") -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in (PACKAGE / folder).glob(pattern) if p.is_file())


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: nothing that points Python at the checkout, pip at the network or the
    course at the checkout's figures; ``extra`` on top."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "COVERAGE_PROCESS_START")
           and not k.startswith(("GENIMG_", "JUPYTER_", "PIP_"))}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1", **extra)
    return env


def test_pyproject_lists_every_package_directory() -> None:
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    missing = [p for p in _package_dirs() if p not in listed]
    assert not missing, (f"pyproject.toml's [tool.setuptools] packages leaves out {missing}: a non-editable "
                         "install would not have them")


def _source_tree(src: Path) -> Path:
    """What a clone holds for a build: pyproject.toml, setup.py, MANIFEST.in, the course's files and genimg_course/."""
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", *COURSE_FILES):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(PACKAGE, src / "genimg_course", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "course"))
    return src


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course's wheel, built offline from a copy of the sources (:func:`_source_tree`)."""
    src = _source_tree(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out)], cwd=src, capture_output=True, text=True, timeout=600, env=_clean_env())
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    wheels = list(out.glob("genimg_course-*.whl"))
    assert len(wheels) == 1, f"expected one genimg_course wheel in {out}, found {[p.name for p in out.iterdir()]}"
    return wheels[0]


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def test_the_wheel_holds_every_subpackage_and_module(names: set[str]) -> None:
    modules = sorted(p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    assert len(modules) > 20
    missing = [m for m in modules if m not in names]
    assert not missing, f"the wheel lacks {missing}"
    for package in _package_dirs():
        assert f"{package.replace('.', '/')}/__init__.py" in names


def test_the_wheel_holds_every_shipped_weight_byte_for_byte(wheel: Path, names: set[str]) -> None:
    assert checkpoints.SHIPPED
    with zipfile.ZipFile(wheel) as z:
        for key, (fname, digest, _) in checkpoints.SHIPPED.items():
            member = f"genimg_course/weights/{fname}"
            assert member in names, f"the wheel lacks {member} (SHIPPED[{key!r}])"
            if not digest.startswith("@"):
                assert hashlib.sha256(z.read(member)).hexdigest() == digest, f"{member} differs from SHIPPED[{key!r}]"
    on_disk = _data_files("weights", "*.pt")
    assert not [f for f in on_disk if f not in names], "a weights/*.pt file of the checkout is not in the wheel"


def test_the_wheel_holds_the_assets_and_the_reference_runs(names: set[str]) -> None:
    assets, refs = _data_files("assets"), _data_files("reference", "*.json")
    assert assets and refs
    missing = [f for f in assets + refs if f not in names]
    assert not missing, f"the wheel lacks {missing}"


def test_the_wheel_installs_the_genimg_command(wheel: Path, names: set[str]) -> None:
    entry = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
    assert entry, "the wheel has no entry_points.txt"
    with zipfile.ZipFile(wheel) as z:
        text = z.read(entry).decode()
    assert "[console_scripts]" in text and "genimg = genimg_course.classroom.cli:main" in text, text


def test_the_wheel_holds_the_course_s_files_byte_for_byte_with_their_manifest(wheel: Path, names: set[str]) -> None:
    lessons = [f for f in COURSE_FILES if f.startswith("notebooks/") and f.endswith(".ipynb")]
    assert len(lessons) == len(list((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))) >= 14
    assert any(f.startswith("docs/") for f in COURSE_FILES) and "tools/make_gan_weights.py" in COURSE_FILES
    with zipfile.ZipFile(wheel) as z:
        manifest = json.loads(z.read("genimg_course/course/MANIFEST.json"))
        assert sorted(manifest) == COURSE_FILES, "the wheel's course manifest is not pyproject.toml's course-files"
        for rel in COURSE_FILES:
            member = f"genimg_course/course/{rel}"
            assert member in names, f"the wheel lacks {member}"
            body = z.read(member)
            assert body == (ROOT / rel).read_bytes(), f"{member} differs from the checkout's {rel}"
            assert hashlib.sha256(body).hexdigest() == manifest[rel]
    stray = [n for n in names if n.startswith("genimg_course/course/") and n != "genimg_course/course/MANIFEST.json"
             and n.removeprefix("genimg_course/course/") not in manifest]
    assert not stray, f"the wheel's course folder holds files the manifest does not list: {stray[:5]}"


# a path in a lesson or a check's hint: docs/article.md, ../docs/article.md, tools/make_gan_weights.py, ...
_NAMED = re.compile(r"(?<![\w/.-])(?:\.\./)?((?:docs|tools|benchmarks|tests|data|genimg_course|notebooks)/[\w./-]*\w)")


def _named_paths() -> list[tuple[str, str]]:
    named = []
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
            named += [(f"{nb.name} cell {i}", m.group(1)) for m in _NAMED.finditer("".join(cell["source"]))]
    for check in sorted((PACKAGE / "checks").glob("*.py")):
        named += [(f"genimg_course/checks/{check.name}", m.group(1)) for m in _NAMED.finditer(check.read_text())]
    return named


def test_every_file_a_lesson_or_a_hint_names_comes_with_the_course() -> None:
    named = _named_paths()
    assert len(named) > 40 and any(p == "docs/article.md" for _, p in named)
    ships = set(COURSE_FILES)  # and the package's own modules, which the wheel holds (test above)
    missing = [(where, p) for where, p in named if p not in ships and not (PACKAGE.parent / p).is_dir()
               and not (p.startswith("genimg_course/") and p.endswith(".py") and (PACKAGE.parent / p).is_file())]
    assert not missing, ("these files are named in lessons but exist only in a checkout (add them to pyproject.toml's "
                         f"course-files, or name something that ships): {missing}")


# --------------------------------------------------------------------------------------------
# a bare kernel: the dependencies, not the course
# --------------------------------------------------------------------------------------------

def _bare_venv(where: Path) -> Path:
    """A venv that sees this environment's dependencies but not the course: a .pth names a folder of links to every
    entry of this environment's site-packages except the course's own (its editable finder and its dist-info, so
    pip does not take the course for installed). A plain path line in a .pth does not run the .pth files of that
    folder, so nothing of the checkout comes in. pip, ipykernel and papermill come with the links."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where / "venv")], check=True, timeout=120)
    deps = where / "deps"
    deps.mkdir()
    sites = dict.fromkeys(Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib"))
    for entry in (e for site in sites for e in site.iterdir()):
        name = entry.name.lower()
        if name.startswith(("genimg_course", "genimg-course", "__editable__")) or name.endswith(".pth") \
                or name == "__pycache__":
            continue
        if not (deps / entry.name).exists():
            (deps / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    venv = where / "venv"
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    Path(purelib, "course-deps.pth").write_text(f"{deps}\n")
    return venv


@pytest.mark.notebooks
def test_a_lesson_in_a_bare_kernel_installs_the_course_from_the_wheel_and_runs(wheel: Path, tmp_path: Path) -> None:
    venv = _bare_venv(tmp_path)
    py, work, home = venv / "bin" / "python", tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    env = _clean_env(HOME=str(home), GENIMG_COURSE_SOURCE=str(wheel), GENIMG_PROFILE="smoke", GENIMG_OFFLINE="1",
                     GENIMG_FIGURES_DIR=str(work / "figures"), MPLBACKEND="Agg", OMP_NUM_THREADS="1")

    def run(*argv: str, timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(a) for a in argv], cwd=work, env=env, capture_output=True, text=True,
                              timeout=timeout)

    absent = run(py, "-c", "import genimg_course")
    assert absent.returncode != 0 and "No module named 'genimg_course'" in absent.stderr, (
        f"genimg_course is importable in the bare venv before the lesson runs: {absent.stdout}{absent.stderr}")
    assert run(py, "-c", "import torch, torchvision, ipykernel, papermill").returncode == 0
    kernel = run(py, "-m", "ipykernel", "install", "--prefix", venv, "--name", "bare-course")
    assert kernel.returncode == 0, kernel.stderr
    spec = json.loads((venv / "share" / "jupyter" / "kernels" / "bare-course" / "kernel.json").read_text())
    assert Path(spec["argv"][0]).parent == venv / "bin" or spec["argv"][0] == "python", spec["argv"]

    lesson = work / f"{LESSON}.ipynb"
    shutil.copy2(ROOT / "notebooks" / lesson.name, lesson)  # a copy outside the checkout
    executed = work / f"{LESSON}.out.ipynb"
    ran = run(py, "-m", "papermill", lesson, executed, "-k", "bare-course", "-p", "PROFILE", "smoke",
              "--cwd", work, "--no-progress-bar", "--execution-timeout", "240", timeout=600)
    assert ran.returncode == 0, f"{LESSON} failed in the bare kernel:\n{ran.stdout[-3000:]}{ran.stderr[-3000:]}"

    nb = json.loads(executed.read_text(encoding="utf-8"))
    boot = next(c for c in nb["cells"] if "bootstrap" in c["metadata"].get("tags", []))
    said = "".join("".join(o.get("text", "")) for o in boot["outputs"] if o.get("output_type") == "stream")
    assert said.startswith("installed genimg_course") and str(wheel) in said, said
    assert str(venv) in said and str(ROOT) not in said, said
    assert (work / "figures" / f"{LESSON}.json").exists(), "the lesson recorded no figures"
    assert json.loads((work / "figures" / f"{LESSON}.json").read_text())["profile"] == "smoke"

    where = run(py, "-c", "import genimg_course, importlib.metadata as m; print(genimg_course.__file__); "
                          "print(m.distribution('genimg-course').read_text('direct_url.json') or '')")
    assert where.returncode == 0, where.stderr
    path, _, direct = where.stdout.partition("\n")
    assert Path(path).resolve().is_relative_to(venv.resolve()), f"genimg_course imports from {path}, not the venv"
    assert not (direct.strip() and json.loads(direct).get("dir_info", {}).get("editable")), direct
    helped = run(venv / "bin" / "genimg", "--help")
    assert helped.returncode == 0 and "usage" in helped.stdout.lower(), f"{helped.stdout}{helped.stderr}"

    # no checkout: the course's files come from the wheel
    course = run(venv / "bin" / "genimg", "course", work / "my-course")
    assert course.returncode == 0, f"{course.stdout}{course.stderr}"
    assert "14 lessons" in course.stdout and "from the installed package" in course.stdout, course.stdout
    for rel in COURSE_FILES:
        assert (work / "my-course" / rel).read_bytes() == (ROOT / rel).read_bytes(), f"genimg course wrote {rel} wrong"
    installed = Path(path).parent.parent  # the venv's site-packages
    for where, p in _named_paths():
        found = (installed if p.startswith("genimg_course/") else work / "my-course") / p
        assert found.exists() or (ROOT / p).is_dir(), f"{where} names {p}: neither in the course folder nor installed"
    handout = run(venv / "bin" / "genimg", "student", "01", "--out", work / "handout")
    assert handout.returncode == 0, f"{handout.stdout}{handout.stderr}"
    assert (work / "handout" / "student" / "01_cnn_basics.ipynb").is_file()
    out = run(py, "-c", "from genimg_course.classroom import runner; print(runner.default_out('smoke'))")
    assert out.returncode == 0 and Path(out.stdout.strip()) == work / "executed" / "smoke", f"{out.stdout}{out.stderr}"
    print(f"bootstrap cell said: {said.strip()}; genimg course: {course.stdout.splitlines()[0]}")


@pytest.mark.notebooks
def test_a_lesson_in_a_cloned_course_installs_that_clone_in_a_bare_kernel(tmp_path: Path) -> None:
    """No $GENIMG_COURSE_SOURCE: a hub where the course was cloned (the notebook in clone/notebooks/) and the kernel
    lacks the package. The bootstrap cell pip-installs the clone (offline here: no index, no build isolation)."""
    venv = _bare_venv(tmp_path)
    py, clone, home = venv / "bin" / "python", _source_tree(tmp_path / "clone"), tmp_path / "home"
    home.mkdir()
    env = _clean_env(HOME=str(home), GENIMG_PROFILE="smoke", GENIMG_OFFLINE="1", MPLBACKEND="Agg",
                     GENIMG_FIGURES_DIR=str(tmp_path / "figures"), OMP_NUM_THREADS="1", PIP_NO_BUILD_ISOLATION="0")
    kernel = subprocess.run([str(py), "-m", "ipykernel", "install", "--prefix", str(venv), "--name", "bare-clone"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert kernel.returncode == 0, kernel.stderr
    lesson, executed = clone / "notebooks" / f"{LESSON}.ipynb", tmp_path / f"{LESSON}.out.ipynb"
    ran = subprocess.run([str(py), "-m", "papermill", str(lesson), str(executed), "-k", "bare-clone", "-p", "PROFILE",
                          "smoke", "--cwd", str(lesson.parent), "--no-progress-bar", "--execution-timeout", "300"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, f"{LESSON} failed in the bare kernel:\n{ran.stdout[-3000:]}{ran.stderr[-3000:]}"
    nb = json.loads(executed.read_text(encoding="utf-8"))
    boot = next(c for c in nb["cells"] if "bootstrap" in c["metadata"].get("tags", []))
    said = "".join("".join(o.get("text", "")) for o in boot["outputs"] if o.get("output_type") == "stream")
    assert said.startswith("installed genimg_course") and f"from {clone} into {venv}" in said, said
    where = subprocess.run([str(py), "-c", "import genimg_course; print(genimg_course.__file__)"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).resolve().is_relative_to(venv.resolve()), where.stdout + where.stderr
    print(f"bootstrap cell said: {said.strip()}")
