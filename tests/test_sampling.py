"""genimg_course.sampling: one sampler for every family (generate / decode), the label rules every
generative model follows, and interpolate (the explorers' latent-space paths)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from genimg_course.models import (ConvAutoencoder, ConvVAE, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator,
                                  MLPGenerator, MLPVAE, SeedDiscriminator, SeedGenerator)
from genimg_course.sampling import Generative, decode, generate, interpolate, labels_for

FAMILIES = {  # one small model of each family that generate serves
    "dcgan": lambda: DCGANGenerator(latent_dim=8, width=4),
    "cgan": lambda: DCGANGenerator(latent_dim=8, width=4, num_classes=10),
    "vae": lambda: ConvVAE(latent_dim=8, width=4, hidden=16),
    "cvae": lambda: ConvVAE(latent_dim=8, width=4, hidden=16, num_classes=10),
    "autoencoder": lambda: ConvAutoencoder(latent_dim=8, width=4, hidden=16),
    "mlp-vae": lambda: MLPVAE(latent_dim=8, hidden=16),
}


@pytest.fixture(params=sorted(FAMILIES))
def model(request):
    torch.manual_seed(0)
    return FAMILIES[request.param]()


def _labels(m, n):
    return labels_for(m, n)


# ---------------------------------------------------------------- generate: the one interface
def test_every_family_gives_cpu_float_images_in_minus1_1(model):
    assert isinstance(model, Generative)
    x = generate(model, 5, y=_labels(model, 5), seed=0)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert -1 <= x.min() and x.max() <= 1


def test_every_family_repeats_with_a_seed_and_differs_without(model):
    y = _labels(model, 4)
    a = generate(model, 4, y=y, seed=3)
    assert torch.equal(a, generate(model, 4, y=y, seed=3))
    assert not torch.equal(a, generate(model, 4, y=y, seed=4))


def test_batches_do_not_change_the_samples(model):
    y = _labels(model, 7)
    assert torch.allclose(generate(model, 7, y=y, seed=1), generate(model, 7, y=y, seed=1, batch_size=3), atol=1e-6)


def test_generate_samples_in_eval_mode_and_restores_the_mode(model):
    model.train()
    a = generate(model, 4, y=_labels(model, 4), seed=0)
    assert model.training
    assert torch.equal(a, generate(model.eval(), 4, y=_labels(model, 4), seed=0))
    assert not model.training


def test_generate_is_decode_of_codes_drawn_on_the_cpu(model):
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(9))
    y = _labels(model, 3)
    assert torch.equal(generate(model, 3, y=y, seed=9), decode(model, z, y=y))


# ---------------------------------------------------------------- labels: y=None everywhere
@pytest.mark.parametrize("name", ["cgan", "cvae"])
def test_a_conditional_model_refuses_to_sample_without_labels(name):
    with pytest.raises(ValueError, match=r"conditional \(10 classes\).*\(4,\), got None"):
        generate(FAMILIES[name](), 4)


@pytest.mark.parametrize("name", ["dcgan", "vae", "autoencoder", "mlp-vae"])
def test_an_unconditional_model_refuses_labels(name):
    with pytest.raises(ValueError, match="not conditional"):
        generate(FAMILIES[name](), 4, y=torch.arange(4))


@pytest.mark.parametrize("call", [
    lambda: MLPGenerator(latent_dim=4)(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)),
    lambda: MLPDiscriminator()(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long)),
    lambda: SeedGenerator(latent_dim=4)(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)),
    lambda: SeedDiscriminator()(torch.zeros(2, 3, 64, 64), torch.zeros(2, dtype=torch.long)),
    lambda: DCGANGenerator(latent_dim=4, width=4)(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)),
    lambda: ConvAutoencoder(latent_dim=2).encode(torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.long)),
], ids=["mlp G", "mlp D", "seed G", "seed D", "dcgan G", "autoencoder"])
def test_every_unconditional_network_refuses_labels(call):
    with pytest.raises(ValueError, match="not conditional"):
        call()


def test_every_network_accepts_y_none_as_a_second_argument():
    assert MLPGenerator(latent_dim=4)(torch.zeros(2, 4), None).shape == (2, 2)
    assert MLPDiscriminator()(torch.zeros(2, 2), None).shape == (2,)
    assert DCGANDiscriminator(width=4)(torch.zeros(2, 1, 28, 28), None).shape == (2,)
    assert ConvAutoencoder(latent_dim=2)(torch.zeros(2, 1, 28, 28), None)[0].shape == (2, 1, 28, 28)


def test_a_conditional_discriminator_needs_labels():
    with pytest.raises(ValueError, match="conditional"):
        DCGANDiscriminator(width=4, num_classes=10)(torch.zeros(2, 1, 28, 28))


def test_labels_for_gives_none_or_every_class_in_turn_or_one_class():
    assert labels_for(MLPGenerator(), 5) is None and labels_for(MLPGenerator(), 5, label=3) is None
    cgan = FAMILIES["cgan"]()
    assert labels_for(cgan, 12).tolist() == list(range(10)) + [0, 1]
    assert labels_for(cgan, 3, label=7).tolist() == [7, 7, 7]


# ---------------------------------------------------------------- odd inputs
def test_toy_points_come_back_as_n_by_d():
    assert generate(MLPGenerator(latent_dim=4), 6, seed=0).shape == (6, 2)


def test_a_plain_module_is_its_own_renderer():
    G = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Unflatten(1, (1, 4, 4)))
    assert generate(G, 3, latent_dim=4, seed=0).shape == (3, 1, 4, 4)
    with pytest.raises(ValueError, match="latent_dim"):
        generate(G, 3)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_a_bad_count_is_refused(n):
    with pytest.raises(ValueError, match="positive integer"):
        generate(MLPGenerator(), n)


def test_decode_wants_a_batch_of_codes():
    with pytest.raises(ValueError, match=r"\(B, latent_dim\), got \(4,\)"):
        decode(MLPGenerator(latent_dim=4), torch.zeros(4))


# ---------------------------------------------------------------- interpolate

def test_interpolate_linear_hits_both_ends_and_the_midpoint():
    z0, z1 = torch.randn(8), torch.randn(8)
    path = interpolate(z0, z1, [0.0, 0.5, 1.0])
    assert path.shape == (3, 8)
    assert torch.allclose(path[0], z0) and torch.allclose(path[2], z1) and torch.allclose(path[1], (z0 + z1) / 2)


def test_interpolate_slerp_keeps_the_length_of_equal_length_codes():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    path = interpolate(z0, z1, torch.linspace(0, 1, 7), method="slerp")
    assert torch.allclose(path.norm(dim=1), torch.full((7,), 3.0), atol=1e-5)
    assert interpolate(z0, z1, 0.5).norm() < 2.2  # the linear midpoint is shorter: 3 / sqrt(2)


def test_interpolate_slerp_of_parallel_codes_falls_back_to_linear():
    z0 = torch.tensor([1.0, 2.0])
    assert torch.allclose(interpolate(z0, 2 * z0, 0.5, method="slerp")[0], 1.5 * z0)


@pytest.mark.parametrize("args, words", [
    ((torch.randn(4), torch.randn(5), 0.5), "same shape"),
    ((torch.randn(1, 4), torch.randn(1, 4), 0.5), "(D,)"),
    ((torch.randn(4), torch.randn(4), 1.5), "[0, 1]"),
    ((torch.randn(4), torch.randn(4), 0.5, "cubic"), "'linear' or 'slerp'"),
])
def test_interpolate_rejects_bad_inputs(args, words):
    with pytest.raises(ValueError) as e:
        interpolate(*args)
    assert words in str(e.value)


