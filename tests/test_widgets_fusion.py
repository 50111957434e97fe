"""widgets.edit_explorer: sliders along latent edit directions (lesson 09)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest
import torch

from genimg_course.fusion import Direction, slant, stroke_thickness
from genimg_course.gan import load_pretrained
from genimg_course.widgets import edit_explorer


@pytest.fixture(scope="module")
def G():
    return load_pretrained("dcgan_mnist")


def test_sliders_move_the_codes_along_the_directions(G):
    z = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
    d = torch.zeros(64)
    d[0] = 1.0
    ex = edit_explorer(G, z, {"first": d, "second": Direction("second", torch.eye(64)[1], 1.0, 1.0)},
                       measures={"thickness": stroke_thickness, "slant": slant})
    assert set(ex.sliders) == {"first", "second"}
    torch.testing.assert_close(ex.edited, z)
    assert ex.images.shape == (3, 28, 28) and set(ex.readings) == {"thickness", "slant"}
    ex.sliders["first"].value = 2.0
    ex.sliders["second"].value = -1.0
    torch.testing.assert_close(ex.edited[:, 0], z[:, 0] + 2)
    torch.testing.assert_close(ex.edited[:, 1], z[:, 1] - 1)
    assert not torch.equal(ex.images, ((ex.original[:, 0] + 1) / 2).clamp(0, 1))
    ex.reset.click()
    torch.testing.assert_close(ex.edited, z)
    assert "EditExplorer(3 codes" in repr(ex)


def test_the_judge_label_is_read(G):
    from genimg_course.metrics import load_judge
    ex = edit_explorer(G, torch.randn(2, 64), {"d": torch.eye(64)[0]}, judge=load_judge().classifier)
    assert ex.images.shape == (2, 28, 28)


def test_bad_input_is_named(G):
    with pytest.raises(ValueError, match=r"direction 'd' must have G's latent dimension, shape \(64,\)"):
        edit_explorer(G, torch.randn(2, 64), {"d": torch.zeros(10)})
    with pytest.raises(ValueError, match=r"\(B, 64\)"):
        edit_explorer(G, torch.randn(2, 10), {"d": torch.zeros(64)})
    with pytest.raises(ValueError, match="non-empty dict"):
        edit_explorer(G, torch.randn(2, 64), {})
    with pytest.raises(TypeError, match="measures"):
        edit_explorer(G, torch.randn(2, 64), {"d": torch.zeros(64)}, measures={"m": 3})
