"""tools/make_diffusion_weights.py end to end in its --smoke mode: the file it writes loads safely, holds float16
EMA weights of the recipe's U-Net, records protocol rows of exactly those weights, and the shipped weights are never
touched; the command line refuses bad settings before any training."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from genimg_course.checkpoints import WEIGHTS_DIR, load_checkpoint
from genimg_course.data import load_mnist
from genimg_course.metrics import load_judge
from genimg_course.models.unet import UNet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import make_diffusion_weights as M  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

ROW_KEYS = {"method", "steps", "guidance", "conditional", "evaluations", "fid", "floor", "n", "kid", "kid_std",
            "precision", "recall", "near_copy_share", "train_distance_ratio", "sample_seconds"}


@pytest.mark.parametrize("which", ["ddpm", "flow"])
def test_a_smoke_run_writes_a_file_whose_rows_are_its_float16_weights(tmp_path, which):
    before = sorted(p.name for p in WEIGHTS_DIR.iterdir())
    M.main(["--which", which, "--smoke", "--out-dir", str(tmp_path)])
    assert sorted(p.name for p in WEIGHTS_DIR.iterdir()) == before
    state = load_checkpoint(tmp_path / f"diffusion_{which}.pt")
    assert state["steps"] == 3 and state["name"] == which and state["kind"] == ("eps" if which == "ddpm" else "flow")
    assert all(v.dtype == torch.float16 for v in state["model"].values())
    assert state["config"]["num_classes"] == 10 and state["config"]["time_dim"] == 128 and state["width"] == 8
    assert ("linear schedule" in state["recipe"]) == (which == "ddpm") and "EMA 0.999" in state["recipe"]
    assert state["scores"] and all(ROW_KEYS <= set(r) for r in state["scores"] + [state["raw_row"], state["check"]])
    for r in state["scores"]:
        assert r["n"] == 128 and r["floor"] > 0 and r["evaluations"] >= r["steps"]
        assert ("class_accuracy" in r) == r["conditional"]
    guided = [r for r in state["scores"] if r["guidance"] not in (0.0, 1.0)]
    assert guided and all(r["evaluations"] == 2 * (2 * r["steps"] - 1 if r["method"] == "heun" else r["steps"])
                          for r in guided)
    model = UNet(**state["config"])
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    model.eval().diffusion_kind = state["kind"]
    from genimg_course import diffusion as D
    sched = M.SCHEDULES[state["schedule"]["name"]](1000) if which == "ddpm" else None
    got = M.row(model, state["check"]["method"], 10, 1.0, sched, load_mnist("train", "offline", verbose=False),
                load_mnist("test", "offline", verbose=False), load_judge("cpu"), 128, eta=state["check"].get("eta", 0.0))
    for k in ("fid", "floor", "precision", "recall", "class_accuracy"):
        assert got[k] == pytest.approx(state["check"][k], abs=1e-3 * max(1.0, abs(state["check"][k]))), k


def test_the_command_line_refuses_bad_settings_before_training(tmp_path, capsys):
    for argv in (["--which", "gan"], ["--which", "ddpm", "--smoke"], ["--which", "flow", "--steps", "0",
                 "--out-dir", str(tmp_path)], ["--which", "ddpm", "--lr", "0", "--out-dir", str(tmp_path)], [],
                 ["--which", "ddpm", "--score", "flow"]):
        with pytest.raises(SystemExit):
            M.main(argv)
    err = capsys.readouterr().err
    assert "invalid choice" in err and "give --out-dir" in err and "--steps: expected a whole number" in err
    assert "--lr: expected a positive" in err and "give one of --which" in err
    assert not any(tmp_path.iterdir())
