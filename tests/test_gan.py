"""genimg_course.gan (GANTask, generate, diversity, count_modes, GANDiagnostics, load_pretrained),
the GAN models (models/dcgan.py, models/toy_gan.py) and the toy data (data.ring_centres,
data.PointBatches). Tiny models, a few steps each: the whole file runs in seconds on a CPU."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genimg_course import checkpoints
from genimg_course.data import PointBatches, ring_centres
from genimg_course.gan import GANDiagnostics, GANTask, count_modes, diversity, generate, load_pretrained
from genimg_course.models import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, SeedDiscriminator,
                                  SeedGenerator, check_gan_pair, dcgan_init)
from genimg_course.train import History, StepContext, fit, seed_everything

KEYS = {"d_loss", "g_loss", "d_real", "d_fake", "grad_d", "grad_g"}
CPU = StepContext(torch.device("cpu"), None)


def toy_task(loss: str = "nonsaturating", **kw) -> GANTask:
    torch.manual_seed(0)
    G, D = MLPGenerator(latent_dim=4, hidden=16, depth=2), MLPDiscriminator(hidden=16, depth=2,
                                                                            spectral_norm=kw.pop("sn", False))
    return GANTask(G, D, loss=loss, lr_g=1e-3, lr_d=1e-3, **kw)


def tiny_dcgan(num_classes=None, norm="batch", spectral_norm=False):
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=8, width=4, num_classes=num_classes)
    D = DCGANDiscriminator(width=4, num_classes=num_classes, norm=norm, spectral_norm=spectral_norm)
    dcgan_init(G), dcgan_init(D)
    return G, D


def params(m: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in m.parameters()])


# --- GANTask -------------------------------------------------------------------------------------------------------

def test_step_returns_the_logged_keys_as_scalar_tensors():
    task = toy_task()
    out = task.step(next(PointBatches(32)), CPU)
    assert set(out) == KEYS
    assert all(isinstance(v, torch.Tensor) and v.shape == () and not v.requires_grad for v in out.values())


@pytest.mark.parametrize("loss, n_critic, sn", [("nonsaturating", 1, False), ("saturating", 1, False),
                                                ("wgan-gp", 5, False), ("hinge", 1, True)])
def test_each_loss_trains_a_toy_gan_for_a_few_steps(loss, n_critic, sn):
    task = toy_task(loss, n_critic=n_critic, sn=sn)
    g0, d0 = params(task.modules["G"]), params(task.modules["D"])
    hist = fit(task, PointBatches(32), steps=4, log_every=2, progress=False)
    assert set(hist.values) == KEYS and hist.steps == [2, 4]
    assert all(math.isfinite(v) for vals in hist.values.values() for v in vals)
    assert not torch.equal(g0, params(task.modules["G"])) and not torch.equal(d0, params(task.modules["D"]))


@pytest.mark.parametrize("loss, norm, sn", [("nonsaturating", "batch", False), ("wgan-gp", "layer", False),
                                            ("hinge", "none", True)])
def test_each_loss_trains_a_tiny_dcgan_on_images(loss, norm, sn):
    G, D = tiny_dcgan(norm=norm, spectral_norm=sn)
    task = GANTask(G, D, loss=loss, n_critic=2 if loss == "wgan-gp" else 1)
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    hist = fit(task, iter([x] * 3), steps=3, log_every=3, progress=False)
    assert all(math.isfinite(v[-1]) for v in hist.values.values())


def test_bce_losses_log_probabilities_and_the_others_log_scores():
    out = toy_task("nonsaturating").step(next(PointBatches(32)), CPU)
    assert 0 <= out["d_real"].item() <= 1 and 0 <= out["d_fake"].item() <= 1
    task = toy_task("hinge")
    with torch.no_grad():
        task.modules["D"].net[-1].bias.fill_(5.0)  # scores far above 1: not probabilities
    out = task.step(next(PointBatches(32)), CPU)
    assert out["d_real"].item() > 1


def test_n_critic_updates_d_that_many_times_per_g_update():
    task = toy_task("wgan-gp", n_critic=5)
    task.step(next(PointBatches(16)), CPU)
    assert task.optimizers["D"].state[next(iter(task.modules["D"].parameters()))]["step"].item() == 5
    assert task.optimizers["G"].state[next(iter(task.modules["G"].parameters()))]["step"].item() == 1


def _count_calls(module: nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("reuse, n_critic, g_forwards", [(True, 1, 1), (False, 1, 2), (True, 3, 3), (False, 3, 4)])
def test_g_runs_forward_once_per_d_update_when_the_fakes_are_reused(reuse, n_critic, g_forwards):
    task = toy_task("wgan-gp" if n_critic > 1 else "nonsaturating", n_critic=n_critic, reuse_fakes=reuse)
    calls = _count_calls(task.modules["G"])
    task.step(next(PointBatches(16)), CPU)
    assert calls[0] == g_forwards


@pytest.mark.parametrize("reuse", [True, False])
def test_gs_update_computes_no_gradient_for_ds_weights(reuse):
    task = toy_task(reuse_fakes=reuse)
    grads_d = [0]
    for p in task.modules["D"].parameters():
        p.register_hook(lambda g: grads_d.__setitem__(0, grads_d[0] + 1))
    task.step(next(PointBatches(16)), CPU)
    assert grads_d[0] == len(list(task.modules["D"].parameters()))  # D's own update only, not G's


def test_the_step_with_reused_fakes_is_the_pytorch_examples_dcgan_step():
    """Same codes, same order of updates: the weights match a hand-written examples-style loop."""
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    G, D = tiny_dcgan()
    task = GANTask(G, D, lr_g=1e-3, lr_d=1e-3)
    torch.manual_seed(1)
    for _ in range(3):
        task.step(x, CPU)
    G2, D2 = tiny_dcgan()
    opt_g = torch.optim.Adam(G2.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D2.parameters(), lr=1e-3, betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits
    torch.manual_seed(1)
    for _ in range(3):
        fake = G2(torch.randn(8, 8))
        real_out, fake_out = D2(x), D2(fake.detach())
        loss_d = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
        opt_d.zero_grad(), loss_d.backward(), opt_d.step()
        g_out = D2(fake)
        loss_g = bce(g_out, torch.ones_like(g_out))
        opt_g.zero_grad(), loss_g.backward(), opt_g.step()
    assert torch.allclose(params(G), params(G2), atol=1e-6) and torch.allclose(params(D), params(D2), atol=1e-6)
    assert not torch.equal(params(G), params(tiny_dcgan()[0]))  # and the three steps did move G


def test_a_conditional_task_uses_the_labels():
    G, D = tiny_dcgan(num_classes=10)
    task = GANTask(G, D)
    out = task.step((torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8)), CPU)
    assert set(out) == KEYS


def test_wgan_gp_refuses_a_batchnorm_critic():
    G, D = tiny_dcgan(norm="batch")
    with pytest.raises(ValueError, match="BatchNorm.*norm='layer'"):
        GANTask(G, D, loss="wgan-gp")


def test_wgan_gp_accepts_a_layernorm_critic():
    G, D = tiny_dcgan(norm="layer")
    assert GANTask(G, D, loss="wgan-gp", n_critic=5).n_critic == 5


@pytest.mark.parametrize("kwargs, words", [({"loss": "lsgan"}, "unknown loss 'lsgan'"), ({"n_critic": 0}, "n_critic"),
                                           ({"n_critic": 2.0}, "n_critic"), ({"lr_d": 0.0}, "learning rates")])
def test_bad_task_settings_are_named(kwargs, words):
    with pytest.raises(ValueError, match=words):
        GANTask(MLPGenerator(), MLPDiscriminator(), **kwargs)


@pytest.mark.parametrize("value", ["no", 0, None])
def test_reuse_fakes_must_be_a_bool(value):
    with pytest.raises(TypeError, match=rf"reuse_fakes must be True or False, got {value!r}"):
        GANTask(MLPGenerator(), MLPDiscriminator(), reuse_fakes=value)


@pytest.mark.parametrize("value", [-1, 2.5, "200"])
def test_the_diagnostics_warm_up_must_be_whole_steps(value):
    with pytest.raises(ValueError, match="warmup_steps must be a whole number of steps >= 0"):
        GANDiagnostics(warmup_steps=value)


def test_a_generator_without_latent_dim_needs_it_passed():
    with pytest.raises(ValueError, match="latent_dim"):
        GANTask(nn.Linear(4, 2), MLPDiscriminator())
    assert GANTask(nn.Linear(4, 2), MLPDiscriminator(), latent_dim=4).sample_z(3).shape == (3, 4)


def test_the_task_checks_the_pair_before_any_step():
    with pytest.raises(ValueError, match=r"\(1, 32, 32\).*\(1, 28, 28\)"):
        GANTask(DCGANGenerator(width=4, image_size=32), DCGANDiscriminator(width=4, image_size=28))


def test_a_diverging_run_names_the_gan_remedies():
    assert "spectral" in toy_task().divergence_hint and "lesson 04" in toy_task().divergence_hint


# --- check_gan_pair ------------------------------------------------------------------------------------------------

def test_check_gan_pair_names_both_shapes_for_the_seed_articles_pair():
    with pytest.raises(ValueError, match=r"\(3, 32, 32\).*expects \(3, 64, 64\)"):
        check_gan_pair(SeedGenerator(), SeedDiscriminator())


def test_check_gan_pair_names_both_shapes_for_28_vs_32():
    with pytest.raises(ValueError, match=r"\(1, 32, 32\).*expects \(1, 28, 28\)"):
        check_gan_pair(DCGANGenerator(width=4, image_size=32), DCGANDiscriminator(width=4, image_size=28))


@pytest.mark.parametrize("g_classes, d_classes", [(10, None), (None, 10), (10, 5)])
def test_check_gan_pair_refuses_a_conditional_mismatch(g_classes, d_classes):
    G, D = DCGANGenerator(width=4, num_classes=g_classes), DCGANDiscriminator(width=4, num_classes=d_classes)
    with pytest.raises(ValueError, match=f"num_classes={g_classes}.*num_classes={d_classes}"):
        check_gan_pair(G, D)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_check_gan_pair_returns_the_image_shape_and_keeps_training_mode(size):
    G, D = DCGANGenerator(width=4, image_size=size), DCGANDiscriminator(width=4, image_size=size)
    G.train(), D.eval()
    assert check_gan_pair(G, D) == (1, size, size)
    assert G.training and not D.training


# --- generate, diversity, count_modes ------------------------------------------------------------------------------

def test_generate_gives_float_cpu_samples_of_the_right_shape():
    G, _ = tiny_dcgan()
    x = generate(G, 7, batch_size=3)
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert generate(MLPGenerator(), 5).shape == (5, 2)


def test_generate_is_repeatable_with_a_seed():
    G, _ = tiny_dcgan()
    assert torch.equal(generate(G, 4, seed=3), generate(G, 4, seed=3))
    assert not torch.equal(generate(G, 4, seed=3), generate(G, 4, seed=4))


def test_generate_uses_eval_mode_and_restores_training_mode():
    G, _ = tiny_dcgan()
    G.train()
    a = generate(G, 4, seed=0)
    assert G.training
    G.eval()
    assert torch.equal(a, generate(G, 4, seed=0))


def test_generate_for_a_conditional_g_requires_labels():
    G, _ = tiny_dcgan(num_classes=10)
    with pytest.raises(ValueError, match=r"conditional.*\(6,\), got None"):
        generate(G, 6)
    with pytest.raises(ValueError, match=r"\(6,\), got \(3,\)"):
        generate(G, 6, y=torch.arange(3))
    assert generate(G, 6, y=torch.arange(6)).shape == (6, 1, 28, 28)


def test_conditional_labels_change_the_image_but_not_the_seeded_codes():
    G, _ = tiny_dcgan(num_classes=10)
    a, b = generate(G, 4, y=torch.zeros(4, dtype=torch.long), seed=0), generate(G, 4, y=torch.ones(4, dtype=torch.long), seed=0)
    assert not torch.equal(a, b)


def test_generate_accepts_or_clearly_refuses_a_list_of_labels():
    G, _ = tiny_dcgan(num_classes=10)
    try:
        x = generate(G, 4, y=[0, 1, 2, 3])
    except (TypeError, ValueError) as e:
        assert "y" in str(e)
    else:
        assert x.shape == (4, 1, 28, 28)


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_generate_refuses_a_bad_count(n):
    with pytest.raises(ValueError, match="positive integer"):
        generate(MLPGenerator(), n)


def test_diversity_is_zero_for_identical_samples_and_positive_otherwise():
    same = torch.ones(10, 1, 28, 28)
    assert diversity(same) == pytest.approx(0.0, abs=1e-6)
    assert diversity(torch.randn(10, 1, 28, 28)) > 1.0


def test_diversity_is_the_mean_distance_between_distinct_pairs():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert diversity(x) == pytest.approx(5.0, rel=1e-4)


def test_diversity_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2"):
        diversity(torch.zeros(1, 2))


def test_count_modes_counts_the_centres_that_receive_points():
    centres = ring_centres(8, 2.0)
    pts = centres[[0, 2, 5]].repeat_interleave(100, 0) + 0.01 * torch.randn(300, 2)
    assert count_modes(pts, centres, radius=0.25) == (3, 1.0)


def test_count_modes_quality_is_the_share_of_points_near_any_centre():
    centres = ring_centres(8, 2.0)
    pts = torch.cat([centres.repeat(25, 1), torch.zeros(200, 2)])  # 200 on the modes, 200 at the middle
    covered, quality = count_modes(pts, centres, radius=0.25)
    assert covered == 8 and quality == pytest.approx(0.5)


def test_count_modes_ignores_a_centre_with_fewer_than_min_share_of_the_points():
    centres = ring_centres(8, 2.0)
    pts = torch.cat([centres[:1].repeat(999, 1), centres[1:2]])  # one stray point near mode 1
    assert count_modes(pts, centres, radius=0.25)[0] == 1
    assert count_modes(pts, centres, radius=0.25, min_share=0.0005)[0] == 2


def test_count_modes_refuses_mismatched_dimensions():
    with pytest.raises(ValueError, match=r"\(5, 3\) and \(8, 2\)"):
        count_modes(torch.zeros(5, 3), ring_centres(), 0.1)


# --- GANDiagnostics ------------------------------------------------------------------------------------------------

def history(**values: list[float]) -> History:
    n = len(next(iter(values.values())))
    return History(steps=[50 * (i + 1) for i in range(n)], values={k: list(v) for k, v in values.items()})


def run(diag: GANDiagnostics, h: History) -> None:
    """Call the callback as fit does: once per log, with the history so far."""
    for i in range(1, len(h.steps) + 1):
        diag(History(h.steps[:i], {k: v[:i] for k, v in h.values.items()}))


def test_diagnostics_fire_d_wins_once_when_d_loss_is_near_zero_and_g_loss_rises():
    said: list[str] = []
    diag = GANDiagnostics(print_fn=said.append)
    run(diag, history(d_loss=[1.2, 0.6, 0.04, 0.02, 0.01, 0.01, 0.005], g_loss=[0.8, 2.0, 3.5, 4.5, 5.5, 6.5, 7.0],
                      grad_d=[1.0] * 7, grad_g=[1.0] * 7))
    assert diag.alarms == ["d_wins"] and len(said) == 1 and "lesson 04" in said[0]


def test_diagnostics_stay_silent_on_a_healthy_looking_run():
    said: list[str] = []
    diag = GANDiagnostics(print_fn=said.append)
    run(diag, history(d_loss=[1.35, 1.2, 1.25, 1.1, 1.3, 1.2, 1.25], g_loss=[0.75, 0.9, 0.85, 1.0, 0.8, 0.95, 0.9],
                      grad_d=[2.0, 1.5, 1.8, 1.2, 1.4, 1.6, 1.3], grad_g=[0.5, 0.7, 0.6, 0.8, 0.7, 0.6, 0.7]))
    assert diag.alarms == [] and said == []


def test_diagnostics_need_the_d_loss_low_for_a_whole_window():
    diag = GANDiagnostics(print_fn=lambda s: None)
    run(diag, history(d_loss=[1.2, 0.01, 1.1, 0.02, 1.3], g_loss=[0.5, 3.0, 0.7, 3.5, 4.0]))
    assert diag.alarms == []


@pytest.mark.parametrize("bad", [5e4, float("nan"), float("inf")])
def test_diagnostics_fire_on_an_exploding_d_gradient(bad):
    said: list[str] = []
    diag = GANDiagnostics(print_fn=said.append)
    run(diag, history(d_loss=[1.3, 1.2], g_loss=[0.8, 0.9], grad_d=[2.0, bad], grad_g=[1.0, 1.0]))
    assert diag.alarms == ["grad_d_explodes"] and "gradient norm" in said[0]


def test_diagnostics_fire_on_an_exploding_g_gradient():
    diag = GANDiagnostics(print_fn=lambda s: None, grad_limit=10)
    run(diag, history(d_loss=[1.3, 1.2], g_loss=[0.8, 0.9], grad_d=[2.0, 2.0], grad_g=[1.0, 11.0]))
    assert diag.alarms == ["grad_g_explodes"]


class ConstantG(nn.Module):
    """A collapsed generator: the same point whatever the code."""

    latent_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.point = nn.Parameter(torch.tensor([1.0, 0.5]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.point.expand(z.shape[0], 2) + 0 * z[:, :2]


def test_diagnostics_fire_collapse_for_a_constant_generator():
    said: list[str] = []
    diag = GANDiagnostics(G=ConstantG(), real=PointBatches(256).sample(256, seed=0), print_fn=said.append)
    run(diag, history(d_loss=[1.3, 1.2, 1.3, 1.2], g_loss=[0.8, 0.9, 0.8, 0.9]))
    assert diag.alarms == ["collapse"] and len(said) == 1 and "mode collapse" in said[0]


def test_the_collapse_check_waits_for_the_warm_up_steps():
    """A fresh generator's samples all look alike for the first ~100 steps: that is no collapse."""
    diag = GANDiagnostics(G=ConstantG(), real=PointBatches(256).sample(256, seed=0), print_fn=lambda s: None,
                          sample_every=1)
    steps = [20 * (i + 1) for i in range(12)]  # logs every 20 steps, as lesson 04 does on a CPU
    seen = []
    for i in range(1, len(steps) + 1):
        diag(History(steps[:i], {"d_loss": [1.3] * i, "g_loss": [0.8] * i}))
        seen.append(bool(diag.alarms))
    assert seen.index(True) == steps.index(200)  # first check at step 200, and it fires there


def test_diagnostics_stay_silent_for_a_generator_as_diverse_as_the_data():
    torch.manual_seed(0)
    G = MLPGenerator(latent_dim=4, hidden=16)
    nn.init.normal_(G.net[-1].weight, std=3.0)  # a widely spread (if wrong) cloud of points
    real = PointBatches(256).sample(256, seed=0)
    diag = GANDiagnostics(G=G, real=real, print_fn=lambda s: None)
    run(diag, history(d_loss=[1.3, 1.2, 1.3, 1.2], g_loss=[0.8, 0.9, 0.8, 0.9]))
    assert diversity(generate(G, 64, seed=0)) > 0.25 * diversity(real) and diag.alarms == []


def test_diagnostics_sample_a_conditional_generator_with_labels():
    G, _ = tiny_dcgan(num_classes=10)
    diag = GANDiagnostics(G=G, real=torch.rand(32, 1, 28, 28) * 2 - 1, print_fn=lambda s: None, sample_every=1)
    diag(history(d_loss=[1.3], g_loss=[0.8]))  # must not raise for want of labels


def test_diagnostics_refuse_a_window_below_2():
    with pytest.raises(ValueError, match="window"):
        GANDiagnostics(window=1)


# --- the toy data --------------------------------------------------------------------------------------------------

def test_ring_centres_are_evenly_spaced_on_the_circle():
    c = ring_centres(8, 2.0)
    assert c.shape == (8, 2)
    assert torch.allclose(c.norm(dim=1), torch.full((8,), 2.0))
    assert torch.allclose(c[0], torch.tensor([2.0, 0.0]))
    assert torch.allclose((c - c.roll(1, 0)).norm(dim=1), torch.full((8,), 2 * 2.0 * math.sin(math.pi / 8)), atol=1e-5)


def test_ring_centres_refuse_a_bad_mode_count():
    with pytest.raises(ValueError, match="modes"):
        ring_centres(0)


def test_point_batches_are_b_by_2_near_the_centres():
    pb = PointBatches(500, std=0.05)
    x = next(pb)
    assert x.shape == (500, 2) and x.dtype == torch.float32
    assert count_modes(x, pb.centres, radius=0.25) == (8, 1.0)


def test_point_batches_are_deterministic_per_seed():
    a, b, c = PointBatches(16, seed=1), PointBatches(16, seed=1), PointBatches(16, seed=2)
    xa, xb, xc = [next(a), next(a)], [next(b), next(b)], next(c)
    assert all(torch.equal(u, v) for u, v in zip(xa, xb))
    assert not torch.equal(xa[0], xa[1]) and not torch.equal(xa[0], xc)


@pytest.mark.parametrize("k", [0, 1, 7])
def test_point_batches_resume_by_step(k):
    full = PointBatches(16, seed=3)
    batches = [next(full) for _ in range(k + 1)]
    resumed = PointBatches(16, seed=3)
    resumed.step = k
    assert torch.equal(next(resumed), batches[k]) and resumed.step == k + 1


def test_point_batches_sample_is_repeatable_and_independent_of_iteration():
    pb = PointBatches(16)
    a = pb.sample(100, seed=5)
    next(pb)
    assert torch.equal(a, pb.sample(100, seed=5))


@pytest.mark.parametrize("kwargs, words", [({"batch_size": 0}, "batch_size"), ({"std": 0.0}, "std")])
def test_point_batches_refuse_bad_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        PointBatches(**{"batch_size": 16, **kwargs})


def test_an_interrupted_toy_gan_run_resumes_to_the_same_result(tmp_path):
    def make():
        seed_everything(0)
        return GANTask(MLPGenerator(latent_dim=4, hidden=16, depth=2), MLPDiscriminator(hidden=16, depth=2),
                       lr_g=1e-3, lr_d=1e-3)

    straight = make()
    fit(straight, PointBatches(32, seed=1), steps=12, log_every=4, progress=False)
    first = make()
    fit(first, PointBatches(32, seed=1), steps=6, log_every=4, progress=False, checkpoint=tmp_path / "ck.pt")
    second = make()
    fit(second, PointBatches(32, seed=1), steps=12, log_every=4, progress=False, checkpoint=tmp_path / "ck.pt")
    assert torch.allclose(params(straight.modules["G"]), params(second.modules["G"]), atol=1e-6)


# --- models --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [28, 32, 64])
def test_dcgan_generator_makes_images_in_minus1_1_of_the_asked_size(size):
    G = DCGANGenerator(latent_dim=16, width=4, image_size=size, channels=3)
    dcgan_init(G)
    nn.init.normal_(G.net[-2].weight, std=5.0)  # push the pre-tanh values far out: tanh must still bound them
    x = G(torch.randn(3, 16))
    assert x.shape == (3, 3, size, size)
    assert x.min() >= -1 and x.max() <= 1 and x.abs().max() > 0.99


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_dcgan_discriminator_gives_one_logit_per_image(size, norm):
    D = DCGANDiscriminator(width=4, image_size=size, channels=3, norm=norm)
    assert D(torch.randn(5, 3, size, size)).shape == (5,)


def test_dcgan_discriminator_uses_the_asked_normalisation():
    kinds = {norm: {type(m) for m in DCGANDiscriminator(width=4, norm=norm).modules()} for norm in ("batch", "layer", "none")}
    assert nn.BatchNorm2d in kinds["batch"] and nn.GroupNorm not in kinds["batch"]
    assert nn.GroupNorm in kinds["layer"] and nn.BatchNorm2d not in kinds["layer"]
    assert nn.BatchNorm2d not in kinds["none"] and nn.GroupNorm not in kinds["none"]


def test_dcgan_discriminator_bias_switches_the_first_and_last_conv_bias():
    convs = lambda D: [m.bias is not None for m in D.modules() if isinstance(m, nn.Conv2d)]  # noqa: E731
    assert convs(DCGANDiscriminator(width=4)) == [True, False, True]  # BatchNorm makes a middle bias redundant
    assert convs(DCGANDiscriminator(width=4, bias=False)) == [False, False, False]
    assert convs(DCGANDiscriminator(width=4, norm="none", bias=False)) == [False, True, False]
    with pytest.raises(TypeError, match="bias must be True or False, got 'no'"):
        DCGANDiscriminator(width=4, bias="no")


def test_dcgan_discriminator_has_no_sigmoid():
    D = DCGANDiscriminator(width=4)
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())


def test_spectral_norm_discriminator_keeps_each_layers_largest_singular_value_near_1():
    torch.manual_seed(0)
    D = DCGANDiscriminator(width=4, norm="none", spectral_norm=True)
    dcgan_init(D)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and all(hasattr(m, "parametrizations") for m in convs)
    with torch.no_grad():
        for m in convs:
            m.parametrizations.weight.original.mul_(10.0)  # unnormalised weights far from 1
        x = torch.randn(4, 1, 28, 28)
        for _ in range(30):  # one power-iteration step per training-mode forward
            D(x)
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.flatten(1), 2).item()
        assert sigma == pytest.approx(1.0, abs=0.02)


def test_toy_models_spectral_norm_wraps_every_linear_layer():
    D = MLPDiscriminator(hidden=8, depth=2, spectral_norm=True)
    linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3 and all(hasattr(m, "parametrizations") for m in linears)


def test_conditional_dcgan_takes_labels_as_one_hot_inputs():
    G, D = tiny_dcgan(num_classes=10)
    assert G.net[0].in_channels == 8 + 10  # z and the one-hot label
    assert D.net[0].in_channels == 1 + 10  # the image and ten label planes
    y = torch.tensor([0, 3, 9])
    x = G(torch.randn(3, 8), y)
    assert x.shape == (3, 1, 28, 28) and D(x, y).shape == (3,)


def test_conditional_models_require_labels_and_plain_ones_refuse_them():
    Gc, Dc = tiny_dcgan(num_classes=10)
    G, _ = tiny_dcgan()
    with pytest.raises(ValueError, match="conditional"):
        Gc(torch.randn(2, 8))
    with pytest.raises(ValueError, match="conditional"):
        Dc(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="not conditional"):
        G(torch.randn(2, 8), torch.zeros(2, dtype=torch.long))


def test_models_name_the_expected_input_shape():
    with pytest.raises(ValueError, match=r"\(B, 8\), got \(2, 5\)"):
        DCGANGenerator(latent_dim=8, width=4)(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\), got \(2, 1, 32, 32\)"):
        DCGANDiscriminator(width=4)(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 8\), got \(2, 3\)"):
        MLPGenerator(latent_dim=8)(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"\(B, 2\), got \(2, 3\)"):
        MLPDiscriminator()(torch.randn(2, 3))


@pytest.mark.parametrize("make, words", [
    (lambda: DCGANGenerator(image_size=48), "image_size must be one of"),
    (lambda: DCGANDiscriminator(norm="instance"), "norm must be"),
    (lambda: DCGANGenerator(width=0), "width"),
    (lambda: DCGANDiscriminator(num_classes=0), "num_classes"),
    (lambda: MLPGenerator(hidden=0), "hidden"),
    (lambda: MLPDiscriminator(depth=0), "depth"),
])
def test_bad_model_arguments_are_named(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_dcgan_init_draws_conv_weights_with_std_0_02_and_zero_bias():
    torch.manual_seed(0)
    D = DCGANDiscriminator(width=16, norm="none", spectral_norm=True)
    dcgan_init(D)
    w = D.net[2].parametrizations.weight.original
    assert w.std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.all(D.net[2].bias == 0)


# --- shipped generators --------------------------------------------------------------------------------------------

def test_load_pretrained_names_the_choices():
    with pytest.raises(ValueError, match="dcgan_mnist.*cgan_mnist"):
        load_pretrained("stylegan")


def _shipped(name: str) -> bool:
    fname, digest, _ = checkpoints.SHIPPED[name]
    return not digest.startswith("@") and (checkpoints.WEIGHTS_DIR / fname).exists()


@pytest.mark.parametrize("name, classes", [("dcgan_mnist", None), ("cgan_mnist", 10)])
def test_shipped_generators_load_with_their_measurements(name, classes):
    if not _shipped(name):
        pytest.skip(f"{name} is not shipped yet")
    G = load_pretrained(name)
    assert G.num_classes == classes and not G.training
    assert {"steps", "fid", "fid_real_vs_real", "fid_samples", "data", "kid", "recipe"} <= set(G.info)
    y = torch.arange(4) if classes else None
    x = generate(G, 4, y=y, seed=0)
    assert x.shape == (4, 1, 28, 28) and x.min() >= -1 and x.max() <= 1


def test_gantask_penalty_replaces_the_gradient_penalty_and_is_checked():
    import pytest as _pytest
    from genimg_course.gan import GANTask, gradient_penalty
    from genimg_course.models import MLPDiscriminator, MLPGenerator
    from genimg_course.train import StepContext

    calls = []

    def mine(critic, real, fake):
        calls.append(real.shape)
        return gradient_penalty(critic, real, fake)

    torch.manual_seed(0)
    task = GANTask(MLPGenerator(), MLPDiscriminator(), loss="wgan-gp", n_critic=2, penalty=mine)
    task.step(torch.randn(16, 2), StepContext(torch.device("cpu"), None))
    assert calls == [torch.Size([16, 2])] * 2  # once per critic step
    with _pytest.raises(TypeError, match="penalty must be a function"):
        GANTask(MLPGenerator(), MLPDiscriminator(), loss="wgan-gp", penalty=3)
    with _pytest.raises(ValueError, match="needs loss='wgan-gp'"):
        GANTask(MLPGenerator(), MLPDiscriminator(), loss="hinge", penalty=mine)
