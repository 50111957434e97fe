"""DiffAugment (genimg_course.gan.diff_augment) and GANTask(augment=...): the augmentation is
differentiable, drawn per image from a generator when given, and applied to real and fake images
before every call of D in both updates. Tiny tensors and models: the file runs in seconds on a CPU."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genimg_course.data import ImageSet, ResidentBatches
from genimg_course.gan import AUGMENT_POLICIES, GANTask, diff_augment
from genimg_course.models import DCGANDiscriminator, DCGANGenerator, dcgan_init
from genimg_course.train import StepContext, fit

CPU = StepContext(torch.device("cpu"), None)
ALL = "color,translation,cutout"


def images(b: int = 16, c: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def draw(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- diff_augment ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["color", "translation", "cutout", ALL])
def test_gradients_flow_through_each_policy(policy):
    x = images(4, 3, 8).double().requires_grad_(True)
    # for a fixed draw the augmentation is linear in x: gradcheck compares autograd with finite differences
    assert torch.autograd.gradcheck(lambda t: diff_augment(t, policy, draw(1)), (x,))
    y = diff_augment(x, policy, draw(1))
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("channels", [1, 3])
def test_keeps_shape_and_dtype(dtype, channels):
    x = images(8, channels).to(dtype)
    y = diff_augment(x, ALL, draw(0))
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    assert torch.isfinite(y.float()).all()


@pytest.mark.parametrize("fill", [0.0, -1.0])
def test_translation_and_cutout_stay_in_range_and_colour_within_its_bound(fill):
    x = images(64)
    for policy in ("translation", "cutout", "translation,cutout"):
        y = diff_augment(x, policy, draw(2), fill=fill)
        assert y.min() >= -1 and y.max() <= 1, policy  # pixels are moved or replaced by fill, never rescaled
    y = diff_augment(x, "color", draw(2))  # 1 channel: brightness ±0.5, then contrast x1.5 at most: |y| <= 3
    assert y.abs().max() <= 3 and not torch.equal(y, x)


def test_the_input_is_not_changed():
    x = images(8)
    before = x.clone()
    diff_augment(x, ALL, draw(0))
    assert torch.equal(x, before)


def test_same_generator_seed_gives_the_same_output_and_another_seed_another():
    x = images(16, 3)
    a, b, c = diff_augment(x, ALL, draw(5)), diff_augment(x, ALL, draw(5)), diff_augment(x, ALL, draw(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_without_a_generator_it_draws_from_torchs_global_generator():
    x = images(16)
    torch.manual_seed(3)
    a = diff_augment(x)
    torch.manual_seed(3)
    assert torch.equal(a, diff_augment(x))


def test_each_image_gets_its_own_draw():
    x = images(1).repeat(32, 1, 1, 1)  # 32 copies of one image
    y = diff_augment(x, ALL, draw(0))
    assert len({tuple(t.flatten()[:200].tolist()) for t in y}) > 16


def test_translation_shifts_by_at_most_an_eighth_of_the_side_and_fills_what_moves_in():
    x = torch.full((64, 1, 28, 28), -1.0)
    x[:, :, 14, 14] = 1.0  # one bright pixel in the middle
    y = diff_augment(x, "translation", draw(0), fill=-1.0)
    where = [(t[0] == 1.0).nonzero() for t in y]
    assert all(len(w) == 1 for w in where)  # the pixel moves, nothing else appears
    shifts = torch.stack([w[0] - 14 for w in where])  # (dy, dx) per image
    assert shifts.abs().max() <= 4 and (shifts != 0).any(1).float().mean() > 0.8
    z = diff_augment(torch.ones(64, 1, 28, 28), "translation", draw(0))  # fill 0 (the paper's) moves in at the edges
    moved = (z == 0).flatten(1).any(1)
    assert moved.float().mean() > 0.8 and set(z.unique().tolist()) <= {0.0, 1.0}


def test_cutout_sets_a_half_size_square_to_fill():
    y = diff_augment(torch.ones(64, 1, 28, 28), "cutout", draw(0))
    for t in y[:, 0]:
        rows, cols = (t == 0).nonzero(as_tuple=True)
        assert len(rows) > 0
        h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert 7 <= h <= 14 and 7 <= w <= 14 and len(rows) == h * w  # one 14x14 square, clipped by the edge
    assert (y == 0).flatten(1).sum(1).max() == 14 * 14


def test_colour_keeps_a_grey_rgb_image_grey_and_changes_brightness_and_contrast():
    x = images(8, 1).repeat(1, 3, 1, 1)  # three equal channels
    y = diff_augment(x, "color", draw(0))
    assert torch.allclose(y[:, 0], y[:, 1], atol=1e-6) and torch.allclose(y[:, 0], y[:, 2], atol=1e-6)
    assert not torch.allclose(y.mean((1, 2, 3)), x.mean((1, 2, 3)))  # brightness moved each image's mean


def test_the_policy_order_is_the_order_applied():
    x = images(8)
    y = diff_augment(x, "cutout,color", draw(0))
    assert not torch.equal(y, diff_augment(x, "color,cutout", draw(0)))
    assert torch.equal(diff_augment(x, " color , cutout ", draw(0)), diff_augment(x, "color,cutout", draw(0)))


@pytest.mark.parametrize("policy, error", [("colour", ValueError), ("color,flip", ValueError), ("", ValueError),
                                           ("color,,cutout", ValueError), ("color,color", ValueError),
                                           (3, TypeError), (["color"], TypeError), (None, TypeError)])
def test_bad_policies_are_refused_naming_the_allowed_ones(policy, error):
    with pytest.raises(error) as e:
        diff_augment(images(2), policy)
    assert all(repr(p) in str(e.value) for p in AUGMENT_POLICIES)


@pytest.mark.parametrize("x", [torch.zeros(2, 28, 28), torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "images",
                               torch.zeros(2, 1, 1, 28, 28)])
def test_bad_images_are_refused(x):
    with pytest.raises(TypeError, match=r"float images \(B, C, H, W\)"):
        diff_augment(x)


def test_a_bad_generator_or_fill_is_refused():
    with pytest.raises(TypeError, match="torch.Generator"):
        diff_augment(images(2), ALL, generator=0)
    with pytest.raises(ValueError, match="finite"):
        diff_augment(images(2), ALL, fill=math.nan)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_it_draws_on_the_device_without_a_host_sync():
    x = images(16, 3).cuda().requires_grad_(True)
    g = torch.Generator(device="cuda").manual_seed(0)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        y = diff_augment(x, ALL, g)
        y.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert y.device == x.device and x.grad is not None
    with pytest.raises(ValueError, match="generator lives on cpu"):
        diff_augment(x, ALL, torch.Generator())


# --- GANTask(augment=...) -------------------------------------------------------------------------------------

def tiny_pair(norm: str = "batch"):
    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4, norm=norm)
    dcgan_init(G), dcgan_init(D)
    return G, D


def digits(n: int = 64) -> ImageSet:
    imgs = torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return ImageSet(imgs, torch.arange(n) % 10, [str(i) for i in range(10)], "random", "test")


def params(m: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in m.parameters()])


class Counting:
    """An augmentation that records what it is called on: is it the real batch, does it carry G's graph."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.outputs: list[torch.Tensor] = []
        self.real: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(("real" if x is self.real else "fake", x.requires_grad))
        out = x * 1.0  # a new tensor, so what D receives can be traced back to this call
        self.outputs.append(out)
        return out


def test_the_augmentation_sees_real_and_fake_in_d_step_and_fake_in_g_step():
    G, D = tiny_pair()
    aug = Counting()
    task = GANTask(G, D, augment=aug)
    x = next(iter(ResidentBatches(digits(), 16, seed=0)))[0]
    aug.real = x
    task.step(x, CPU)
    # D's update: T(x), T(G(z).detach()); G's update: T(G(z)), through which G's gradient flows
    assert aug.calls == [("real", False), ("fake", False), ("fake", True)]
    task.step(x, CPU)
    assert len(aug.calls) == 6


def test_with_several_critic_steps_and_wgan_gp_every_d_call_is_augmented_and_the_penalty_sees_it():
    G, D = tiny_pair(norm="layer")
    aug, seen = Counting(), []

    def penalty(critic, real, fake):
        seen.append((real, fake))
        return critic(real).float().mean() * 0  # a 0-dim tensor on D's graph

    task = GANTask(G, D, loss="wgan-gp", n_critic=2, augment=aug, penalty=penalty)
    x = next(iter(ResidentBatches(digits(), 16, seed=0)))[0]
    aug.real = x
    task.step(x, CPU)
    assert [kind for kind, _ in aug.calls] == ["real", "fake", "real", "fake", "fake"]
    assert len(seen) == 2
    for (real, fake), out_real, out_fake in zip(seen, aug.outputs[0:4:2], aug.outputs[1:4:2]):
        assert real is out_real and torch.equal(fake, out_fake)  # interpolates between what D was shown


def test_diffaugment_policy_trains_a_tiny_dcgan_with_fit():
    G, D = tiny_pair()
    task = GANTask(G, D, augment=ALL)
    assert task.augment_policy == ALL
    g0, d0 = params(G), params(D)
    hist = fit(task, ResidentBatches(digits(), 16, seed=0), steps=3, log_every=1, progress=False)
    assert hist.steps == [1, 2, 3] and all(math.isfinite(v) for vals in hist.values.values() for v in vals)
    assert not torch.equal(g0, params(G)) and not torch.equal(d0, params(D))


def test_an_identity_augmentation_trains_exactly_as_none():
    def run(augment):
        G, D = tiny_pair()
        task = GANTask(G, D, augment=augment) if augment != "absent" else GANTask(G, D)
        fit(task, ResidentBatches(digits(), 16, seed=0), steps=3, log_every=3, progress=False, seed=0)
        return params(G), params(D)

    base = run("absent")
    for augment in (None, lambda t: t):
        g, d = run(augment)
        assert torch.equal(g, base[0]) and torch.equal(d, base[1])


def test_augmentation_changes_training():
    def run(augment):
        G, D = tiny_pair()
        fit(GANTask(G, D, augment=augment), ResidentBatches(digits(), 16, seed=0), steps=2, log_every=2,
            progress=False, seed=0)
        return params(G)

    assert not torch.equal(run(None), run(ALL))


@pytest.mark.parametrize("augment, error", [("colour", ValueError), ("color,rotate", ValueError), ("", ValueError),
                                            (3, TypeError), (["color"], TypeError), (Counting, TypeError)])
def test_gantask_refuses_a_bad_augment_naming_the_policies(augment, error):
    G, D = tiny_pair()
    with pytest.raises(error) as e:
        GANTask(G, D, augment=augment)
    assert all(repr(p) in str(e.value) for p in AUGMENT_POLICIES)
