"""Lesson 09's shipped networks: hash-checked, frozen, of the recipe's architectures, and what the lesson reads from
their records holds: the VAE-GAN's FID is below its twin VAE's under the same protocol, n and budget in steps, and the
DCGAN's inversion encoder gets the judge's label right on at least 0.9 of the inverted test digits."""
from __future__ import annotations

import pytest
import torch

from genimg_course import fusion
from genimg_course.checkpoints import SHIPPED, shipped_path
from genimg_course.data import load_mnist, to_float
from genimg_course.files import sha256_file
from genimg_course.gan import load_pretrained
from genimg_course.models import ConvVAE
from genimg_course.models.vae import ConvEncoder

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", sorted(fusion.SHIPPED_FUSION))
def test_a_shipped_network_loads_frozen_with_its_hash_and_record(name):
    key = fusion.SHIPPED_FUSION[name]
    path = shipped_path(key)
    assert sha256_file(path) == SHIPPED[key][1]
    assert path.stat().st_size < 4 * 2**20  # float16, under 5 MB
    assert "tools/make_fusion_weights.py" in SHIPPED[key][2]
    model = fusion.load_fusion(name)
    assert isinstance(model, ConvEncoder if name == "encoder" else ConvVAE)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert {"recipe", "steps", "train_seconds", "scores", "protocol"} <= set(model.info)


def test_the_vaegan_beats_its_twin_at_the_same_n_and_steps():
    vaegan, twin = fusion.load_fusion("vaegan"), fusion.load_fusion("vae_twin")
    a, b = vaegan.info["scores"], twin.info["scores"]
    assert vaegan.info["steps"] == twin.info["steps"] and a["n"] == b["n"] == 500 and a["floor"] == b["floor"]
    assert a["fid"] < b["fid"] and a["fid"] > a["floor"]
    assert 0 < a["recon_mse"] < 0.05 and 0 < b["recon_mse"] < 0.05


def test_the_encoder_inverts_test_digits_well_enough():
    E = fusion.load_fusion("encoder")
    s = E.info["scores"]
    assert s["encoder_accuracy"] >= 0.9 and s["encoder_50_accuracy"] >= s["encoder_accuracy"]
    assert s["encoder_200_mse"] < s["encoder_50_mse"] < s["encoder_mse"]
    # a cheap live property: on 16 test digits the encoder's inversions are closer than codes drawn at random
    G = load_pretrained("dcgan_mnist")
    x = to_float(load_mnist("test", "offline", verbose=False).images[:16], value_range=(-1, 1))
    z = fusion.encoder_codes(E, x, G.latent_dim)
    with torch.no_grad():
        mse_enc = float((G(z) - x).pow(2).mean())
        mse_rand = float((G(torch.randn(16, G.latent_dim, generator=torch.Generator().manual_seed(0))) - x).pow(2).mean())
    assert mse_enc < 0.6 * mse_rand
    assert mse_enc == pytest.approx(s["encoder_mse"], abs=0.05)
