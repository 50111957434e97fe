"""Lesson 08's style-weight explorer, headless: it draws once when built, ``update`` (what the slider
calls) re-optimises, and bad input is refused before any work."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from genimg_course import style as S  # noqa: E402
from genimg_course.widgets import StyleExplorer, style_explorer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def images():
    return S.load_photo("astronaut", 40), S.make_style_image(40, seed=0)


def test_draws_once_when_built_and_the_slider_reoptimises(images):
    content, style = images
    ex = style_explorer(content, style, steps=2, style_weight=1e5)
    assert isinstance(ex, StyleExplorer) and ex.runs == 1
    assert ex.result.shape == content.shape and 0 <= float(ex.result.min()) and float(ex.result.max()) <= 1
    assert ex.history["steps"] == 2 and ex.figure is not None and "β" in ex.info.value
    assert ex.wipe is not None and ex.wipe.after.shape == (3, 40, 40)
    assert set(ex.scores) == {"style", "held_out", "content_distance"}
    low = ex.scores["style"]
    ex.slider.value = 1e7  # what moving the slider does, without a browser
    assert ex.runs == 2 and ex.style_weight == pytest.approx(1e7)
    assert ex.scores["style"] < low  # a larger style weight pulls the Gram matrices closer
    torch.testing.assert_close(ex.wipe.after, ex.result[0])
    ex.update(1e5)  # seen before: from the cache, the same picture
    assert ex.runs == 2 and ex.scores["style"] == low


def test_the_same_weight_gives_the_same_result(images):
    content, style = images
    a = style_explorer(content, style, steps=2, style_weight=1e4)
    b = style_explorer(content, style, steps=2, style_weight=1e4)
    torch.testing.assert_close(a.result, b.result)


def test_bad_input_is_refused_before_any_work(images):
    content, style = images
    with pytest.raises(ValueError, match=r"needs at least 38×38 px"):
        style_explorer(content, style[..., :30, :30])
    nan = content.clone()
    nan[0, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="content contains NaN"):
        style_explorer(nan, style)
    with pytest.raises(ValueError, match=r"1/255"):
        style_explorer(content, style * 255)
    with pytest.raises(ValueError, match="slider's range"):
        style_explorer(content, style, style_weight=1e9)
    with pytest.raises(ValueError, match="0 < low < high"):
        style_explorer(content, style, weights=(1e5, 1e3))
    with pytest.raises(ValueError, match="steps"):
        style_explorer(content, style, steps=0)
    with pytest.raises(ValueError, match="optimizer"):
        style_explorer(content, style, optimizer="sgd")
    with pytest.raises(TypeError, match="features"):
        style_explorer(content, style, features="vgg")
    ex = style_explorer(content, style, steps=1)
    with pytest.raises(ValueError, match="slider's range"):
        ex.update(1.0)
