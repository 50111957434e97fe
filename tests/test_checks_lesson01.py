"""Lesson 01's exercise checks and the conv explorer (proposed for tests/; written by the lesson-01 engineer)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genimg_course.checks.lesson01 import (_CONV_CASES, _TRANSPOSED_CASES, check_conv2d_by_hand,
                                           check_conv_output_size, check_conv_params, check_layer_shapes,
                                           check_transposed_output_size)
from genimg_course.widgets import KERNELS, apply_kernel, as_gray_image, conv_explorer


def conv2d_loops(x, w, stride=1, padding=0):
    x = F.pad(x, (padding,) * 4)
    kh, kw = w.shape
    h, wd = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    y = torch.zeros(h, wd)
    for i in range(h):
        for j in range(wd):
            y[i, j] = (x[i * stride:i * stride + kh, j * stride:j * stride + kw] * w).sum()
    return y


def test_the_size_cases_agree_with_pytorch():
    for n, k, p, s in _CONV_CASES:
        assert nn.Conv2d(1, 1, k, s, p)(torch.zeros(1, 1, n, n)).shape[-1] == (n + 2 * p - k) // s + 1
    for n, k, p, s, op in _TRANSPOSED_CASES:
        y = nn.ConvTranspose2d(1, 1, k, s, p, output_padding=op)(torch.zeros(1, 1, n, n))
        assert y.shape[-1] == (n - 1) * s - 2 * p + k + op


def test_correct_answers_pass_quickly():
    t0 = time.perf_counter()
    assert check_conv_output_size(lambda n, k, p, s: (n + 2 * p - k) // s + 1)
    assert check_conv2d_by_hand(conv2d_loops)
    assert check_conv_params(lambda ci, co, k, bias=True: co * ci * k * k + (co if bias else 0))
    assert check_layer_shapes(nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.MaxPool2d(2),
                                            nn.Conv2d(32, 64, 3, padding=1), nn.MaxPool2d(2)))
    assert check_transposed_output_size(lambda n, k, p, s, output_padding=0: (n - 1) * s - 2 * p + k + output_padding)
    assert time.perf_counter() - t0 < 5  # five checks, each well under a second


@pytest.mark.parametrize("fn, words", [
    (lambda n, k, p, s: (n + p - k) // s + 1, "each* side"),
    (lambda n, k, p, s: (n + 2 * p - k) // s, "+ 1"),
    (lambda n, k, p, s: (n + 2 * p - k) / s + 1, "floor division"),
    (lambda n, k, p, s: -(-(n + 2 * p - k) // s) + 1, "rounded up"),
])
def test_conv_output_size_names_the_case_and_the_mistake(fn, words):
    r = check_conv_output_size(fn)
    assert not r and words in r.message and ("expected" in r.message or "float" in r.message)


def test_flipped_kernel_is_named_as_convolution_vs_cross_correlation():
    r = check_conv2d_by_hand(lambda x, w, stride=1, padding=0: conv2d_loops(x, w.flip(0, 1), stride, padding))
    assert not r and "cross-correlation" in r.message


def test_ignored_stride_reports_expected_and_received_shapes():
    r = check_conv2d_by_hand(lambda x, w, stride=1, padding=0: conv2d_loops(x, w, 1, padding))
    assert not r and "expected an output of shape (4, 3), got (7, 6)" in r.message


def test_missing_keyword_arguments_name_the_signature():
    r = check_conv2d_by_hand(lambda x, w: conv2d_loops(x, w))
    assert not r and "(x, w, stride=1, padding=0)" in r.message


def test_layer_shapes_traces_each_layer_when_wrong():
    r = check_layer_shapes(nn.Sequential(nn.Conv2d(1, 32, 3), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.MaxPool2d(2)))
    assert not r and "expected output shape (B, 64, 7, 7), got (B, 64, 5, 5)" in r.message and "Conv2d (B, 32, 26, 26)" in r.message


def test_layer_shapes_names_the_layer_that_fails():
    r = check_layer_shapes(nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(16, 64, 3)))
    assert not r and "layer 1" in r.message and "(B, 32, 28, 28)" in r.message


def test_layer_shapes_restores_training_mode():
    net = nn.Sequential(nn.Conv2d(1, 64, 4, 4), nn.Conv2d(64, 64, 1))
    check_layer_shapes(net)
    assert net.training


def test_param_count_and_transposed_hints():
    assert "biases" in check_conv_params(lambda ci, co, k, bias=True: co * ci * k * k).message
    assert "forward convolution" in check_transposed_output_size(
        lambda n, k, p, s, output_padding=0: (n + 2 * p - k) // s + 1).message
    assert "output_padding" in check_transposed_output_size(
        lambda n, k, p, s, output_padding=0: (n - 1) * s - 2 * p + k).message


def test_unanswered_exercises_say_so():
    def stub(*a, **k):
        raise NotImplementedError()
    for chk in (check_conv_output_size, check_conv2d_by_hand, check_conv_params, check_transposed_output_size):
        assert "Not answered" in chk(stub).message
    assert "Not answered" in check_layer_shapes(...).message


@pytest.mark.parametrize("image", [torch.zeros(20, 30, dtype=torch.uint8), torch.rand(1, 20, 30), torch.rand(3, 20, 30) * 2 - 1,
                                   np.zeros((20, 30), np.float32)])
def test_apply_kernel_accepts_the_documented_layouts(image):
    y = apply_kernel(image, "Laplacian", stride=2, padding=1)
    assert tuple(y.shape) == ((20 + 2 - 3) // 2 + 1, (30 + 2 - 3) // 2 + 1)


def test_apply_kernel_matches_conv2d():
    x = torch.rand(12, 12)
    for name, w in KERNELS.items():
        assert torch.allclose(apply_kernel(x, name), F.conv2d(x[None, None], w[None, None])[0, 0])


@pytest.mark.parametrize("bad, words", [
    (torch.zeros(1, 1, 8, 8), "batch"), (torch.zeros(8, 8, 3), "channels first"), (torch.zeros(2, 2), "3x3"),
    ("image.png", "tensor"), (torch.zeros(8, 8, dtype=torch.int64), "uint8"),
])
def test_bad_images_are_named(bad, words):
    with pytest.raises((TypeError, ValueError)) as e:
        as_gray_image(bad)
    assert words in str(e.value)


def test_conv_explorer_builds_and_draws_once():
    w = conv_explorer(torch.rand(3, 32, 32), kernel="blur (box)", stride=2, padding=1)
    assert "(16, 16)" in w.children[1].value  # the shape line: (32 + 2 - 3) // 2 + 1 = 16
    w.children[0].children[1].value = 3  # stride slider: redraws
    assert "(11, 11)" in w.children[1].value


# --------------------------------------------------------------------------------------------
# conv2d_by_hand must be computed by hand: torch's own convolutions are refused (review M8)
# --------------------------------------------------------------------------------------------

def _via_f_conv2d(x, w, stride=1, padding=0):
    return F.conv2d(x[None, None], w[None, None], stride=stride, padding=padding)[0, 0]


def _via_torch_conv2d(x, w, stride=1, padding=0):
    return torch.conv2d(x[None, None], w[None, None], stride=stride, padding=padding)[0, 0]


def _via_layer(x, w, stride=1, padding=0):
    layer = nn.Conv2d(1, 1, tuple(w.shape), stride=stride, padding=padding, bias=False)
    with torch.no_grad():
        layer.weight.copy_(w[None, None])
    return layer(x[None, None])[0, 0].detach()


def _via_im2col(x, w, stride=1, padding=0):
    h = (x.shape[0] + 2 * padding - w.shape[0]) // stride + 1
    wd = (x.shape[1] + 2 * padding - w.shape[1]) // stride + 1
    return (w.reshape(1, -1) @ F.unfold(x[None, None], tuple(w.shape), padding=padding, stride=stride)).reshape(h, wd)


@pytest.mark.parametrize("fn, name", [(_via_f_conv2d, "F.conv2d"), (_via_torch_conv2d, "torch.conv2d"),
                                      (_via_layer, "F.conv2d"), (_via_im2col, "F.unfold")])
def test_conv2d_by_hand_refuses_torchs_own_convolution(fn, name):
    r = check_conv2d_by_hand(fn)
    assert not r and f"use loops and sums, not {name}" in r.message and "Traceback" not in r.message


def test_torchs_convolutions_are_restored_after_the_check():
    before = (F.conv2d, torch.conv2d, F.unfold)
    check_conv2d_by_hand(_via_f_conv2d)
    check_conv2d_by_hand(conv2d_loops)
    assert (F.conv2d, torch.conv2d, F.unfold) == before
    assert nn.Conv2d(1, 1, 3)(torch.zeros(1, 1, 5, 5)).shape == (1, 1, 3, 3)


def test_conv2d_by_hand_accepts_correct_answers_written_differently():
    def windows(x, w, stride=1, padding=0):  # Tensor.unfold: a strided view of the windows, then multiply and sum
        x = F.pad(x, (padding,) * 4)
        return (x.unfold(0, w.shape[0], stride).unfold(1, w.shape[1], stride) * w).sum((-1, -2))

    def in_numpy(x, w, stride=1, padding=0):  # NumPy loops, returning an ndarray of float64
        x, w = np.pad(x.numpy(), padding).astype(np.float64), w.numpy()
        h, wd = (x.shape[0] - w.shape[0]) // stride + 1, (x.shape[1] - w.shape[1]) // stride + 1
        return np.array([[(x[i * stride:i * stride + w.shape[0], j * stride:j * stride + w.shape[1]] * w).sum()
                          for j in range(wd)] for i in range(h)])

    assert check_conv2d_by_hand(windows) and check_conv2d_by_hand(in_numpy)


def test_layer_shapes_accepts_a_function_that_builds_the_net_and_says_when_unanswered():
    def make_net():
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.MaxPool2d(2))

    def stub():
        raise NotImplementedError()

    assert check_layer_shapes(make_net)
    assert "Not answered" in check_layer_shapes(stub).message
