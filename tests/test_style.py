"""Tests of genimg_course.style (lesson 08): Gram matrix, losses, extractors, transfer, bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genimg_course import style as S


@pytest.fixture(scope="module")
def small():
    """A 64 px photo and the course's strokes style image at 64 px."""
    return S.load_photo("astronaut", 64), S.make_style_image(64, seed=0)


def test_gram_matrix_against_loop_and_normalisation():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 4, 3, generator=g)
    ref = torch.zeros(2, 5, 5)
    for b in range(2):
        for i in range(5):
            for j in range(5):
                ref[b, i, j] = sum(float(x[b, i, h, w] * x[b, j, h, w]) for h in range(4) for w in range(3))
    ref /= 5 * 4 * 3
    torch.testing.assert_close(S.gram_matrix(x), ref, rtol=1e-5, atol=1e-6)
    # the normalisation makes a Gram entry size-free: tiling the same maps 2×2 leaves it unchanged
    torch.testing.assert_close(S.gram_matrix(x.repeat(1, 1, 2, 2)), S.gram_matrix(x), rtol=1e-5, atol=1e-6)
    assert S.gram_matrix(x).shape == (2, 5, 5)


def test_style_loss_zero_for_identical_positive_otherwise_and_weights():
    g = torch.Generator().manual_seed(1)
    a = [torch.randn(1, 4, 8, 8, generator=g), torch.randn(1, 6, 4, 4, generator=g)]
    b = [torch.randn(1, 4, 16, 16, generator=g), torch.randn(1, 6, 8, 8, generator=g)]
    assert float(S.style_loss(a, a)) == 0.0
    la = F.mse_loss(S.gram_matrix(a[0]), S.gram_matrix(b[0]))
    lb = F.mse_loss(S.gram_matrix(a[1]), S.gram_matrix(b[1]))
    torch.testing.assert_close(S.style_loss(a, b), la + lb)
    torch.testing.assert_close(S.style_loss(a, b, weights=[2.0, 0.0]), 2 * la)
    assert float(S.style_loss(a, b)) > 0
    # a Gram loss ignores where things are: a shuffled map has the same style
    perm = torch.randperm(64, generator=g)
    shuffled = a[0].flatten(2)[..., perm].reshape_as(a[0])
    assert float(S.style_loss([shuffled], [a[0]])) < 1e-12
    assert float(S.content_loss(shuffled, a[0])) > 0.1


def test_content_loss_and_tv():
    x = torch.rand(1, 3, 8, 8)
    assert float(S.content_loss(x, x)) == 0
    torch.testing.assert_close(S.content_loss(x, x + 0.5), torch.tensor(0.25))
    assert float(S.total_variation(torch.full((1, 3, 9, 7), 0.3))) == 0
    # anisotropic L1: a vertical step of height 1 in a W-wide image: |dx| mean = 1/(W-1)
    step = torch.zeros(1, 1, 4, 5)
    step[..., 3:] = 1
    torch.testing.assert_close(S.total_variation(step), torch.tensor(1 / 4))
    diag = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).view(1, 1, 2, 2)
    torch.testing.assert_close(S.total_variation(diag), torch.tensor(2.0))  # |dx| + |dy|, not √(dx² + dy²)


def test_random_features_deterministic_frozen_and_receptive_field():
    a, b, c = S.RandomFeatures(seed=0), S.RandomFeatures(seed=0), S.RandomFeatures(seed=1)
    x = torch.rand(1, 3, 48, 48)
    fa, fb, fc = a(x), b(x), c(x)
    assert [tuple(f.shape) for f in fa] == [(1, 32, 48, 48), (1, 64, 24, 24), (1, 128, 12, 12)]
    for p, q in zip(fa, fb):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert not torch.allclose(fa[0], fc[0])
    assert all(not p.requires_grad for p in a.parameters())
    a.train()
    assert not a.training
    assert a.receptive_field == 38 and a.min_size == 38
    # the receptive field, measured: the gradient of one deep output reaches exactly 38 px
    y = torch.rand(1, 3, 96, 96, requires_grad=True)
    out = a(y)[-1]
    out[0, :, 12, 12].sum().backward()
    rows = (y.grad.abs().sum(dim=(0, 1, 3)) > 0).nonzero()
    assert int(rows.max() - rows.min() + 1) == 38
    assert S.RandomFeatures(channels=(8,), kernel_sizes=(5,)).receptive_field == 5


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_transfer_lowers_style_loss_keeps_content(small, optimizer, one_thread):
    content, style = small
    seen = []
    r = S.transfer(content, style, S.RandomFeatures(), steps=15, optimizer=optimizer,
                   callback=lambda step, img, losses: seen.append(step))
    h = r.history
    assert h["steps"] == 15 and seen == list(range(1, 16)) and len(h["seconds"]) == 15
    assert h["style"][-1] < 0.3 * h["style"][0]
    assert h["content"][-1] < 0.1  # from 0 at the start (init="content"): bounded
    assert r.image.shape == content.shape and 0 <= float(r.image.min()) and float(r.image.max()) <= 1
    # the held-out judge agrees that the style moved towards the style image
    assert S.held_out_style_loss(r.image, style) < 0.5 * S.held_out_style_loss(content, style)
    assert S.content_distance(r.image, content) < 0.25
    assert S.content_distance(content, content) == 0


def test_transfer_noise_init_and_stops(small, one_thread):
    content, style = small
    r = S.transfer(content, style, steps=50, init="noise", optimizer="adam", callback=lambda s, i, l: s == 3)
    assert r.history["steps"] == 3
    r = S.transfer(content, style, steps=1000, max_seconds=0.3)
    assert r.history["steps"] < 1000


def test_bad_inputs_named(small):
    content, style = small
    with pytest.raises(ValueError, match=r"needs at least 38×38 px"):
        S.transfer(content, style[..., :30, :30])
    nan = content.clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="content contains NaN"):
        S.transfer(nan, style)
    with pytest.raises(ValueError, match=r"in \[0, 1\].*1/255"):
        S.transfer(content * 255, style)
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        S.transfer(content, style * 2 - 1)
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\).*unsqueeze"):
        S.transfer(content[0], style)
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        S.transfer(content.repeat(2, 1, 1, 1), style)
    with pytest.raises(ValueError, match="optimizer must be 'lbfgs' or 'adam'"):
        S.transfer(content, style, optimizer="sgd")
    with pytest.raises(ValueError, match="init must be"):
        S.transfer(content, style, init="zeros")
    with pytest.raises(ValueError, match="style_weight must be a number >= 0"):
        S.transfer(content, style, style_weight=-1)
    with pytest.raises(ValueError, match="layer 0 has 4 channels in feats_x but 5"):
        S.style_loss([torch.rand(1, 4, 3, 3)], [torch.rand(1, 5, 3, 3)])
    with pytest.raises(ValueError, match="1 layers but feats_style has 2"):
        S.style_loss([torch.rand(1, 4, 3, 3)], [torch.rand(1, 4, 3, 3)] * 2)
    with pytest.raises(ValueError, match="must have 4 dimensions"):
        S.gram_matrix(torch.rand(4, 3, 3))
    with pytest.raises(ValueError, match="kernel_sizes"):
        S.RandomFeatures(channels=(8, 8), kernel_sizes=(3,))
    with pytest.raises(ValueError, match="one of"):
        S.make_style_image(64, kind="oil")
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        S.vgg_features(layers=("relu9_1",))


def test_make_style_image_kinds():
    for kind in S.STYLE_KINDS:
        img = S.make_style_image(64, kind=kind)
        assert img.shape == (1, 3, 64, 64) and img.dtype == torch.float32
        assert 0 <= float(img.min()) and float(img.max()) <= 1 and float(img.std()) > 0.05
    torch.testing.assert_close(S.make_style_image(48, seed=3), S.make_style_image(48, seed=3))
    assert not torch.equal(S.make_style_image(48, seed=3), S.make_style_image(48, seed=4))
    m0, m1 = S.make_style_image(48, "mosaic", seed=0), S.make_style_image(48, "mosaic", seed=1)
    assert not torch.equal(m0, m1)  # other cells, the same palette
    torch.testing.assert_close(m0.mean(dim=(2, 3)), m1.mean(dim=(2, 3)), atol=0.03, rtol=0)


def test_vgg_offline_error_or_features(monkeypatch, tmp_path):
    ok, why = S.vgg_weights_available()
    # never downloads by default: with an empty torch cache the error names how to get the weights
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"needs the network.*download=True"):
        S.vgg_features()
    monkeypatch.undo()
    if not ok:
        pytest.skip(f"VGG19 weights absent: {why}")
    f = S.vgg_features()
    out = f(torch.rand(1, 3, 64, 64))
    assert len(out) == 6 and f.content_layers == (f.layers.index("relu4_2"),)
    assert all(not p.requires_grad for p in f.parameters()) and not f.training


def test_vgg_wrapper_layers_and_normalisation_with_random_weights():
    """The wrapper's layer picking and ImageNet normalisation, offline, on an untrained VGG19 body."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    body = make_layers(cfgs["E"])
    assert len(body) == len(S.VGG_LAYERS)
    f = S.VGGFeatures(body, ("relu1_1", "relu3_1"), "relu2_2")
    assert f.layers == ("relu1_1", "relu2_2", "relu3_1")
    assert f.style_layers == (0, 2) and f.content_layers == (1,) and f.min_size == 8
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h, ref = (x - mean) / std, []
    for i, m in enumerate(body[: S.VGG_LAYERS.index("relu3_1") + 1]):
        h = m(h)
        if S.VGG_LAYERS[i] in f.layers:
            ref.append(h)
    out = f(x)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b)
    assert [o.shape[1] for o in out] == [64, 128, 256]
    assert all(not p.requires_grad for p in f.parameters())


def test_judge_features_rgb_maps_and_measured_receptive_field():
    f = S.judge_features()
    assert f.receptive_field == 14 and f.min_size == 14
    assert f.style_layers == (0, 1, 2, 3) and f.content_layers == (3,)
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    out = f(x)
    assert [tuple(o.shape) for o in out] == [(1, 96, 32, 32), (1, 96, 32, 32), (1, 192, 16, 16), (1, 192, 16, 16)]
    out[-1][0, :, 8, 8].sum().backward()
    rows = (x.grad.abs().sum(dim=(0, 1, 3)) > 0).nonzero()
    assert int(rows.max() - rows.min() + 1) == 14
    assert all(not p.requires_grad for p in f.parameters()) and not f.training
    # each colour channel goes through the grey network alone: a red-only image leaves the other maps at their
    # response to a black image
    red = torch.zeros(1, 3, 32, 32)
    red[:, 0] = torch.rand(32, 32)
    black = f(torch.zeros(1, 3, 32, 32))[0]
    torch.testing.assert_close(f(red)[0][:, 32:], black[:, 32:])
    with pytest.raises(ValueError, match="grey-image CNNClassifier"):
        S.ClassifierFeatures(S.RandomFeatures())


def test_transfer_takes_a_style_loss_and_a_step(small, one_thread):
    content, style = small
    calls = {"loss": 0, "step": 0}

    def my_loss(fx, fs):
        calls["loss"] += 1
        return S.style_loss(fx, fs)

    def my_step(x, opt, loss_fn):
        calls["step"] += 1
        return S.pixel_step(x, opt, loss_fn)

    a = S.transfer(content, style, steps=4, optimizer="adam")
    b = S.transfer(content, style, steps=4, optimizer="adam", style_loss_fn=my_loss, step_fn=my_step)
    torch.testing.assert_close(a.image, b.image)
    assert calls == {"loss": 4, "step": 4}
    with pytest.raises(TypeError, match="style_loss_fn must be callable"):
        S.transfer(content, style, style_loss_fn="gram")
    with pytest.raises(TypeError, match="one number as a tensor"):
        S.transfer(content, style, steps=1, style_loss_fn=lambda fx, fs: [0.0])
    with pytest.raises(RuntimeError, match="did not compute the loss"):
        S.transfer(content, style, steps=1, step_fn=lambda x, opt, fn: None)


def test_pixel_step_clamps_and_serves_both_optimisers():
    for make in (lambda x: torch.optim.Adam([x], lr=0.5), lambda x: torch.optim.LBFGS([x], lr=1, max_iter=1)):
        x = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
        loss = S.pixel_step(x, make(x), lambda img: ((img - 2.0) ** 2).sum())
        assert isinstance(loss, torch.Tensor) and float(loss) == pytest.approx(3 * 16 * 2.25)
        assert float(x.max()) <= 1.0 and float(x.min()) > 0.5


def test_held_out_style_loss_with_another_network(small):
    content, style = small
    other = S.RandomFeatures(channels=(16, 32), kernel_sizes=(5, 9), seed=7)
    assert S.held_out_style_loss(style, style, features=other) == 0
    assert S.held_out_style_loss(content, style, features=other) > 0
    with pytest.raises(ValueError, match=f"needs at least {other.min_size}"):
        S.held_out_style_loss(content[..., :16, :16], style, features=other)
