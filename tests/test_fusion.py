"""genimg_course.fusion: the VAE-GAN step, GAN inversion, measured image properties and edit directions."""
from __future__ import annotations

import copy

import pytest
import torch

from genimg_course import fusion
from genimg_course.fusion import (Direction, InversionEncoderTask, VAEGANTask, apply_edit, check_target_images,
                                  discriminator_features, edit_directions, edit_success, feature_loss, invert,
                                  linear_probe, slant, stroke_thickness)
from genimg_course.gan import load_pretrained
from genimg_course.models import ConvVAE, DCGANDiscriminator, DCGANGenerator
from genimg_course.models.vae import ConvEncoder
from genimg_course.train import StepContext


def _ctx() -> StepContext:
    return StepContext(device=torch.device("cpu"), amp_dtype=None)


def _gen(latent: int = 8) -> DCGANGenerator:
    torch.manual_seed(0)
    return DCGANGenerator(latent_dim=latent, width=8).eval()


def test_discriminator_features_shapes_and_logits_match_forward():
    D = DCGANDiscriminator(width=8).eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    feats, logits = discriminator_features(D, x)
    assert feats.shape == (3, 16 * 7 * 7)
    torch.testing.assert_close(logits, D(x))


def test_discriminator_features_refuses_other_networks():
    with pytest.raises(TypeError, match="DCGANDiscriminator"):
        discriminator_features(torch.nn.Linear(3, 1), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="unconditional"):
        discriminator_features(DCGANDiscriminator(width=8, num_classes=10), torch.zeros(1, 1, 28, 28))


def test_feature_loss_is_half_the_squared_distance_per_image():
    a, b = torch.randn(4, 10), torch.randn(4, 10)
    assert float(feature_loss(a, b)) == pytest.approx(float(0.5 * ((a - b) ** 2).sum() / 4), rel=1e-6)
    assert float(feature_loss(a, a)) == 0
    with pytest.raises(ValueError, match=r"\(4, 10\) and \(4, 9\)"):
        feature_loss(a, b[:, :9])


def test_vaegan_step_trains_all_three_networks_and_logs():
    torch.manual_seed(0)
    vae, D = ConvVAE(latent_dim=4, width=8, hidden=32), DCGANDiscriminator(width=8)
    before = {k: copy.deepcopy(m.state_dict()) for k, m in (("enc", vae.encoder), ("dec", vae.decoder), ("D", D))}
    task = VAEGANTask(vae, D)
    out = task.step(torch.rand(6, 1, 28, 28), _ctx())
    for key in ("loss", "kl", "llike", "pixel_recon", "d_loss", "g_adv", "d_real", "d_fake"):
        assert torch.isfinite(out[key]) and not out[key].requires_grad
    for key, m in (("enc", vae.encoder), ("dec", vae.decoder), ("D", D)):
        changed = any(not torch.equal(before[key][n], v) for n, v in m.state_dict().items() if v.is_floating_point())
        assert changed, key
    assert set(task.modules) == set(task.optimizers) == {"encoder", "decoder", "D"}


def test_vaegan_encoder_loss_never_reaches_the_decoder():
    """With pixel = adversarial = 0 and gamma = 0 the decoder's loss is zero: only the encoder and D may move."""
    torch.manual_seed(0)
    vae, D = ConvVAE(latent_dim=4, width=8, hidden=32), DCGANDiscriminator(width=8)
    dec0 = copy.deepcopy(vae.decoder.state_dict())
    task = VAEGANTask(vae, D, gamma=0.0, pixel=0.0, adversarial=0.0)
    task.step(torch.rand(6, 1, 28, 28), _ctx())
    for n, v in vae.decoder.state_dict().items():
        assert torch.equal(dec0[n], v), n


def test_vaegan_refuses_bad_input():
    vae, D = ConvVAE(latent_dim=4, width=8, hidden=32), DCGANDiscriminator(width=8)
    with pytest.raises(ValueError, match="unconditional"):
        VAEGANTask(ConvVAE(latent_dim=4, width=8, hidden=32, num_classes=10), D)
    with pytest.raises(TypeError, match="ConvVAE"):
        VAEGANTask(torch.nn.Linear(2, 2), D)
    with pytest.raises(ValueError, match="gamma"):
        VAEGANTask(vae, D, gamma=-1)
    task = VAEGANTask(vae, D)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        task.step(torch.rand(4, 1, 28, 28) * 2 - 1, _ctx())


def test_check_target_images_names_the_range_and_shape():
    ok = torch.rand(2, 1, 28, 28) * 2 - 1
    assert check_target_images(ok) is ok
    assert check_target_images(ok[0]).shape == (1, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[0, 1\] images.*2 \* x - 1"):
        check_target_images(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        check_target_images(torch.rand(2, 1, 28, 28) * 255)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\).*\(2, 1, 32, 32\)"):
        check_target_images(torch.zeros(2, 1, 32, 32))
    with pytest.raises(TypeError, match="to_float"):
        check_target_images(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


def test_invert_finds_codes_and_leaves_the_generator_alone():
    G = load_pretrained("dcgan_mnist")
    G.train()  # invert must run it in eval mode and put the mode back
    w0 = copy.deepcopy(G.state_dict())
    with torch.no_grad():
        G.eval()
        z_true = torch.randn(4, 64, generator=torch.Generator().manual_seed(1))
        x = G(z_true)
        G.train()
    res = invert(G, x, steps=60, lr=0.05, seed=3)
    assert res.z.shape == (4, 64) and res.images.shape == (4, 1, 28, 28) and res.mse.shape == (4,)
    assert len(res.curve) == 60 and res.curve[-1] < 0.5 * res.curve[0]
    assert G.training and all(p.requires_grad for p in G.parameters())
    for n, v in G.state_dict().items():
        assert torch.equal(w0[n], v), n
    # started at the true code, it stays there
    exact = invert(G, x, steps=5, z0=z_true, prior=0.0)
    assert float(exact.mse.max()) < 1e-4


def test_invert_is_one_problem_per_image():
    G = _gen()
    with torch.no_grad():
        x = G(torch.randn(3, 8))
    z0 = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    both = invert(G, x, steps=10, z0=z0)
    one = invert(G, x[:1], steps=10, z0=z0[:1])
    torch.testing.assert_close(both.z[:1], one.z, atol=1e-5, rtol=1e-4)


def test_invert_refuses_bad_input():
    G = _gen()
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    with pytest.raises(ValueError, match=r"z0 must be float codes of shape \(2, 8\)"):
        invert(G, x, z0=torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        invert(G, torch.zeros(2, 1, 14, 14))
    with pytest.raises(ValueError, match=r"\[0, 1\] images"):
        invert(G, (x + 1) / 2)
    with pytest.raises(TypeError, match="latent_dim"):
        invert(torch.nn.Conv2d(1, 1, 1), x)
    with pytest.raises(ValueError, match="steps"):
        invert(G, x, steps=-1)


def test_inversion_encoder_task_trains_only_the_encoder():
    G = _gen()
    w0 = copy.deepcopy(G.state_dict())
    E = ConvEncoder(out_dim=8, width=8, hidden=32)
    e0 = copy.deepcopy(E.state_dict())
    task = InversionEncoderTask(E, G, batch_size=8)
    out = task.step(torch.rand(8, 1, 28, 28) * 2 - 1, _ctx())
    assert set(out) == {"loss", "code_loss", "pixel_loss"}
    assert any(not torch.equal(e0[n], v) for n, v in E.state_dict().items())
    for n, v in G.state_dict().items():
        assert torch.equal(w0[n], v), n
    with pytest.raises(ValueError, match=r"\[0, 1\] images"):
        InversionEncoderTask(ConvEncoder(out_dim=8, width=8, hidden=32), _gen()).step(torch.rand(8, 1, 28, 28), _ctx())


def _stroke(width: int, shear: float = 0.0) -> torch.Tensor:
    img = -torch.ones(28, 28)
    for r in range(4, 24):
        c = int(round(13 - shear * (r - 14)))  # rows count down: a positive shear leans the top right
        img[r, c:c + width] = 1
    return img[None, None]


def test_stroke_thickness_is_the_pen_width():
    t = stroke_thickness(torch.cat([_stroke(1), _stroke(3), _stroke(5)]))
    assert t[0] == pytest.approx(1.0, abs=0.15)
    assert t[1] == pytest.approx(3.0, abs=0.5)
    assert t[2] == pytest.approx(5.0, abs=0.8)
    assert float(stroke_thickness(-torch.ones(1, 1, 28, 28))[0]) == 0.0


def test_slant_sign_and_size():
    s = slant(torch.cat([_stroke(2), _stroke(2, 0.3), _stroke(2, -0.3)]))
    assert abs(float(s[0])) < 0.02
    assert float(s[1]) == pytest.approx(0.3, abs=0.05)
    assert float(s[2]) == pytest.approx(-0.3, abs=0.05)


def test_linear_probe_recovers_a_linear_map():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(500, 6, generator=g)
    w = torch.tensor([1.0, -2.0, 0.0, 0.5, 0.0, 3.0])
    W, b = linear_probe(z, z @ w + 0.7, ridge=0.0)
    torch.testing.assert_close(W, w, atol=1e-4, rtol=1e-4)
    assert float(b) == pytest.approx(0.7, abs=1e-4)
    with pytest.raises(ValueError, match=r"\(500,\) or \(500, K\)"):
        linear_probe(z, torch.zeros(10))


def test_edit_directions_find_the_planted_direction():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1000, 6, generator=g)
    thick = 2 * z[:, 1] + 0.01 * torch.randn(1000, generator=g)
    labels = (z[:, 2] > 0).long()
    dirs = edit_directions(z, {"thickness": thick, "class": labels})
    d = dirs["thickness"]
    assert isinstance(d, Direction) and float(d.vector.norm()) == pytest.approx(1.0)
    assert abs(float(d.vector[1])) > 0.99 and d.per_unit == pytest.approx(2.0, rel=0.02) and d.r2 > 0.99
    assert {"class=0", "class=1"} <= set(dirs) and dirs["class=1"].r2 > 0.9
    assert float(dirs["class=1"].vector[2]) > 0.9


def test_apply_edit_and_its_refusals():
    z = torch.zeros(3, 4)
    d = torch.tensor([1.0, 0, 0, 0])
    assert torch.equal(apply_edit(z, d, 2.0)[:, 0], torch.full((3,), 2.0))
    assert torch.equal(apply_edit(z, Direction("x", d, 1.0, 1.0), torch.tensor([0.0, 1.0, 2.0]))[:, 0],
                       torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"the codes' dimension, shape \(4,\).*\(5,\)"):
        apply_edit(z, torch.zeros(5), 1.0)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        apply_edit(z, d, torch.zeros(2))
    assert edit_success(torch.zeros(4), torch.tensor([1.0, -1.0, 0.5, 0.0]), margin=0.1) == 0.5
    assert edit_success(torch.zeros(4), torch.tensor([1.0, -1.0, 0.5, 0.0]), increase=False) == 0.25


def test_public_names_exist():
    for name in fusion.__all__:
        assert hasattr(fusion, name), name


def test_vaegan_uses_a_given_feature_loss():
    calls = []

    def mine(real, fake):
        calls.append((tuple(real.shape), tuple(fake.shape)))
        return feature_loss(real, fake)

    torch.manual_seed(0)
    vae, D = ConvVAE(latent_dim=4, width=8, hidden=32), DCGANDiscriminator(width=8)
    VAEGANTask(vae, D, llike_fn=mine).step(torch.rand(6, 1, 28, 28), _ctx())
    assert calls == [((6, 16 * 7 * 7), (6, 16 * 7 * 7))]
    with pytest.raises(TypeError, match="llike_fn must be a function"):
        VAEGANTask(vae, D, llike_fn=3)


def test_load_fusion_names_what_it_knows():
    with pytest.raises(ValueError, match=r"expected one of \['encoder', 'vae_twin', 'vaegan'\]"):
        fusion.load_fusion("vae-gan")
