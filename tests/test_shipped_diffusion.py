"""Lesson 10's shipped diffusion models: hash-checked, frozen, of the recipe's U-Net, and they still score what
their files record (``check``: DDIM-10 / Euler-10 at n = 128, re-scored exactly as tools/make_diffusion_weights.py
scored it). The recorded rows carry the protocol's fields, and the claims the lesson reads from them hold: fewer
DDIM steps never help below 20, guidance raises the asked class's accuracy, the EMA row beats nothing it should not."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from genimg_course import diffusion as D
from genimg_course.data import load_mnist
from genimg_course.metrics import load_judge
from genimg_course.models.unet import UNet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import make_diffusion_weights as M  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", sorted(D.SHIPPED_DIFFUSION))
def test_a_shipped_model_loads_frozen_with_its_recipe_and_rows(name):
    from genimg_course.checkpoints import shipped_path
    assert shipped_path(D.SHIPPED_DIFFUSION[name]).stat().st_size < 2 * 2**20  # float16, well under 5 MB
    model = D.load_diffusion(name)
    assert isinstance(model, UNet) and model.num_classes == 10 and model.time_dim == 128
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    info = model.info
    assert {"recipe", "steps", "train_seconds", "scores", "raw_row", "check", "protocol", "loss_curve"} <= set(info)
    assert model.diffusion_kind == ("eps" if name == "ddpm" else "flow")
    assert (model.schedule.name == info["schedule"]["name"] and model.schedule.T == 1000) if name == "ddpm" \
        else not hasattr(model, "schedule")
    assert all(r["n"] == M.N_EVAL for r in info["scores"]) and len(info["scores"]) >= 5
    x = torch.zeros(2, 1, 28, 28)
    out = model(x, torch.tensor([0, 999]), torch.tensor([3, 10]))
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(D.SHIPPED_DIFFUSION))
def test_a_shipped_model_reproduces_its_check_row(name):
    model = D.load_diffusion(name)
    want = model.info["check"]
    got = M.row(model, want["method"], want["steps"], 1.0, getattr(model, "schedule", None),
                load_mnist("train", "offline", verbose=False), load_mnist("test", "offline", verbose=False),
                load_judge("cpu"), want["n"], eta=want.get("eta", 0.0))
    for k in ("fid", "floor", "precision", "recall", "class_accuracy", "near_copy_share"):  # KID draws random subsets
        assert got[k] == pytest.approx(want[k], abs=2e-3 * max(1.0, abs(want[k]))), f"{name} {k}"


def test_the_recorded_rows_say_what_the_lesson_reads_from_them():
    ddpm, flow = D.load_diffusion("ddpm"), D.load_diffusion("flow")
    rows = {(r["method"], r["steps"], r["guidance"]): r for r in ddpm.info["scores"]}
    assert {("ddpm", None, 1.0)} | {("ddim", k, 1.0) for k in M.DDIM_STEPS} <= set(rows)
    assert {("ddim", 50, g) for g in M.GUIDANCE} <= set(rows)
    # the unconditional row reads near chance on the asked class; guidance raises it
    assert "class_accuracy" not in rows[("ddim", 50, 0.0)]
    acc = [rows[("ddim", 50, g)]["class_accuracy"] for g in (1.0, 3.0)]
    assert acc[1] > acc[0]
    # every row sits above its floor, and DDIM-10 is worse than DDIM-50
    assert all(r["fid"] > r["floor"] for r in ddpm.info["scores"] + flow.info["scores"])
    assert rows[("ddim", 10, 1.0)]["fid"] > rows[("ddim", 50, 1.0)]["fid"]
    assert {(r["method"], r["steps"]) for r in flow.info["scores"]} >= set(M.FLOW_ROWS)
    assert all(r["evaluations"] == D.network_evaluations(r["method"], r["steps"], r["guidance"])
               for r in flow.info["scores"] if r["conditional"])
