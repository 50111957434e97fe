"""genimg_course.scoreboard: every generative lesson's quality records in one table, read from figures JSON (the
shipped reference runs, or a `genimg run` folder), never retyped; rows that do not compare (another n, another
reference split, another floor) are refused in one column, and a missing lesson is named with how to make it."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from genimg_course.figures import Quality
from genimg_course.reference import REFERENCE_DIR
from genimg_course.scoreboard import COURSE_MODELS, GENERATIVE_LESSONS, collect, coverage, missing, plot, table

ROOT = Path(__file__).resolve().parent.parent


def _quality(model: str, fid: float, n: int = 500, floor: float = 28.0, **kw) -> dict:
    q = Quality(model=model, family=kw.get("family", "gan"), fid=fid, kid=1.0, kid_std=0.5, n=n, floor=floor,
                reference=kw.get("reference", "test"), train_seconds=kw.get("train_seconds", 10.0), sample_seconds=1.0,
                parameters=1000, device="cpu")
    return q.to_dict()


def _figures(tmp_path, lesson: str, *records: dict, **extra) -> None:
    data = {"lesson": lesson, "profile": "cpu", "quality": {r["model"]: r for r in records}, **extra}
    (tmp_path / f"{lesson}.json").write_text(json.dumps(data))


def test_the_shipped_reference_runs_give_every_generative_lesson_one_comparable_table():
    rows = collect()
    assert not missing(rows), missing(rows)
    assert {r.lesson for r in rows} >= set(GENERATIVE_LESSONS)
    assert {r.quality.n for r in rows} == {500}
    text = table(rows)
    lines = text.splitlines()
    assert lines[1].startswith("real vs real (the floor)")
    fids = [r.quality.fid for r in sorted(rows, key=lambda r: r.quality.fid)]
    assert f"{fids[0]:7.1f}" in lines[2] and f"{fids[-1]:7.1f}" in lines[-2]
    for name in ("shipped flow heun-5", "shipped DCGAN", "VAE β = 1 (prior samples)", "shipped cGAN"):
        assert name in text
    assert all(r.source.startswith("reference cpu, commit ") for r in rows)
    flow = next(r for r in rows if r.quality.model == "shipped flow heun-5")
    assert flow.precision is not None and flow.recall is not None and flow.train_distance_ratio is not None


def test_a_run_folder_is_read_and_rows_at_another_n_are_refused_in_one_column(tmp_path):
    _figures(tmp_path, "03_dcgan", _quality("G", 80.0), shipped_g_precision=0.7)
    _figures(tmp_path, "05_vae", _quality("VAE", 400.0, n=128, floor=130.0, family="vae"))
    (tmp_path / "03_dcgan.card.json").write_text("{}")  # genimg run's cards sit beside the figures: skipped
    rows = collect(tmp_path)
    assert [r.lesson for r in rows] == ["03_dcgan", "05_vae"] and rows[0].source.endswith("03_dcgan.json")
    with pytest.raises(ValueError, match=r"different n \(n = 128: 1 rows, n = 500: 1 rows\).*table\(rows, n=500\)"):
        table(rows)
    text = table(rows, n=500)
    assert "G " in text and "VAE" not in text
    assert missing(rows, ["03_dcgan", "05_vae", "10_diffusion"]) == {
        "10_diffusion": "run it: genimg run --profile cpu notebooks/10_diffusion.ipynb (it scores "
                        + GENERATIVE_LESSONS["10_diffusion"] + ")"}
    with pytest.raises(ValueError, match="no quality record at n = 64"):
        table(rows, n=64)


def test_records_against_other_digits_or_another_judge_are_refused(tmp_path):
    _figures(tmp_path, "03_dcgan", _quality("G", 80.0, floor=28.0))
    _figures(tmp_path, "04_stable_gans", _quality("W", 90.0, floor=35.0))
    with pytest.raises(ValueError, match="different floors"):
        table(collect(tmp_path))
    (tmp_path / "04_stable_gans.json").unlink()
    _figures(tmp_path, "05_vae", _quality("V", 300.0, reference="train"))
    with pytest.raises(ValueError, match="different reference splits"):
        table(collect(tmp_path))


def test_bad_sources_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        collect(tmp_path / "nowhere")
    (tmp_path / "x.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="x.json is not a lesson's figures"):
        collect(tmp_path)
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        collect(tmp_path / "x.json")
    with pytest.raises(ValueError, match="profile must be"):
        collect(profile="")
    assert collect(profile="no-such-profile") == []
    with pytest.raises(ValueError, match="at least one row"):
        table([])
    with pytest.raises(ValueError, match="at least one row"):
        plot([])
    with pytest.raises(TypeError, match="expects the Rows that collect"):
        table([{"model": "G"}])


def test_the_plot_draws_one_point_per_model():
    import matplotlib
    matplotlib.use("Agg")
    rows = collect()
    ax = plot(rows)
    assert len(ax.collections) == len(rows) and ax.get_xscale() == "log"


# ---------------------------------------------------------------- the shipped scoreboard is complete and current


@pytest.mark.parametrize("lesson", list(GENERATIVE_LESSONS))
def test_every_generative_lesson_has_rows_in_its_shipped_reference_run(lesson):
    assert (REFERENCE_DIR / f"{lesson}.json").exists(), (
        f"{lesson} is in scoreboard.GENERATIVE_LESSONS but genimg_course/reference/{lesson}.json is missing: "
        f"{missing([], [lesson])[lesson]}, then tools/make_reference.py")
    rows = [r for r in collect() if r.lesson == lesson]
    assert rows, f"the shipped reference run of {lesson} records no quality: {missing([], [lesson])[lesson]}"


@pytest.mark.parametrize("model", list(COURSE_MODELS))
def test_every_model_of_the_course_is_a_row_of_the_scoreboard(model):
    lesson, _ = COURSE_MODELS[model]
    if not (REFERENCE_DIR / f"{lesson}.json").exists():
        pytest.skip(f"{model} is scored by {lesson}, which has no shipped reference run yet "
                    f"(genimg_course/reference/{lesson}.json): run its notebook and tools/make_reference.py")
    if lesson not in GENERATIVE_LESSONS:
        pytest.skip(f"{lesson} (it scores {model}) has a reference run but is not yet listed in "
                    "scoreboard.GENERATIVE_LESSONS: add it there and its rows join the scoreboard")
    rows = coverage(collect())[model]
    assert rows, f"no row of {lesson}'s reference run stands for {model} (pattern {COURSE_MODELS[model][1]!r})"


def test_coverage_finds_each_model_by_its_lesson_and_name(tmp_path):
    _figures(tmp_path, "05_vae", _quality("VAE β = 1 (prior samples)", 400.0, family="vae"),
             _quality("conditional VAE (every class)", 380.0, family="vae"))
    _figures(tmp_path, "09_fusion", _quality("VAE-GAN", 200.0, family="vae"))
    found = coverage(collect(tmp_path))
    assert found["VAE"] == ["VAE β = 1 (prior samples)"] and found["cVAE"] == ["conditional VAE (every class)"]
    assert found["VAE-GAN"] == ["VAE-GAN"] and found["DCGAN"] == [] and set(found) == set(COURSE_MODELS)
    with pytest.raises(TypeError, match="expects the Rows"):
        coverage([{"model": "G"}])


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def _code_cells(text: str) -> list[str]:
    """A notebook's code cells, less the one tagged ``bootstrap`` (it installs the package in a bare kernel and
    makes no figure, so adding or editing it leaves a reference run as current as it was)."""
    cells = json.loads(text)["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells
            if c["cell_type"] == "code" and "bootstrap" not in c.get("metadata", {}).get("tags", [])]


def test_provenance_leaves_out_the_bootstrap_cell_and_nothing_else():
    def notebook(*cells: tuple[str, list[str]]) -> str:
        return json.dumps({"cells": [{"cell_type": "code", "metadata": {"tags": tags}, "source": src}
                                     for src, tags in cells] + [{"cell_type": "markdown", "metadata": {}, "source": "x"}]})

    lesson = ("x = 1", ["parameters"]), ("y = x", [])
    assert _code_cells(notebook(*lesson)) == ["x = 1", "y = x"]
    assert _code_cells(notebook(("import genimg_course", ["bootstrap"]), *lesson)) == ["x = 1", "y = x"]
    assert _code_cells(notebook(("import genimg_course", ["setup"]), *lesson)) == ["import genimg_course", "x = 1",
                                                                                     "y = x"]


@pytest.mark.parametrize("lesson", list(GENERATIVE_LESSONS))
def test_each_reference_run_comes_from_a_run_of_the_current_code(lesson):
    """A scoreboard row is a run of the code that is here: the reference run's recorded commit is HEAD or one of
    its ancestors, and the lesson's code cells are the same now as at that commit (a notebook whose text alone
    changed still makes the same figures)."""
    if shutil.which("git") is None or _git("rev-parse", "HEAD").returncode != 0:
        pytest.skip("no git repository here (an installed package, or an export): provenance cannot be checked")
    path = REFERENCE_DIR / f"{lesson}.json"
    if not path.exists():
        pytest.skip(f"no shipped reference run of {lesson} (test_every_generative_lesson_has_rows... reports it)")
    runs = json.loads(path.read_text(encoding="utf-8")).get("runs", {})
    assert runs, f"{path.name} holds no runs"
    notebook = ROOT / "notebooks" / f"{lesson}.ipynb"
    for profile, run in runs.items():
        commit = str(run.get("commit", ""))
        assert commit, f"{path.name}'s {profile} run records no commit"
        if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
            pytest.skip(f"{path.name}'s {profile} commit {commit[:10]} is not in this clone (a shallow checkout?)")
        assert _git("merge-base", "--is-ancestor", commit, "HEAD").returncode == 0, (
            f"{path.name}'s {profile} run was made at {commit[:10]}, which is not HEAD or an ancestor of it: "
            "rerun the lesson and tools/make_reference.py on this branch")
        then = _git("show", f"{commit}:notebooks/{lesson}.ipynb")
        assert then.returncode == 0, f"notebooks/{lesson}.ipynb did not exist at {commit[:10]} ({path.name}, {profile})"
        changed = [i for i, (a, b) in enumerate(zip(_code_cells(then.stdout), _code_cells(notebook.read_text("utf-8"))))
                   if a != b]
        same_count = len(_code_cells(then.stdout)) == len(_code_cells(notebook.read_text("utf-8")))
        assert same_count and not changed, (
            f"notebooks/{lesson}.ipynb's code has changed since its {profile} reference run ({commit[:10]}): code "
            f"cells {changed or '(a different number of them)'} differ, so the scoreboard's {lesson} rows are not "
            f"from the current code. Rerun: genimg run --profile {profile} --out DIR notebooks/{lesson}.ipynb, then "
            "tools/make_reference.py DIR")
