"""Lesson 03's exercise checks: right answers pass, slips get a hint that names the mistake,
unanswered exercises say so, and nothing prints a traceback."""
from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from genimg_course.checks.lesson03 import (_STACKS, check_fixed_seed_generator, check_seed_shape_bug,
                                           check_transposed_sizes, check_upsampling_stack, transposed_size)
from genimg_course.models import SeedGenerator


def sizes_with(formula):
    def transposed_sizes(n, layers):
        out = [n]
        for k, s, p, op in layers:
            out.append(formula(out[-1], k, s, p, op))
        return out
    return transposed_sizes


right_sizes = sizes_with(lambda n, k, s, p, op: (n - 1) * s - 2 * p + k + op)
DCGAN_STACK = [(7, 1, 0, 0), (4, 2, 1, 0), (4, 2, 1, 0)]


def fixed_seed_generator(last=nn.Tanh):
    G = SeedGenerator(latent_dim=100)
    G.up.append(nn.ConvTranspose2d(64, 64, 4, 2, 1))
    G.up.append(nn.BatchNorm2d(64))
    G.up.append(nn.LeakyReLU(0.3))
    if last is not None:
        G.out = nn.Sequential(G.out, last())
    return G


def test_reference_formula_agrees_with_pytorch_on_every_stack():
    for n, layers in _STACKS:
        x = torch.zeros(1, 1, n, n)
        for k, s, p, op in layers:
            expected = transposed_size(x.shape[-1], k, s, p, op)
            x = nn.ConvTranspose2d(1, 1, k, s, p, output_padding=op)(x)
            assert x.shape[-1] == expected


def test_right_answers_pass_quickly():
    t0 = time.perf_counter()
    assert check_transposed_sizes(right_sizes)
    assert check_upsampling_stack(DCGAN_STACK)
    assert check_seed_shape_bug((32, 64))
    assert check_fixed_seed_generator(fixed_seed_generator())
    assert time.perf_counter() - t0 < 8  # four checks, each well under a second on a quiet CPU


def fix_seed_generator(G):
    G.up.append(nn.ConvTranspose2d(64, 64, 4, 2, 1))
    G.out = nn.Sequential(G.out, nn.Tanh())
    return G


def test_answers_given_as_functions_pass():  # the notebook's form: the student version raises inside them
    assert check_seed_shape_bug(lambda: (32, 64))
    assert check_upsampling_stack(lambda: DCGAN_STACK)
    assert check_fixed_seed_generator(fix_seed_generator)


def test_a_fix_function_that_forgets_to_return_is_named():
    def fix(G):
        fix_seed_generator(G)
    r = check_fixed_seed_generator(fix)
    assert not r and "return G" in r.message


def test_equivalent_answer_forms_pass():
    assert check_upsampling_stack([(7, 1, 0), (4, 2, 1), (4, 2, 1)])  # output_padding left out
    assert check_upsampling_stack([nn.ConvTranspose2d(64, 32, 7, 1, 0), nn.ConvTranspose2d(32, 16, 4, 2, 1),
                                   nn.ConvTranspose2d(16, 1, 4, 2, 1)])
    assert check_seed_shape_bug(((3, 32, 32), (3, 64, 64)))
    assert check_transposed_sizes(lambda n, layers: torch.tensor(right_sizes(n, layers)))


@pytest.mark.parametrize("formula, words", [
    (lambda n, k, s, p, op: (n - 1) * s - 2 * p + k, "output_padding is missing"),
    (lambda n, k, s, p, op: (n + 2 * p - k) // s + 1, "forward"),
    (lambda n, k, s, p, op: (n - 1) * s + 2 * p + k + op, "crops"),
    (lambda n, k, s, p, op: (n - 1) * s - p + k + op, "both"),
    (lambda n, k, s, p, op: n * s - 2 * p + k + op, "(n - 1)"),
], ids=["no output_padding", "forward conv", "+2p", "-p", "n*s"])
def test_transposed_sizes_slips_are_named(formula, words):
    r = check_transposed_sizes(sizes_with(formula))
    assert not r and words in r.message and "expected" in r.message


def test_transposed_sizes_without_the_input_size_is_named():
    r = check_transposed_sizes(lambda n, layers: right_sizes(n, layers)[1:])
    assert not r and "Start the list with the input size" in r.message


def test_transposed_sizes_from_n_every_time_is_named():
    r = check_transposed_sizes(lambda n, layers: [n] + [transposed_size(n, *layer) for layer in layers])
    assert not r and "previous layer's output" in r.message


def test_transposed_sizes_returning_only_the_last_size_is_named():
    r = check_transposed_sizes(lambda n, layers: right_sizes(n, layers)[-1])
    assert not r and "one number" in r.message


def test_transposed_sizes_wrong_signature_is_named():
    r = check_transposed_sizes(lambda n: [n])
    assert not r and "(n, layers)" in r.message


@pytest.mark.parametrize("layers, words", [
    ([(4, 1, 0, 0), (4, 2, 1, 0), (4, 2, 1, 0)], "kernel of 7"),
    ([(7, 1, 0, 0), (4, 2, 0, 0), (4, 2, 1, 0)], "k - 2p + op = 2"),
    ([(7, 1, 0, 0), (4, 2, 1, 2), (4, 2, 1, 0)], "smaller than the stride"),
    ([(7, 1, 0, 0), (4, 2, 1, 0)], "expected 3 layers"),
    ([(7, 1, 0, 0), (4, 2, 1, 0), "layer"], "layer 2"),
])
def test_upsampling_stack_slips_are_named(layers, words):
    r = check_upsampling_stack(layers)
    assert not r and words in r.message


def test_upsampling_stack_reports_the_chain_it_got():
    r = check_upsampling_stack([(4, 1, 0, 0), (4, 2, 1, 0), (4, 2, 1, 0)])
    assert "1 → 4 → 8 → 16" in r.message


def test_upsampling_stack_with_uneven_overlap_passes_with_a_checkerboard_note():
    r = check_upsampling_stack([(7, 1, 0, 0), (3, 2, 1, 1), (3, 2, 1, 1)])
    assert r and "checkerboard" in r.message


@pytest.mark.parametrize("answer, words", [
    ((64, 64), "what the text claims"),
    ((16, 64), "intermediate"),
    ((28, 64), "MNIST"),
    ((32, 8), "after"),
    ((32, 32), "differs"),
    (32, "pair"),
    (((1, 32, 32), (3, 64, 64)), "3 channels"),
    ((32.0, 64), "float"),
])
def test_seed_shape_bug_slips_are_named(answer, words):
    r = check_seed_shape_bug(answer)
    assert not r and words in r.message


def test_unfixed_seed_generator_gets_both_shapes_and_the_fix():
    r = check_fixed_seed_generator(SeedGenerator())
    assert not r and "(3, 32, 32)" in r.message and "(3, 64, 64)" in r.message and "add one more" in r.message


def test_fixed_shapes_without_tanh_are_named():
    r = check_fixed_seed_generator(fixed_seed_generator(last=None))
    assert not r and "nn.Tanh()" in r.message and "shapes fit" in r.message


def test_sigmoid_instead_of_tanh_is_named():
    r = check_fixed_seed_generator(fixed_seed_generator(last=nn.Sigmoid))
    assert not r and "below 0" in r.message


def test_fixed_seed_generator_keeps_training_mode():
    G = fixed_seed_generator()
    check_fixed_seed_generator(G)
    assert G.training


def test_fixed_seed_generator_needs_a_module_with_latent_dim():
    assert "nn.Module" in check_fixed_seed_generator("G").message
    assert "nn.Module" in check_fixed_seed_generator(lambda G: "G").message
    assert "latent_dim" in check_fixed_seed_generator(nn.Linear(2, 2)).message


def test_broken_layer_in_generator_is_reported_without_traceback(capsys):
    G = SeedGenerator()
    G.up.append(nn.Conv2d(3, 3, 3))  # wrong channel count
    r = check_fixed_seed_generator(G)
    out = capsys.readouterr().out
    assert not r and "channels" in r.message and "Traceback" not in out


def test_unanswered_exercises_say_so():
    def stub(*a, **k):
        raise NotImplementedError()
    for chk in (check_transposed_sizes, check_upsampling_stack, check_seed_shape_bug, check_fixed_seed_generator):
        assert "Not answered" in chk(...).message
        assert "Not answered" in chk(stub).message  # the student version of each exercise function


def test_learner_errors_are_one_line_without_traceback(capsys):
    r = check_transposed_sizes(lambda n, layers: 1 / 0)
    out = capsys.readouterr().out
    assert not r and "ZeroDivisionError" in r.message and "Traceback" not in out and out.count("\n") == 1
