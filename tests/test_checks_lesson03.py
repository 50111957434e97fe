"""Lesson 03's exercise checks: right answers pass, slips get a hint that names the mistake,
unanswered exercises say so, and nothing prints a traceback."""
from __future__ import annotations

import time

import pytest
import torch
from torch import nn

import numpy as np

from genimg_course.checks.lesson03 import (_STACKS, check_fid_from_features, check_fixed_seed_generator,
                                           check_frechet_distance, check_seed_shape_bug, check_transposed_sizes,
                                           check_upsampling_stack, frechet_reference, transposed_size)
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
    assert r and "checkerboard" in r.message and "layer 1 (on a 7x7 input)" in r.message


def test_a_stride_on_the_1x1_input_gets_no_checkerboard_note():  # one input pixel: one stamp, no overlap
    r = check_upsampling_stack([(7, 2, 0, 0), (4, 2, 1, 0), (4, 2, 1, 0)])
    assert r and "checkerboard" not in r.message


def test_upsampling_stack_accepts_numpy_integers():
    assert check_upsampling_stack([tuple(np.int64(v) for v in layer) for layer in DCGAN_STACK])


def test_seed_shapes_accept_whole_floats_numpy_and_channels_last():
    assert check_seed_shape_bug((32.0, 64.0))
    assert check_seed_shape_bug((np.int64(32), np.int64(64)))
    r = check_seed_shape_bug(((32, 32, 3), (64, 64, 3)))  # Keras' (H, W, C), as the seed writes input_shape
    assert r and "channels-first" in r.message and "(3, 64, 64)" in r.message


@pytest.mark.parametrize("answer, words", [
    ((64, 64), "what the text claims"),
    ((16, 64), "intermediate"),
    ((28, 64), "MNIST"),
    ((32, 8), "after"),
    ((32, 32), "differs"),
    (32, "pair"),
    (((1, 32, 32), (3, 64, 64)), "3 channels"),
    ((32.5, 64), "whole number"),
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


class Scaled(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return self.factor * x


class FunctionalTanh(nn.Module):  # tanh written in forward: accepted, the range is what counts
    def __init__(self, G):
        super().__init__()
        self.G, self.latent_dim = G, G.latent_dim

    def forward(self, z, y=None):
        return torch.tanh(self.G(z))


def test_hardtanh_is_named():
    r = check_fixed_seed_generator(fixed_seed_generator(last=nn.Hardtanh))
    assert not r and "Hardtanh" in r.message and "gradient is 0" in r.message


def test_an_output_bounded_by_half_is_named():
    G = fixed_seed_generator()
    G.out = nn.Sequential(G.out, Scaled(0.5))
    r = check_fixed_seed_generator(G)
    assert not r and "reach ±1" in r.message


def test_another_bounded_last_layer_is_named():
    r = check_fixed_seed_generator(fixed_seed_generator(last=nn.Softsign))
    assert not r and "Softsign" in r.message and "nn.Tanh()" in r.message


def test_a_parameter_free_upsample_is_named():
    G = SeedGenerator(latent_dim=100)
    G.up.append(nn.Upsample(scale_factor=2))
    G.out = nn.Sequential(G.out, nn.Tanh())
    r = check_fixed_seed_generator(G)
    assert not r and "learns nothing" in r.message


def test_correct_variants_pass():
    G = SeedGenerator(latent_dim=100)  # resize-convolution: Upsample, then a learned conv
    G.up.extend([nn.Upsample(scale_factor=2), nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.LeakyReLU(0.3)])
    G.out = nn.Sequential(G.out, nn.Tanh())
    assert check_fixed_seed_generator(G)
    G = SeedGenerator(latent_dim=100)  # the last conv made a stride-2 transposed conv
    G.out = nn.Sequential(nn.ConvTranspose2d(64, 3, 4, 2, 1), nn.Tanh())
    assert check_fixed_seed_generator(G)
    assert check_fixed_seed_generator(FunctionalTanh(fixed_seed_generator(last=None)))


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
    for chk in (check_transposed_sizes, check_upsampling_stack, check_seed_shape_bug, check_fixed_seed_generator,
                check_frechet_distance, check_fid_from_features):
        assert "Not answered" in chk(...).message
        assert "Not answered" in chk(stub).message  # the student version of each exercise function


def test_learner_errors_are_one_line_without_traceback(capsys):
    r = check_transposed_sizes(lambda n, layers: 1 / 0)
    out = capsys.readouterr().out
    assert not r and "ZeroDivisionError" in r.message and "Traceback" not in out and out.count("\n") == 1


# ------------------------------------------------------------------------------------------------
# FID from features
# ------------------------------------------------------------------------------------------------

def d2(mu1, mu2):
    return (mu1 - mu2).square().sum()


def tr_sqrt(S1, S2):
    return torch.linalg.eigvals(S1 @ S2).sqrt().real.sum()


def fd_symmetric(mu1, S1, mu2, S2):  # the notebook's solution
    w, V = torch.linalg.eigh(S1)
    root1 = V @ torch.diag(w.clamp(min=0).sqrt()) @ V.T
    m = root1 @ S2 @ root1
    return float(d2(mu1, mu2) + S1.trace() + S2.trace() - 2 * torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum())


def fd_eigvals(mu1, S1, mu2, S2):  # torchmetrics' way, returning a 0-d tensor
    return d2(mu1, mu2) + S1.trace() + S2.trace() - 2 * tr_sqrt(S1, S2)


def fd_scipy(mu1, S1, mu2, S2):  # numpy and scipy.linalg.sqrtm, returning a numpy float
    scipy_linalg = pytest.importorskip("scipy.linalg")
    a, b = S1.numpy(), S2.numpy()
    return np.sum((mu1.numpy() - mu2.numpy()) ** 2) + np.trace(a) + np.trace(b) - 2 * np.trace(scipy_linalg.sqrtm(a @ b).real)


def from_features(fd, mean=lambda f: f.mean(0), cov=lambda f: torch.cov(f.T)):
    def fid_from_features(f_real, f_fake):
        return fd(mean(f_real), cov(f_real), mean(f_fake), cov(f_fake))
    return fid_from_features


def test_reference_is_torchmetrics_and_agrees_with_the_package():
    from genimg_course.metrics import _frechet
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, 4, generator=g, dtype=torch.float64), torch.randn(60, 4, generator=g, dtype=torch.float64) + 1
    mu1, S1, mu2, S2 = a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T)
    assert frechet_reference(mu1, S1, mu2, S2) == pytest.approx(float(fd_eigvals(mu1, S1, mu2, S2)), rel=1e-10)
    assert frechet_reference(mu1, S1, mu2, S2) == pytest.approx(_frechet(a, b), rel=1e-6)


@pytest.mark.parametrize("fd", [fd_symmetric, fd_eigvals, fd_scipy], ids=["eigh", "eigvals", "scipy"])
def test_correct_frechet_distances_pass(fd):
    assert check_frechet_distance(fd)
    assert check_fid_from_features(from_features(fd))


def test_fid_from_features_with_numpy_cov_passes():
    def fid_np(f_real, f_fake):
        a, b = f_real.numpy(), f_fake.numpy()
        return fd_symmetric(torch.tensor(a.mean(0)), torch.tensor(np.cov(a, rowvar=False)),
                            torch.tensor(b.mean(0)), torch.tensor(np.cov(b, rowvar=False)))
    assert check_fid_from_features(fid_np)


@pytest.mark.parametrize("fd, words", [
    (lambda m1, S1, m2, S2: d2(m1, m2) + S1.trace() + S2.trace() - tr_sqrt(S1, S2), "factor 2 is missing"),
    (lambda m1, S1, m2, S2: d2(m1, m2) + torch.trace(S1 + S2 - 2 * torch.sqrt(S1 * S2)), "entry by entry"),
    (lambda m1, S1, m2, S2: d2(m1, m2) + torch.trace(S1 + S2 - 2 * torch.sqrt(S1 @ S2)), "torch.sqrt works entry by entry"),
    (lambda m1, S1, m2, S2: d2(m1, m2) + torch.trace(S1 + S2 - 2 * S1 @ S2), "without the square root"),
    (lambda m1, S1, m2, S2: torch.trace(S1 + S2) - 2 * tr_sqrt(S1, S2), "mean term is missing"),
    (lambda m1, S1, m2, S2: (m1 - m2).norm() + torch.trace(S1 + S2) - 2 * tr_sqrt(S1, S2), "*squared* distance"),
    (lambda m1, S1, m2, S2: (m1 - m2).sum() ** 2 + torch.trace(S1 + S2) - 2 * tr_sqrt(S1, S2), "not the square of their sum"),
    (lambda m1, S1, m2, S2: d2(m1, m2) + torch.trace(S1 + S2) + 2 * tr_sqrt(S1, S2), "subtracted"),
    (lambda m1, S1, m2, S2: d2(m1, m2) + torch.trace(S1 + S2) - 2 * torch.linalg.eigvals(S1 @ S2).sqrt().sum(),
     "complex"),
    (lambda m1, S1, m2, S2: d2(m1, m2) + torch.trace(S1 + S2) - 2 * torch.linalg.eigvals(S1 @ S2).real.sqrt().sum(),
     "clamp them at 0"),
    (lambda m1, S1, m2, S2: fd_symmetric(m1.float(), S1.float(), m2.float(), S2.float()), "float64"),
    (lambda m1, S1, m2, S2: torch.stack([d2(m1, m2), torch.trace(S1)]), "one number"),
], ids=["factor 2", "sqrt of S1*S2", "sqrt entries of S1@S2", "Tr(S1 S2)", "no mean term", "mean not squared",
        "square of the sum", "plus cross term", "complex left in", "NaN left in", "float32", "two numbers"])
def test_frechet_distance_slips_are_named(fd, words):
    r = check_frechet_distance(fd)
    assert not r and words in r.message
    r = check_fid_from_features(from_features(fd))  # the same slip, reached through fid_from_features
    assert not r and words in r.message


def test_nan_in_a_decomposition_is_named_not_a_traceback(capsys):
    def fd(mu1, S1, mu2, S2):
        w, V = torch.linalg.eigh(S1)
        root1 = V @ torch.diag(w.sqrt()) @ V.T  # NaN for the singular judge covariances
        if torch.isnan(root1).any():
            raise torch.linalg.LinAlgError("linalg.eigh: The algorithm failed to converge")
        m = root1 @ S2 @ root1
        return d2(mu1, mu2) + S1.trace() + S2.trace() - 2 * torch.linalg.eigvalsh(m).clamp(min=0).sqrt().sum()
    r = check_frechet_distance(fd)
    assert not r and "Clamp eigenvalues at 0" in r.message and "Traceback" not in capsys.readouterr().out


@pytest.mark.parametrize("fid, words", [
    (from_features(fd_symmetric, cov=lambda f: torch.cov(f.T, correction=0)), "divided by n - 1"),
    (from_features(fd_symmetric, mean=lambda f: f.mean(1), cov=lambda f: torch.cov(f)), "features are transposed"),
    (from_features(fd_symmetric, cov=lambda f: torch.cov(f)), "(n, n), not (d, d)"),
    (from_features(fd_symmetric, mean=lambda f: f.mean(1)), "wrong axis"),
    (lambda a, b: from_features(fd_symmetric)(a.T, b.T), "features are transposed"),
    (lambda a, b: torch.tensor([1.0, 2.0]), "one number"),
    (lambda a, b: "FID", "should return a number"),
], ids=["biased covariance", "transposed", "cov of rows", "mean over dim 1", "(d, n) input", "a vector", "a string"])
def test_fid_from_features_slips_are_named(fid, words):
    r = check_fid_from_features(fid)
    assert not r and words in r.message


def test_fid_from_features_that_breaks_on_unequal_sets_is_named():
    def fid(f_real, f_fake):  # means over images, but covariance of the stacked difference: needs equal n
        diff = f_real - f_fake
        return float(diff.mean(0).square().sum() + torch.cov(diff.T).trace())
    r = check_fid_from_features(fid)
    assert not r


def test_fid_checks_need_the_right_signature():
    assert "(mu1, S1, mu2, S2)" in check_frechet_distance(lambda mu, S: 0.0).message
    assert "(f_real, f_fake)" in check_fid_from_features(lambda f: 0.0).message
