"""genimg_course.gan's losses: each GAN loss against its formula, extreme logits, the saturating vs
non-saturating gradients, and the WGAN-GP gradient penalty (per-sample norm, target 1, ε per
sample, differentiable, bad inputs)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genimg_course.gan import (LOSSES, d_loss_bce, d_loss_hinge, d_loss_wasserstein, g_loss_hinge,
                                  g_loss_nonsaturating, g_loss_saturating, g_loss_wasserstein, gradient_penalty)

REAL = torch.tensor([2.0, -0.5, 0.3, 4.0])  # D's logits / critic scores on a real batch
FAKE = torch.tensor([-1.5, 0.7, -3.0, 0.0])  # ... and on a fake batch


def sigmoid(a: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + torch.exp(-a.double()))


# --- each loss against its formula -------------------------------------------------------------------------------

def test_d_loss_bce_is_minus_log_d_real_minus_log_one_minus_d_fake():
    expected = -torch.log(sigmoid(REAL)).mean() - torch.log(1 - sigmoid(FAKE)).mean()
    assert d_loss_bce(REAL, FAKE).item() == pytest.approx(expected.item(), rel=1e-6)


def test_g_loss_saturating_is_mean_log_one_minus_d_fake():
    expected = torch.log(1 - sigmoid(FAKE)).mean()
    assert g_loss_saturating(FAKE).item() == pytest.approx(expected.item(), rel=1e-6)


def test_g_loss_nonsaturating_is_minus_mean_log_d_fake():
    expected = -torch.log(sigmoid(FAKE)).mean()
    assert g_loss_nonsaturating(FAKE).item() == pytest.approx(expected.item(), rel=1e-6)


def test_wasserstein_critic_loss_is_mean_fake_minus_mean_real():
    assert d_loss_wasserstein(REAL, FAKE).item() == pytest.approx((FAKE.mean() - REAL.mean()).item(), rel=1e-6)


def test_wasserstein_generator_loss_is_minus_mean_fake():
    assert g_loss_wasserstein(FAKE).item() == pytest.approx(-FAKE.mean().item(), rel=1e-6)


def test_hinge_d_loss_is_relu_one_minus_real_plus_relu_one_plus_fake():
    expected = torch.clamp(1 - REAL, min=0).mean() + torch.clamp(1 + FAKE, min=0).mean()
    assert d_loss_hinge(REAL, FAKE).item() == pytest.approx(expected.item(), rel=1e-6)


def test_hinge_g_loss_is_minus_mean_fake():
    assert g_loss_hinge(FAKE).item() == pytest.approx(-FAKE.mean().item(), rel=1e-6)


def test_hinge_d_loss_is_zero_beyond_the_margin():
    assert d_loss_hinge(torch.tensor([1.0, 5.0]), torch.tensor([-1.0, -7.0])).item() == 0.0


def test_the_losses_table_pairs_each_name_with_its_d_and_g_loss():
    assert LOSSES == {
        "nonsaturating": (d_loss_bce, g_loss_nonsaturating),
        "saturating": (d_loss_bce, g_loss_saturating),
        "wgan-gp": (d_loss_wasserstein, g_loss_wasserstein),
        "hinge": (d_loss_hinge, g_loss_hinge),
    }


def test_losses_are_scalars_and_accept_b_by_1_outputs():
    for d_loss, g_loss in LOSSES.values():
        assert d_loss(REAL[:, None], FAKE[:, None]).shape == ()
        assert g_loss(FAKE[:, None]).shape == ()


def test_bf16_logits_are_computed_in_float32():
    assert d_loss_bce(REAL.bfloat16(), FAKE.bfloat16()).dtype == torch.float32


# --- extreme logits ----------------------------------------------------------------------------------------------

BIG = torch.tensor([100.0, -100.0])


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_and_their_gradients_stay_finite_at_logits_of_plus_minus_100(name):
    d_loss, g_loss = LOSSES[name]
    r, f = BIG.clone().requires_grad_(True), BIG.flip(0).clone().requires_grad_(True)
    d = d_loss(r, f)
    g = g_loss(f)
    (d + g).backward()
    assert math.isfinite(d.item()) and math.isfinite(g.item())
    assert torch.isfinite(r.grad).all() and torch.isfinite(f.grad).all()


def test_bce_at_extreme_logits_is_exact_not_log_of_zero():
    assert d_loss_bce(torch.tensor([100.0]), torch.tensor([-100.0])).item() == pytest.approx(0.0, abs=1e-12)
    assert d_loss_bce(torch.tensor([-100.0]), torch.tensor([100.0])).item() == pytest.approx(200.0, rel=1e-6)
    assert g_loss_nonsaturating(torch.tensor([-100.0])).item() == pytest.approx(100.0, rel=1e-6)
    assert g_loss_saturating(torch.tensor([-100.0])).item() == pytest.approx(0.0, abs=1e-12)


# --- why the non-saturating loss -----------------------------------------------------------------------------------

def _grad(loss_fn, logit: float) -> float:
    a = torch.tensor([logit], requires_grad=True)
    loss_fn(a).backward()
    return a.grad.item()


def test_saturating_g_loss_has_almost_no_gradient_where_d_confidently_rejects_a_fake():
    # d/da log(1 - sigmoid(a)) = -sigmoid(a): about -4.5e-5 at a = -10
    assert _grad(g_loss_saturating, -10.0) == pytest.approx(-float(sigmoid(torch.tensor(-10.0))), rel=1e-4)
    assert abs(_grad(g_loss_saturating, -10.0)) < 1e-4


def test_non_saturating_g_loss_has_a_strong_gradient_where_d_confidently_rejects_a_fake():
    # d/da -log sigmoid(a) = -(1 - sigmoid(a)): about -1 at a = -10
    assert _grad(g_loss_nonsaturating, -10.0) == pytest.approx(-1.0, abs=1e-4)
    assert abs(_grad(g_loss_nonsaturating, -10.0)) > 1e4 * abs(_grad(g_loss_saturating, -10.0))


def test_both_g_losses_push_the_fake_logit_up():
    for a in (-10.0, 0.0, 3.0):
        assert _grad(g_loss_saturating, a) < 0 and _grad(g_loss_nonsaturating, a) < 0


# --- bad inputs ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [torch.tensor([1, 2]), [0.5, 0.2], None])
def test_losses_refuse_non_float_inputs_with_a_type_error(bad):
    with pytest.raises(TypeError, match="float tensor"):
        g_loss_nonsaturating(bad)
    with pytest.raises(TypeError, match="real_logits"):
        d_loss_bce(bad, FAKE)


def test_losses_refuse_an_empty_batch():
    with pytest.raises(ValueError, match="empty"):
        d_loss_hinge(torch.zeros(0), FAKE)


# --- gradient penalty ----------------------------------------------------------------------------------------------

class Linear(nn.Module):
    """``D(x) = x · u`` (flattened): its gradient is ``u`` everywhere, so ``||∇D|| = ||u||``."""

    def __init__(self, u: torch.Tensor) -> None:
        super().__init__()
        self.u = nn.Parameter(u.flatten().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.u


def half_square_norm(x: torch.Tensor) -> torch.Tensor:
    """``D(x) = ||x||² / 2`` per sample: its gradient at ``x`` is ``x`` itself."""
    return 0.5 * x.flatten(1).pow(2).sum(1)


def _images(b: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 1, 4, 4, generator=g), torch.randn(b, 1, 4, 4, generator=g)


def _unit(seed: int = 1) -> torch.Tensor:
    u = torch.randn(16, generator=torch.Generator().manual_seed(seed))
    return u / u.norm()


def test_a_linear_critic_with_unit_norm_weight_has_zero_penalty():
    real, fake = _images()
    assert gradient_penalty(Linear(_unit()), real, fake).item() == pytest.approx(0.0, abs=1e-10)


def test_a_linear_critic_with_weight_norm_3_has_penalty_4():
    real, fake = _images()
    assert gradient_penalty(Linear(3 * _unit()), real, fake).item() == pytest.approx(4.0, rel=1e-5)


def test_a_linear_critic_with_weight_norm_0_5_has_penalty_0_25():  # (||g|| - 1)², not ||g||² or (||g||² - 1)²
    real, fake = _images()
    assert gradient_penalty(Linear(0.5 * _unit()), real, fake).item() == pytest.approx(0.25, rel=1e-5)


def test_the_norm_is_taken_per_sample_not_over_the_whole_batch():
    # gradients with norms 1 and 3: per sample (0 + 4) / 2 = 2; one norm over the batch would give (√10 - 1)² ≈ 4.68
    x = torch.zeros(2, 1, 2, 2)
    x[0, 0, 0, 0], x[1, 0, 1, 1] = 1.0, 3.0
    assert gradient_penalty(half_square_norm, x, x.clone()).item() == pytest.approx(2.0, rel=1e-6)


def test_each_sample_uses_its_own_eps():
    # x̂_i = eps_i * real_i (fake = 0), so ||∇D(x̂_i)|| = eps_i * ||real_i|| = 2 eps_i
    real = torch.zeros(2, 1, 2, 2)
    real[:, 0, 0, 0] = 2.0
    gp = gradient_penalty(half_square_norm, real, torch.zeros_like(real), eps=torch.tensor([0.25, 0.75]))
    assert gp.item() == pytest.approx(((0.5 - 1) ** 2 + (1.5 - 1) ** 2) / 2, rel=1e-6)


def test_eps_weights_real_and_one_minus_eps_weights_fake():
    real, fake = torch.full((1, 1, 2, 2), 1.0), torch.full((1, 1, 2, 2), 3.0)
    # eps = 1 -> x̂ = real (norm 2); eps = 0 -> x̂ = fake (norm 6)
    assert gradient_penalty(half_square_norm, real, fake, eps=torch.ones(1)).item() == pytest.approx(1.0)
    assert gradient_penalty(half_square_norm, real, fake, eps=torch.zeros(1)).item() == pytest.approx(25.0)


def test_random_eps_is_drawn_per_sample_in_0_1():
    real = torch.zeros(4000, 1, 1, 1)
    real[:, 0, 0, 0] = 1.0
    torch.manual_seed(0)
    # ||∇D(x̂_i)|| = eps_i, so the penalty is E[(eps - 1)²] = 1/3 for eps ~ U(0, 1)
    assert gradient_penalty(half_square_norm, real, torch.zeros_like(real)).item() == pytest.approx(1 / 3, abs=0.02)


def test_works_for_points_as_well_as_images():
    u = torch.tensor([3.0, 4.0])  # norm 5
    pts = torch.randn(8, 2)
    assert gradient_penalty(lambda x: x @ u, pts, pts.flip(0)).item() == pytest.approx(16.0, rel=1e-6)


def test_the_penalty_is_a_differentiable_scalar_create_graph():
    real, fake = _images()
    critic = Linear(3 * _unit())
    gp = gradient_penalty(critic, real, fake)
    assert gp.shape == () and gp.requires_grad
    gp.backward()
    # d/du (||u|| - 1)² = 2 (||u|| - 1) u / ||u|| = 2 * 2 * unit
    assert torch.allclose(critic.u.grad, 4 * _unit(), atol=1e-5)


def test_no_gradient_flows_back_into_the_generator_through_the_penalty():
    G = nn.Linear(3, 16)
    fake = G(torch.randn(5, 3)).view(5, 1, 4, 4)
    real, _ = _images()
    gradient_penalty(Linear(3 * _unit()), real, fake).backward()
    assert G.weight.grad is None


def test_the_inputs_are_left_untouched():
    real, fake = _images()
    r0, f0 = real.clone(), fake.clone()
    gradient_penalty(Linear(_unit()), real, fake)
    assert torch.equal(real, r0) and torch.equal(fake, f0) and not real.requires_grad and not fake.requires_grad


def test_mismatched_shapes_name_both():
    with pytest.raises(ValueError, match=r"\(2, 1, 4, 4\) and \(3, 1, 4, 4\)"):
        gradient_penalty(Linear(_unit()), torch.zeros(2, 1, 4, 4), torch.zeros(3, 1, 4, 4))


def test_eps_of_the_wrong_shape_asks_for_one_number_per_sample():
    real, fake = _images(5)
    with pytest.raises(ValueError, match=r"\(5,\), one number per sample, got \(1,\)"):
        gradient_penalty(Linear(_unit()), real, fake, eps=torch.rand(1))


def test_an_empty_batch_is_refused():
    with pytest.raises(ValueError, match="empty"):
        gradient_penalty(Linear(_unit()), torch.zeros(0, 1, 4, 4), torch.zeros(0, 1, 4, 4))


def test_non_tensors_are_refused():
    with pytest.raises(TypeError, match="tensors"):
        gradient_penalty(Linear(_unit()), [[0.0] * 16], torch.zeros(1, 1, 4, 4))


def test_integer_images_are_refused_with_a_type_error_naming_the_dtype():
    x = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(TypeError, match="uint8"):
        gradient_penalty(Linear(_unit()), x, x)
