"""tools/make_gan_weights.py: the recipe's learning-rate schedule, and a tiny end-to-end run that
writes a shipped-format file scored under the protocol, then re-scores it."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("make_gan_weights", ROOT / "tools" / "make_gan_weights.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_linear_decay_holds_then_falls_to_zero(tool) -> None:
    f = tool.linear_decay(5e-4, 100, 200)
    assert [f(0), f(99), f(100), f(150), f(200), f(300)] == [5e-4, 5e-4, 5e-4, 2.5e-4, 0.0, 0.0]
    with pytest.raises(ValueError, match="below --decay-to"):
        tool.linear_decay(1e-3, 5, 5)


def test_adam_steps_counts_updates(tool) -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.Adam([w])
    assert tool._adam_steps(opt) == 0
    for _ in range(3):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    assert tool._adam_steps(opt) == 3


def test_a_tiny_run_ships_protocol_scores_and_rescores_to_the_same(tool, tmp_path, capsys) -> None:
    from genimg_course.checkpoints import load_checkpoint
    out = tmp_path / "g.pt"
    tool.main(["--which", "cgan", "--steps", "3", "--batch", "8", "--width", "8", "--ema", "0.9",
               "--decay-from", "1", "--decay-to", "3", "--out", str(out)])
    state = load_checkpoint(out)
    assert state["protocol"].startswith("metrics.evaluate_generator, n = 500")
    assert state["steps"] == 3 and state["fid_samples"] == 500 and 0 <= state["class_accuracy"] <= 1
    assert "lr decayed linearly to 0 from step 1 to 3" in state["recipe"]
    again = tmp_path / "again.pt"
    tool.main(["--which", "cgan", "--width", "8", "--rescore", str(out), "--out", str(again)])
    redo = load_checkpoint(again)
    assert redo["fid"] == pytest.approx(state["fid"], rel=1e-6) and redo["steps"] == 3
    assert redo["recipe"] == state["recipe"]
    assert "shipping" in capsys.readouterr().out


def test_rescore_and_ship_checkpoint_name_a_file_of_another_recipe(tool, tmp_path, capsys) -> None:
    from genimg_course.checkpoints import save_checkpoint
    shipped = tmp_path / "g.pt"
    save_checkpoint({"config": {"latent_dim": 64, "width": 8}, "G": {}}, shipped)
    with pytest.raises(SystemExit):
        tool.main(["--which", "cgan", "--rescore", str(shipped), "--out", str(tmp_path / "o.pt")])
    assert "expected a shipped file of --which cgan" in capsys.readouterr().err
    ck = tmp_path / "ck.pt"
    save_checkpoint({"modules": {"G": {}}, "step": 3}, ck)
    with pytest.raises(SystemExit):
        tool.main(["--which", "dcgan", "--ema", "0.9", "--ship-checkpoint", str(ck), "--out", str(tmp_path / "o.pt")])
    assert "expected a fit checkpoint of this recipe with modules" in capsys.readouterr().err
