"""Lesson 04b's exercise checks (the cGAN's conditioning): right answers pass, however written; each
usual slip gets its own hint; an unanswered exercise says so; nothing shows a traceback."""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from genimg_course.checks.lesson04b import (check_discriminator_conditioning, check_generator_conditioning,
                                            discriminator_input, generator_input)


# ---------------------------------------------------------------- the generator's input

def g_right(z, y, num_classes):
    return torch.cat([z, F.one_hot(y, num_classes).to(z.dtype)], dim=1)


def g_eye(z, y, num_classes):  # the same, written with an identity matrix
    return torch.cat((z, torch.eye(num_classes, dtype=z.dtype, device=z.device)[y]), -1)


def g_scatter(z, y, num_classes):  # and with scatter_
    onehot = torch.zeros(z.shape[0], num_classes).scatter_(1, y[:, None], 1.0)
    return torch.hstack([z, onehot])


def g_long_onehot(z, y, num_classes):  # no dtype conversion: torch.cat promotes the long one-hot to float
    return torch.cat([z, F.one_hot(y, num_classes)], 1)


def g_label_first(z, y, num_classes):
    return torch.cat([F.one_hot(y, num_classes).float(), z], 1)


def test_right_answers_pass_however_written():
    t0 = time.perf_counter()
    for fn in (g_right, g_eye, g_scatter, g_long_onehot, generator_input):
        result = check_generator_conditioning(fn)
        assert result, (fn.__name__, result.message)
    assert time.perf_counter() - t0 < 1


def test_the_label_first_passes_with_a_note_on_the_order():
    result = check_generator_conditioning(g_label_first)
    assert result and "before z" in result.message


G_SLIPS = [
    (lambda z, y, n: z, "the label is not used"),
    (lambda z, y, n: torch.cat([z, torch.zeros(z.shape[0], n)], 1), "does not change when the labels change"),
    (lambda z, y, n: torch.cat([z, F.one_hot(y, n).float()], 0), "dim=0"),
    (lambda z, y, n: torch.cat([z, F.one_hot(y).float()], 1), "without num_classes"),
    (lambda z, y, n: torch.cat([z, F.one_hot(y, 10).float()], 1), "not a fixed 10"),
    (lambda z, y, n: torch.cat([z, y[:, None].float()], 1), "as one number"),
    (lambda z, y, n: torch.cat([z, y[:, None]], 1), "as one number"),
    (lambda z, y, n: torch.cat([z, F.one_hot(y.float(), n)], 1), "needs integer labels"),
    (lambda z, y, n: torch.cat([z, F.one_hot(y, n).float() * 2], 1), "should be the one-hot of y"),
    (lambda z, y, n: torch.cat([z / z.norm(), F.one_hot(y, n).float()], 1), "not z itself"),
    (lambda z, y, n: torch.cat([z, F.one_hot(y, n)[:, :, None]], 1), "same number of dimensions"),
    (lambda z, y, n: torch.cat([z, F.one_hot(y, n).float()], 1)[:, :, None, None], "1×1 spatial dimensions"),
    (lambda z, y, n: torch.cat([z.long(), F.one_hot(y, n)], 1), "convert the one-hot"),
    (lambda z, y, n: None, "returned None"),
    (lambda z, y, n: torch.cat([z.mul_(2), F.one_hot(y, n).float()], 1), "in place"),
]


@pytest.mark.parametrize("fn, hint", G_SLIPS, ids=[h for _, h in G_SLIPS])
def test_each_generator_slip_gets_its_hint(fn, hint, capsys):
    result = check_generator_conditioning(fn)
    assert not result
    assert hint in result.message, result.message
    assert "Traceback" not in capsys.readouterr().out


# ---------------------------------------------------------------- the discriminator's input

def d_right(x, y, num_classes):
    planes = F.one_hot(y, num_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
    return torch.cat([x, planes], dim=1)


def d_repeat(x, y, num_classes):  # the same with .repeat and a long one-hot
    return torch.cat([x, F.one_hot(y, num_classes).view(-1, num_classes, 1, 1).repeat(1, 1, *x.shape[2:])], 1)


def d_ones(x, y, num_classes):  # and by multiplying ones
    b, _, h, w = x.shape
    return torch.cat([x, torch.ones(b, num_classes, h, w) * F.one_hot(y, num_classes)[:, :, None, None]], 1)


def test_right_discriminator_answers_pass_however_written():
    for fn in (d_right, d_repeat, d_ones, discriminator_input):
        result = check_discriminator_conditioning(fn)
        assert result, (fn.__name__, result.message)
    swapped = check_discriminator_conditioning(lambda x, y, n: torch.cat([d_right(x, y, n)[:, x.shape[1]:], x], 1))
    assert swapped and "before the image" in swapped.message


def _planes(x, y, n):
    return F.one_hot(y, n).float()[:, :, None, None].expand(-1, -1, *x.shape[2:])


D_SLIPS = [
    (lambda x, y, n: x, "the label is not used"),
    (lambda x, y, n: x + 0.1, "do not mix the label into the pixels"),
    (lambda x, y, n: torch.cat([x, F.one_hot(y, n).float()[:, :, None, None]], 1), "expand it to (B, num_classes, H, W)"),
    (lambda x, y, n: torch.cat([x, F.one_hot(y, n).float()], 1), "fewer dimensions"),
    (lambda x, y, n: torch.cat([x, _planes(x, y, n)], 0), "dim=0"),
    (lambda x, y, n: torch.cat([x, _planes(x, y, max(y.tolist()) + 1)], 1), "without num_classes"),
    (lambda x, y, n: torch.cat([x, _planes(x, y, 10)], 1), "not a fixed 10"),
    (lambda x, y, n: torch.cat([x, y.float()[:, None, None, None].expand(-1, 1, *x.shape[2:])], 1), "one plane"),
    (lambda x, y, n: torch.cat([x, F.one_hot(y.float(), n)], 1), "needs integer labels"),
    (lambda x, y, n: torch.cat([x, F.pad(F.one_hot(y, n).float()[:, :, None, None],
                                         (0, x.shape[3] - 1, 0, x.shape[2] - 1))], 1), "not constant"),
    (lambda x, y, n: torch.cat([x, torch.zeros(x.shape[0], n, *x.shape[2:])], 1), "does not change when the labels"),
    (lambda x, y, n: torch.cat([x, _planes(x, (y + 1) % n, n)], 1), "should be the one-hot of y"),
    (lambda x, y, n: torch.cat([x * 2, _planes(x, y, n)], 1), "not the images themselves"),
]


@pytest.mark.parametrize("fn, hint", D_SLIPS, ids=[h for _, h in D_SLIPS])
def test_each_discriminator_slip_gets_its_hint(fn, hint, capsys):
    result = check_discriminator_conditioning(fn)
    assert not result
    assert hint in result.message, result.message
    assert "Traceback" not in capsys.readouterr().out


# ---------------------------------------------------------------- unanswered, broken, reachable

@pytest.mark.parametrize("chk", [check_generator_conditioning, check_discriminator_conditioning])
def test_unanswered_and_broken_answers_say_so_without_a_traceback(chk, capsys):
    def stub(a, y, num_classes):
        raise NotImplementedError()

    assert "Not answered" in chk(stub).message
    assert "Not answered" in chk(...).message
    assert "expected a function" in chk(3).message
    assert "must accept" in chk(lambda a, y: a).message
    assert "raised ZeroDivisionError" in chk(lambda a, y, n: 1 / 0).message
    assert "Traceback" not in capsys.readouterr().out


def test_the_references_build_what_the_package_networks_build():
    from genimg_course.models import DCGANDiscriminator, DCGANGenerator
    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4, num_classes=10).eval(), DCGANDiscriminator(width=4, num_classes=10).eval()
    z, y, x = torch.randn(3, 8), torch.tensor([0, 9, 4]), torch.rand(3, 1, 28, 28)
    assert torch.equal(G(z, y), G.net(generator_input(z, y, 10)[:, :, None, None]))
    assert torch.equal(D(x, y), D.net(discriminator_input(x, y, 10)).flatten())
