"""tools/make_restore_weights.py end to end on a tiny budget: the file it writes loads safely, records the
rows of evaluate_restorer on the held-out images for the float16 weights it stores, and names its recipe."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from genimg_course import restore as R
from genimg_course.checkpoints import load_checkpoint
from genimg_course.models.unet import UNet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import make_restore_weights as M  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_tiny_run_writes_a_file_whose_rows_are_its_float16_weights_scores(tmp_path, monkeypatch):
    monkeypatch.setattr(M, "N_TEST_DIGITS", 40)
    monkeypatch.setattr(M, "N_TUNE", 20)
    path = M.train("denoise25", "mnist", steps=4, fine=2, width=8, batch=16, seed=0, out_dir=tmp_path)
    state = load_checkpoint(path)
    assert state["steps"] == 6 and state["task"] == "denoise25" and "Adam lr 1e-3 for 4 steps" in state["recipe"]
    assert all(v.dtype == torch.float16 for v in state["model"].values())
    assert set(state["baseline_params"]) == set(R.DENOISE_METHODS)
    assert set(state["judge_accuracy"]) == {"clean", "input", "model", max(
        (r for r in state["rows"] if r["kind"] == "baseline"), key=lambda r: r["psnr"])["method"]}
    model = UNet(**state["config"])
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    model.eval()
    clean, _ = M.held_out("mnist")
    baselines, _ = R.tuned_baselines("denoise25", None, params=state["baseline_params"])
    rows = R.evaluate_restorer(model, "denoise25", clean, baselines=baselines, seed=0)
    assert [r["psnr"] for r in rows] == pytest.approx([r["psnr"] for r in state["rows"]], abs=1e-4)


def test_the_dihedral_augmentation_turns_and_flips_but_keeps_the_pixels():
    x = torch.arange(2 * 16, dtype=torch.float32).view(2, 1, 4, 4)
    seen = {tuple(b.flatten().tolist()) for b, _ in M.dihedral(iter([(x, None)] * 40), seed=0)}
    assert 5 <= len(seen) <= 8  # of the square's 8 symmetries, most appear in 40 batches
    for b in seen:
        assert sorted(b) == sorted(x.flatten().tolist())


def test_the_command_line_refuses_a_restorer_that_is_not_shipped(capsys):
    with pytest.raises(SystemExit):
        M.main(["--task", "sr2", "--data", "photo_hd"])
    with pytest.raises(SystemExit):
        M.main(["--task", "colourise"])
    assert "not a shipped restorer" in capsys.readouterr().err
