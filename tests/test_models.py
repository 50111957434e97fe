"""models: the CNN classifier that lesson 01 builds and that later lessons use as the judge."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from genimg_course.models import CNNClassifier

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture(scope="module")
def model() -> CNNClassifier:
    torch.manual_seed(0)
    return CNNClassifier(width=4).eval()


def test_forward_gives_one_logit_per_class(model):
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_features_are_feature_dim_wide(model):
    assert model.features(torch.zeros(3, 1, 28, 28)).shape == (3, 128)


def test_custom_sizes_change_the_output_shapes():
    m = CNNClassifier(in_channels=3, num_classes=4, width=2, feature_dim=16)
    x = torch.zeros(2, 3, 28, 28)
    assert m(x).shape == (2, 4) and m.features(x).shape == (2, 16)
    assert m.in_channels == 3 and m.num_classes == 4 and m.feature_dim == 16


def test_the_body_is_two_conv_blocks_halving_the_size_each(model):
    first_conv = model.body[0][0]
    assert isinstance(first_conv, nn.Conv2d)
    assert (first_conv.in_channels, first_conv.out_channels, first_conv.kernel_size) == (1, 4, (3, 3))
    x = torch.zeros(2, 1, 28, 28)
    assert model.body[0](x).shape == (2, 4, 14, 14)
    assert model.body(x).shape == (2, 8, 7, 7)


def test_other_image_sizes_are_accepted(model):
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


def test_eval_mode_is_deterministic(model):
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(model(x), model(x))


def test_every_parameter_gets_a_gradient():
    m = CNNClassifier(width=4)
    m(torch.randn(4, 1, 28, 28)).logsumexp(1).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


@pytest.mark.parametrize("x", [torch.zeros(2, 3, 28, 28), torch.zeros(1, 28, 28), torch.zeros(28, 28)])
def test_wrong_image_layout_names_the_expected_shape(model, x):
    with pytest.raises(ValueError) as err:
        model(x)
    assert f"expects images of shape (B, 1, H, W), got {tuple(x.shape)}" in str(err.value)


def test_a_non_tensor_input_is_refused(model):
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\), got list"):
        model([[0.0]])


def test_uint8_images_are_refused_with_a_pointer_to_to_float(model):
    with pytest.raises(TypeError, match="to_float"):
        model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


def test_features_check_their_input_too(model):
    with pytest.raises(TypeError, match="float"):
        model.features(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


@pytest.mark.parametrize("kwargs, name", [
    ({"width": 0}, "width"),
    ({"in_channels": -1}, "in_channels"),
    ({"num_classes": 2.5}, "num_classes"),
    ({"feature_dim": "128"}, "feature_dim"),
])
def test_bad_constructor_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        CNNClassifier(**kwargs)


def test_an_impossible_dropout_is_refused():
    with pytest.raises(ValueError):
        CNNClassifier(dropout=1.5)
