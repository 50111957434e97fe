"""viz: image grids, loss curves, feature maps and filters."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from genimg_course.models import CNNClassifier  # noqa: E402
from genimg_course.train import History, fit  # noqa: E402
from genimg_course.viz import LiveLossPlot, plot_feature_maps, plot_filters, plot_history, show_images  # noqa: E402

pytestmark = pytest.mark.usefixtures("isolated")


def shown(ax) -> torch.Tensor:
    """The RGB grid an Axes displays, as a float tensor (H, W, 3)."""
    return torch.as_tensor(ax.images[0].get_array().data)


# ---------------------------------------------------------------- show_images

@pytest.mark.parametrize("images", [
    torch.zeros(5, 1, 28, 28, dtype=torch.uint8),
    torch.rand(5, 1, 28, 28) * 2 - 1,
    torch.rand(5, 1, 28, 28),
    torch.rand(4, 3, 16, 16),
    torch.rand(28, 28),
    torch.rand(3, 8, 8),
    torch.rand(6, 8, 8),
], ids=["uint8", "float -1..1", "float 0..1", "rgb batch", "(H, W)", "(C, H, W) rgb", "(B, H, W)"])
def test_show_images_accepts_common_layouts_and_dtypes(images):
    ax = show_images(images, nrow=4, title="t")
    assert isinstance(ax, plt.Axes) and ax.get_title() == "t"
    grid = shown(ax)
    assert grid.min() >= 0 and grid.max() <= 1


def test_show_images_maps_uint8_0_255_to_black_and_white():
    x = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    x[1] = 255
    grid = shown(show_images(x, nrow=2))
    assert grid[1:5, 1:5].max() == 0 and grid[1:5, 6:10].min() == 1  # 1-pixel padding between images


def test_show_images_maps_minus1_1_floats_to_black_and_white():
    x = torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 1, 4, 4)
    grid = shown(show_images(x, nrow=2))
    assert grid[1:5, 1:5].max() == 0 and grid[1:5, 6:10].min() == 1


def test_show_images_honours_an_explicit_value_range():
    x = torch.full((1, 1, 4, 4), 5.0)
    assert shown(show_images(x, value_range=(0.0, 10.0)))[2, 2, 0] == pytest.approx(0.5)


def test_show_images_draws_into_a_given_axes():
    _, ax = plt.subplots()
    assert show_images(torch.rand(2, 1, 8, 8), ax=ax) is ax


def test_show_images_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="empty batch"):
        show_images(torch.zeros(0, 1, 28, 28))


def test_show_images_refuses_nan():
    x = torch.zeros(2, 1, 8, 8)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        show_images(x)


def test_show_images_refuses_two_channel_images():
    with pytest.raises(ValueError, match=r"\(B, 1 or 3, H, W\), got \(2, 2, 8, 8\)"):
        show_images(torch.zeros(2, 2, 8, 8))


def test_show_images_refuses_integer_images_other_than_uint8():
    with pytest.raises(TypeError, match="uint8 or float"):
        show_images(torch.zeros(2, 1, 8, 8, dtype=torch.int64))


def test_show_images_refuses_a_non_tensor():
    with pytest.raises(TypeError, match="tensor"):
        show_images([[0, 1]])


# ---------------------------------------------------------------- plot_history

HISTORY = History([10, 20, 30], {"loss": [2.0, 1.0, 0.5], "acc": [0.2, 0.6, 0.8]})


def test_plot_history_draws_one_line_per_logged_value():
    ax = plot_history(HISTORY)
    assert [line.get_label() for line in ax.get_lines()] == ["loss", "acc"]
    assert list(ax.get_lines()[0].get_xdata()) == [10, 20, 30]


def test_plot_history_draws_only_the_chosen_keys_and_log_scale():
    ax = plot_history(HISTORY, keys=["loss"], log_y=True)
    assert [line.get_label() for line in ax.get_lines()] == ["loss"]
    assert ax.get_yscale() == "log"


def test_plot_history_unknown_key_lists_the_logged_ones():
    with pytest.raises(KeyError, match=r"\['lr'\].*\['acc', 'loss'\]"):
        plot_history(HISTORY, keys=["lr"])


def test_plot_history_refuses_something_that_is_not_a_history():
    with pytest.raises(TypeError, match="History"):
        plot_history({"loss": [1.0]})  # type: ignore[arg-type]


# ---------------------------------------------------------------- feature maps and filters

def test_plot_feature_maps_shows_up_to_max_maps():
    fig = plot_feature_maps(torch.rand(1, 10, 7, 7), max_maps=6, ncol=4)
    assert sum(len(ax.images) for ax in fig.axes) == 6


def test_plot_feature_maps_accepts_c_h_w():
    fig = plot_feature_maps(torch.rand(3, 7, 7), title="maps")
    assert sum(len(ax.images) for ax in fig.axes) == 3


@pytest.mark.parametrize("maps", [torch.rand(2, 4, 7, 7), torch.rand(7, 7), torch.rand(7)])
def test_plot_feature_maps_refuses_other_shapes(maps):
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(1, C, H, W\)"):
        plot_feature_maps(maps)


def test_plot_filters_shows_a_real_first_layer_on_a_symmetric_scale():
    weight = CNNClassifier(width=8).body[0][0].weight  # (8, 1, 3, 3)
    fig = plot_filters(weight)
    images = [im for ax in fig.axes for im in ax.images]
    assert len(images) == 8
    lo, hi = images[0].get_clim()
    assert lo == -hi and hi == pytest.approx(float(weight.detach().abs().max()))


def test_plot_filters_shows_up_to_max_filters():
    fig = plot_filters(torch.randn(40, 3, 5, 5), max_filters=12)
    assert sum(len(ax.images) for ax in fig.axes) == 12


@pytest.mark.parametrize("weight", [torch.randn(8, 3, 3), "weights"])
def test_plot_filters_refuses_non_conv_weights(weight):
    with pytest.raises(ValueError, match=r"\(C_out, C_in, k, k\)"):
        plot_filters(weight)


# ---------------------------------------------------------------- LiveLossPlot

class CountingTask:
    def __init__(self):
        self.modules, self.optimizers = {"m": torch.nn.Linear(1, 1)}, {}

    def step(self, batch, ctx):
        return {"loss": torch.tensor(1.0)}


def test_live_loss_plot_does_nothing_outside_a_notebook():
    plot = LiveLossPlot()
    fit(CountingTask(), iter(lambda: (torch.zeros(2, 1),), None), steps=6, log_every=2, callbacks=[plot], progress=False)
    assert plt.get_fignums() == []


def test_live_loss_plot_every_must_be_at_least_one():
    with pytest.raises(ValueError, match="every must be >= 1"):
        LiveLossPlot(every=0)


def test_live_loss_plot_in_a_notebook_displays_once_then_updates_in_place(fake_notebook):
    shown_figs, updates = fake_notebook
    plot = LiveLossPlot(every=2)
    for n in range(1, 7):
        plot(History(list(range(1, n + 1)), {"loss": [1.0] * n}))
    assert len(shown_figs) == 1 and len(updates) == 2  # calls 2, 4, 6 draw
    assert plt.get_fignums() == []  # each drawn figure is closed, not left to pile up
