"""tools/make_fusion_weights.py end to end in its --smoke mode: the files it writes load safely, hold float16
weights of the recipe's networks and the scores the lesson reads, and the shipped weights are never touched; the
command line refuses bad settings before any training."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from genimg_course.checkpoints import WEIGHTS_DIR, load_checkpoint
from genimg_course.models import ConvVAE
from genimg_course.models.vae import ConvEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import make_fusion_weights as M  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

VAE_SCORES = {"fid", "floor", "n", "kid", "kid_std", "precision", "recall", "near_copy_share", "train_distance_ratio",
              "recon_mse", "recon_nll"}
ENCODER_SCORES = {"encoder_accuracy", "encoder_mse", "digits_accuracy", "encoder_50_accuracy", "encoder_50_mse",
                  "encoder_200_accuracy", "encoder_200_mse"}


def test_a_smoke_run_writes_three_float16_files_with_their_scores(tmp_path):
    before = sorted((p.name, p.stat().st_mtime_ns) for p in WEIGHTS_DIR.iterdir())
    M.main(["--smoke", "--out-dir", str(tmp_path)])
    assert sorted((p.name, p.stat().st_mtime_ns) for p in WEIGHTS_DIR.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fusion_encoder.pt", "fusion_vae_twin.pt", "fusion_vaegan.pt"]
    for name in M.NAMES:
        state = load_checkpoint(tmp_path / f"fusion_{name}.pt")
        assert state["steps"] == 3 and state["name"] == name and state["seed"] == 0 and state["batch"] == 64
        assert all(v.dtype == torch.float16 for v in state["model"].values())
        model = ConvVAE(**state["config"]) if state["kind"] == "vae" else ConvEncoder(**state["config"])
        model.load_state_dict({k: v.float() for k, v in state["model"].items()})
        want = VAE_SCORES if state["kind"] == "vae" else ENCODER_SCORES
        assert want <= set(state["scores"]), name
        assert all(isinstance(v, (int, float)) for v in state["scores"].values())
    vaegan, twin = (load_checkpoint(tmp_path / f"fusion_{n}.pt") for n in ("vaegan", "vae_twin"))
    assert "VAEGANTask" in vaegan["recipe"] and "spectral_norm=True" in vaegan["recipe"] and "twin" in twin["recipe"]
    assert vaegan["scores"]["n"] == twin["scores"]["n"] == 128 and vaegan["scores"]["floor"] == twin["scores"]["floor"]
    assert load_checkpoint(tmp_path / "fusion_encoder.pt")["config"]["out_dim"] == 64


def test_the_twins_start_from_the_same_weights(tmp_path, monkeypatch):
    seen = []
    real_fit = M.fit

    def spy(task, *args, **kwargs):
        m = task.modules.get("model") or task.vae
        seen.append({k: v.clone() for k, v in m.state_dict().items()})
        return real_fit(task, *args, **kwargs)

    monkeypatch.setattr(M, "fit", spy)
    M.main(["--smoke", "--which", "vaes", "--out-dir", str(tmp_path)])
    assert len(seen) == 2 and all(torch.equal(seen[0][k], seen[1][k]) for k in seen[0])


def test_the_command_line_refuses_bad_settings_before_training(tmp_path, capsys):
    for argv in (["--smoke"], ["--steps-vae", "0", "--out-dir", str(tmp_path)],
                 ["--batch", "0", "--out-dir", str(tmp_path)], ["--which", "gan", "--out-dir", str(tmp_path)]):
        with pytest.raises(SystemExit):
            M.main(argv)
    err = capsys.readouterr().err
    assert "give --out-dir" in err and "--steps-vae: expected a whole number" in err and "invalid choice" in err
    assert "--batch: expected a whole number" in err
    assert not any(tmp_path.iterdir())
