"""The VAE machinery: models' shapes, the ELBO's terms, the likelihood estimate, bad input."""
import math

import pytest
import torch

from genimg_course.data import ResidentBatches, load_mnist, to_float
from genimg_course.models import ConvAutoencoder, ConvVAE, MLPVAE
from genimg_course.sampling import generate
from genimg_course.train import fit
from genimg_course.vae import (AETask, VAETask, bernoulli_nll, binarize, check_unit_range, elbo_per_image,
                               encode_mean, gaussian_kl, iwae_nll, kl_per_dim, reparameterize)


@pytest.fixture(scope="module")
def digits():
    return load_mnist("test", source="offline", verbose=False)


def binary(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) > 0.7).float()


# ---------------------------------------------------------------- models
@pytest.mark.parametrize("model", [ConvVAE(latent_dim=5), MLPVAE(latent_dim=5)])
def test_a_vae_returns_logits_mean_logvar_and_code(model):
    logits, mu, logvar, z = model(binary(3))
    assert logits.shape == (3, 1, 28, 28) and mu.shape == logvar.shape == z.shape == (3, 5)


def test_a_conditional_vae_needs_labels_and_uses_them():
    torch.manual_seed(0)
    m = ConvVAE(latent_dim=4, num_classes=10).eval()
    x = binary(2)
    with pytest.raises(ValueError, match="pass labels"):
        m(x)
    z = torch.zeros(2, 4)
    assert not torch.allclose(m.decode(z, torch.tensor([0, 0])), m.decode(z, torch.tensor([7, 7])))


def test_an_unconditional_vae_refuses_labels():
    with pytest.raises(ValueError, match="not conditional"):
        ConvVAE(latent_dim=4).decode(torch.zeros(1, 4), torch.tensor([3]))


def test_wrong_image_shape_names_what_was_expected():
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\), got \(2, 28, 28\)"):
        ConvVAE().encode(torch.zeros(2, 28, 28))


def test_wrong_code_shape_names_the_latent_size():
    with pytest.raises(ValueError, match=r"\(B, 16\), got \(2, 3\)"):
        ConvVAE(latent_dim=16).decode(torch.zeros(2, 3))


def test_generate_gives_the_mean_images_mapped_to_minus1_1_and_is_repeatable():
    m = ConvVAE(latent_dim=4)
    a, b = generate(m, 6, seed=1), generate(m, 6, seed=1)
    assert a.shape == (6, 1, 28, 28) and -1 <= a.min() and a.max() <= 1 and torch.equal(a, b)
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))  # the codes generate drew
    with torch.no_grad():
        assert torch.allclose(a, 2 * torch.sigmoid(m.eval().decode(z)) - 1)


def test_render_is_the_decoders_mean_image_in_minus1_1_for_every_vae_model():
    for m in (ConvVAE(latent_dim=3, num_classes=10), ConvAutoencoder(latent_dim=3), MLPVAE(latent_dim=3)):
        y = torch.tensor([1, 2]) if m.num_classes else None
        out = m.render(torch.zeros(2, 3), y)
        assert out.shape == (2, 1, 28, 28) and -1 <= out.min() and out.max() <= 1
        assert torch.allclose(out, 2 * torch.sigmoid(m.decode(torch.zeros(2, 3), y)) - 1)


@pytest.mark.parametrize("make", [lambda: ConvAutoencoder(latent_dim=2), lambda: MLPVAE(latent_dim=2)])
def test_unconditional_autoencoders_refuse_labels(make):
    m = make()
    with pytest.raises(ValueError, match="not conditional"):
        m(binary(2), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="not conditional"):
        m.decode(torch.zeros(2, 2), torch.tensor([1, 2]))


def test_a_conditional_vae_needs_labels_everywhere():
    m = ConvVAE(latent_dim=2, num_classes=10)
    with pytest.raises(ValueError, match=r"conditional.*pass labels"):
        m(binary(2))
    with pytest.raises(ValueError, match=r"conditional.*\(3,\), got None"):
        generate(m, 3)


def test_the_task_keeps_its_network_only_in_modules():
    m = ConvVAE(latent_dim=2)
    task = VAETask(m)
    assert task.model is m and task.modules["model"] is m and "model" not in vars(task)
    other = ConvVAE(latent_dim=2)
    task.modules["model"] = other  # what fit does with a DistributedDataParallel wrapper
    assert task.model is other
    with pytest.raises(AttributeError):
        task.model = m


def test_an_autoencoder_is_deterministic():
    m = ConvAutoencoder(latent_dim=2).eval()
    x = binary(2)
    assert torch.equal(m(x)[1], m(x)[1]) and m(x)[0].shape == (2, 1, 28, 28)


# ---------------------------------------------------------------- the ELBO's terms
def test_gaussian_kl_matches_a_monte_carlo_estimate():
    mu, logvar = torch.tensor([[0.7, -1.2]]), torch.tensor([[-0.5, 0.9]])
    g = torch.Generator().manual_seed(0)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(400_000, 2, generator=g)
    log_q = -0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi))
    log_p = -0.5 * (z ** 2 + math.log(2 * math.pi))
    mc = (log_q - log_p).mean(0)
    assert torch.allclose(gaussian_kl(mu, logvar)[0], mc, atol=0.01)


def test_kl_is_zero_exactly_at_the_prior():
    assert torch.equal(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2, 3))


def test_reparameterize_lets_gradients_reach_mu_and_logvar():
    mu, logvar = torch.tensor([0.5, -1.0], requires_grad=True), torch.tensor([0.2, -0.4], requires_grad=True)
    eps = torch.tensor([1.5, -0.3])
    reparameterize(mu, logvar, eps).sum().backward()
    assert torch.allclose(mu.grad, torch.ones(2))
    assert torch.allclose(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)


def test_bernoulli_nll_sums_over_pixels():
    x = binary(2)
    logits = torch.zeros_like(x)  # p = 0.5 everywhere: log 2 nats per pixel
    assert torch.allclose(bernoulli_nll(logits, x), torch.full((2,), 784 * math.log(2)))


# ---------------------------------------------------------------- bad input
def test_0_255_images_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="0..255 pixels: divide by 255"):
        bernoulli_nll(torch.zeros(1, 1, 28, 28), torch.full((1, 1, 28, 28), 255.0))


def test_minus1_1_images_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"\[-1, 1\] images.*value_range=\(0, 1\)"):
        check_unit_range(torch.full((1, 1, 28, 28), -1.0))


def test_uint8_images_are_refused_with_the_fix():
    with pytest.raises(TypeError, match="to_float"):
        check_unit_range(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))


def test_training_on_minus1_1_batches_fails_before_the_first_step(digits):
    task = VAETask(ConvVAE(latent_dim=2))
    batches = ResidentBatches(digits, 8, "cpu")  # default value_range (-1, 1): the GAN range
    with pytest.raises(ValueError, match="value_range=\\(0, 1\\)"):
        fit(task, batches, steps=2, progress=False)


def test_a_conditional_vae_without_labels_in_the_batch_is_refused():
    task = VAETask(ConvVAE(latent_dim=2, num_classes=10))
    with pytest.raises(ValueError, match="needs \\(x, y\\) batches"):
        task._batch(binary(2))


@pytest.mark.parametrize("bad", [0, -1.0])
def test_bad_beta_or_lr_are_refused(bad):
    with pytest.raises(ValueError):
        VAETask(ConvVAE(latent_dim=2), lr=bad)
    if bad < 0:
        with pytest.raises(ValueError, match="beta"):
            VAETask(ConvVAE(latent_dim=2), beta=bad)


# ---------------------------------------------------------------- training and measuring
def test_a_short_run_improves_the_elbo_and_logs_its_terms(digits):
    torch.manual_seed(0)
    m = ConvVAE(latent_dim=4, width=8, hidden=64)
    x = binarize(to_float(digits.images[:200], (0, 1)), seed=0)
    before = elbo_per_image(m, x)["elbo"].mean()
    hist = fit(VAETask(m), ResidentBatches(digits, 32, "cpu", value_range=(0, 1)), steps=40, log_every=20,
               progress=False, seed=0)
    assert set(hist.values) >= {"loss", "recon", "kl", "elbo"}
    assert elbo_per_image(m, x)["elbo"].mean() > before + 100


def test_an_autoencoder_task_trains_on_reconstruction_only(digits):
    m = ConvAutoencoder(latent_dim=2, width=8, hidden=32)
    hist = fit(AETask(m), ResidentBatches(digits, 16, "cpu", value_range=(0, 1)), steps=4, log_every=2, progress=False)
    assert set(hist.values) == {"loss", "recon"}


def test_iwae_with_one_sample_is_the_elbo_and_tightens_with_more():
    torch.manual_seed(0)
    m = ConvVAE(latent_dim=3, width=8, hidden=32)
    x = binary(16)
    nll1 = iwae_nll(m, x, K=1, seed=0)
    elbo = elbo_per_image(m, x)["elbo"]
    assert nll1.shape == (16,) and nll1.dtype == torch.float64
    # K = 1 is the ELBO (different noise draws: compare means loosely)
    assert abs(float(nll1.mean() + elbo.mean())) < 0.05 * float(nll1.mean())
    assert iwae_nll(m, x, K=50, seed=0).mean() <= nll1.mean() + 1e-6


def test_iwae_refuses_a_bad_K():
    with pytest.raises(ValueError, match="positive integer"):
        iwae_nll(ConvVAE(latent_dim=2), binary(1), K=0)


def test_kl_per_dim_and_encode_mean_have_one_value_per_dimension():
    m = ConvVAE(latent_dim=6, width=8, hidden=32)
    x = binary(5)
    assert kl_per_dim(m, x).shape == (6,) and encode_mean(m, x).shape == (5, 6)
    assert encode_mean(ConvAutoencoder(latent_dim=2, width=8, hidden=32), x).shape == (5, 2)


def test_binarize_with_a_seed_is_a_fixed_draw():
    x = torch.rand(3, 1, 28, 28)
    a, b = binarize(x, seed=3), binarize(x, seed=3)
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}


def test_vae_step_is_the_tasks_loss_and_lowers_it():
    """vae.vae_step (lesson 05's exercise, written out) returns VAETask's loss on the same eps and trains."""
    from genimg_course.vae import vae_step
    torch.manual_seed(0)
    model = MLPVAE(latent_dim=4, hidden=32)
    x = torch.bernoulli(torch.full((16, 1, 28, 28), 0.2))
    torch.manual_seed(1)
    want = float(VAETask(model, binarize=False).losses(x, None)["loss"].detach())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(1)
    losses = [vae_step(model, opt, x) for _ in range(30)]
    assert isinstance(losses[0], float) and math.isclose(losses[0], want, rel_tol=1e-5)
    assert losses[-1] < 0.8 * losses[0]
