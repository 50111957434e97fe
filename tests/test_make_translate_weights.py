"""tools/make_translate_weights.py end to end in its --smoke mode: the files it writes load safely, hold
float16 weights and record the scores of exactly those weights, and the shipped weights are never touched."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from genimg_course import translate as T
from genimg_course.checkpoints import WEIGHTS_DIR, load_checkpoint
from genimg_course.models.unet import UNet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import make_translate_weights as M  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _unet(state, key):
    G = UNet(**state["config"])
    G.load_state_dict({k: v.float() for k, v in state[key].items()})
    return G.eval()


@pytest.mark.parametrize("which", ["pix2pix_cgan", "cyclegan_nocycle"])
def test_a_smoke_run_writes_a_file_whose_scores_are_its_float16_weights(tmp_path, which):
    before = sorted(p.name for p in WEIGHTS_DIR.iterdir())
    M.main(["--which", which, "--smoke", "--out-dir", str(tmp_path)])
    assert sorted(p.name for p in WEIGHTS_DIR.iterdir()) == before
    state = load_checkpoint(tmp_path / f"translate_{which}.pt")
    kind = T.SHIPPED_TRANSLATORS[which][0]
    keys = ["model"] if kind == "pix2pix" else ["model_ab", "model_ba"]
    assert state["steps"] == 4 and state["name"] == which and "for 3 steps then 2e-5 for 1" in state["recipe"]
    assert all(v.dtype == torch.float16 for k in keys for v in state[k].values())
    if kind == "pix2pix":
        model = _unet(state, "model")
        assert "conditional PatchGAN" in state["recipe"]
    else:
        model = torch.nn.ModuleDict({k: _unet(state, f"model_{k}") for k in ("ab", "ba")})
        assert state["lam_cycle"] == 0 and "no identity term" in state["recipe"]
    got = M.score(kind, model, state["check_digits"], state["check_n"])
    for k, v in state["check"].items():
        assert got[k] == pytest.approx(v, abs=1e-3 * max(1.0, abs(v))), k


def test_the_command_line_refuses_bad_settings_before_training(tmp_path, capsys):
    for argv in (["--which", "pix2pix_gan"], ["--which", "cyclegan", "--smoke"], ["--which", "cyclegan", "--steps", "0",
                 "--out-dir", str(tmp_path)], []):
        with pytest.raises(SystemExit):
            M.main(argv)
    err = capsys.readouterr().err
    assert "invalid choice" in err and "give --out-dir" in err and "--steps: expected a whole number" in err
    assert not any(tmp_path.iterdir())
