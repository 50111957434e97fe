"""genimg_course.scoreboard: every generative lesson's quality records in one table, read from figures JSON (the
shipped reference runs, or a `genimg run` folder), never retyped; rows that do not compare (another n, another
reference split, another floor) are refused in one column, and a missing lesson is named with how to make it."""
from __future__ import annotations

import json

import pytest

from genimg_course.figures import Quality
from genimg_course.scoreboard import GENERATIVE_LESSONS, collect, missing, plot, table


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
