"""figures: each lesson's figures JSON (atomic, strict JSON, the compute card's peaks)."""
from __future__ import annotations

import json
import math
import os

import pytest
import torch

from genimg_course.figures import Figures
from genimg_course.profiles import resolve

pytestmark = pytest.mark.usefixtures("isolated")


def read_strict_json(path):
    """Parse like a strict JSON reader (browsers, jq): NaN and Infinity are not JSON."""
    def refuse(token):
        raise ValueError(f"{token} is not valid JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_figures_writes_the_lesson_json_into_GENIMG_FIGURES_DIR(tmp_path, monkeypatch):
    monkeypatch.setenv("GENIMG_FIGURES_DIR", str(tmp_path / "figs"))
    figures = Figures("01_cnn_basics")
    assert figures.path == tmp_path / "figs" / "01_cnn_basics.json"
    assert read_strict_json(figures.path)["lesson"] == "01_cnn_basics"  # written on creation


def test_figures_default_to_figures_under_the_working_directory(isolated, monkeypatch):
    monkeypatch.delenv("GENIMG_FIGURES_DIR")
    assert Figures("00_setup").path.resolve() == (isolated / "figures" / "00_setup.json").resolve()


def test_an_explicit_folder_beats_the_environment(tmp_path):
    assert Figures("00_setup", folder=tmp_path).path == tmp_path / "00_setup.json"


def test_figures_record_the_profile_and_device():
    profile = resolve("smoke")
    values = read_strict_json(Figures("00_setup", profile).path)
    assert values["profile"] == "smoke" and values["device"] == str(profile.device)


def test_each_record_is_written_at_once_and_returned(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    assert figures.record("test_accuracy", 0.98) == 0.98
    figures.record("confusions", {"4": [9, 7]})
    values = read_strict_json(figures.path)
    assert values["test_accuracy"] == 0.98 and values["confusions"] == {"4": [9, 7]}
    assert values["elapsed_s"] >= 0


def test_figures_carry_the_compute_card_peaks_as_running_maxima(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    first = read_strict_json(figures.path)["peak_ram_gib"]
    assert 0 < first < 64  # this test process, in GiB
    figures.values["peak_ram_gib"] = 1e3  # a peak seen earlier is never lowered by a later write
    figures.record("x", 1)
    assert read_strict_json(figures.path)["peak_ram_gib"] == 1e3
    assert "peak_ram_gib" not in repr(figures)


def test_a_scalar_tensor_is_recorded_as_a_number(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    assert figures.record("loss", torch.tensor(0.5)) == 0.5
    assert read_strict_json(figures.path)["loss"] == 0.5


def test_recording_leaves_no_temporary_files(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    for i in range(3):
        figures.record(f"x{i}", i)
    assert os.listdir(tmp_path) == ["01_cnn_basics.json"]


def test_the_figures_file_gets_the_usual_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        path = Figures("00_setup", folder=tmp_path).path
    finally:
        os.umask(previous)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, torch.tensor(float("nan"))])
def test_nan_or_inf_is_refused(tmp_path, value):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    with pytest.raises(ValueError, match="NaN/inf"):
        figures.record("loss", value)
    assert "loss" not in read_strict_json(figures.path)


def test_nan_inside_a_list_is_refused(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    with pytest.raises(ValueError):
        figures.record("curve", [1.0, math.nan])
    read_strict_json(figures.path)


def test_a_non_serialisable_value_is_refused_with_its_type(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    with pytest.raises(TypeError, match="JSON-serialisable.*object"):
        figures.record("thing", object())


@pytest.mark.parametrize("lesson", ["", "a/b", "a\\b", None, 1])
def test_a_lesson_name_must_be_a_plain_name(tmp_path, lesson):
    with pytest.raises(ValueError, match="plain name"):
        Figures(lesson, folder=tmp_path)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the quality record

def quality(**kw):
    from genimg_course.figures import Quality

    base = dict(model="dcgan", family="gan", fid=56.0, kid=0.02, kid_std=0.003, n=500, floor=28.0,
                reference="test", train_seconds=80.0, sample_seconds=0.4, parameters=1_000_000, device="cpu")
    return Quality(**{**base, **kw})


def test_a_quality_record_is_written_under_its_model_and_read_back(tmp_path):
    from genimg_course.figures import read_quality

    figures = Figures("03_dcgan", folder=tmp_path)
    figures.record_quality(quality())
    figures.record_quality(quality(model="shipped", fid=40.0))
    stored = read_strict_json(figures.path)["quality"]
    assert sorted(stored) == ["dcgan", "shipped"] and stored["dcgan"]["ratio"] == 2.0
    pairs = read_quality(tmp_path)
    assert [(lesson, q.model) for lesson, q in pairs] == [("03_dcgan", "dcgan"), ("03_dcgan", "shipped")]
    assert pairs[0][1] == quality()


def test_the_ratio_is_fid_over_the_floor_at_the_same_n():
    assert quality(fid=84.0, floor=28.0).ratio == 3.0


@pytest.mark.parametrize("field, value, match", [
    ("n", 1, "n must be a whole number >= 2"),
    ("n", 2.5, "n must be a whole number"),
    ("fid", math.nan, "fid must be a finite number"),
    ("floor", 0.0, "floor .* must be positive"),
    ("reference", "training", "reference must be one of"),
    ("model", "", "model must be a non-empty string"),
    ("parameters", 0, "parameters must be a whole number >= 1"),
    ("train_seconds", -1.0, "train_seconds cannot be negative"),
])
def test_a_bad_quality_field_is_named_with_what_came(field, value, match):
    with pytest.raises(ValueError, match=match):
        quality(**{field: value})


def test_record_quality_refuses_a_plain_dict(tmp_path):
    with pytest.raises(TypeError, match="expects a Quality record, got dict"):
        Figures("03_dcgan", folder=tmp_path).record_quality({"fid": 1.0})


def test_a_quality_record_missing_fields_says_which():
    from genimg_course.figures import Quality

    with pytest.raises(ValueError, match=r"lacks \['device'"):
        Quality.from_dict({k: v for k, v in quality().to_dict().items() if k != "device"})
