"""Lesson 07's translation module: the edge maps against scikit-image, the pix2pix / LSGAN / cycle
losses against torch's own, Pix2PixTask and CycleGANTask under fit, the image buffer against a
transcription of CycleGAN's ImagePool, the second digit domain, and the refusals."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genimg_course.data import ImageSet, ResidentBatches, load_digits8
from genimg_course.models.patchgan import PatchGAN
from genimg_course.models.unet import UNet
from genimg_course.train import fit
from genimg_course.translate import (CycleGANTask, ImageBuffer, Pix2PixTask, UnpairedBatches, cycle_loss, edge_pairs,
                                     edges, label_preservation, load_sklearn_digits_28, lsgan_d_loss, lsgan_g_loss,
                                     pix2pix_d_loss, pix2pix_g_loss)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sk28() -> ImageSet:
    return load_sklearn_digits_28("train")


def lasts(h) -> dict[str, float]:
    return {k: h.last(k) for k in h.values}


def params(m: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in m.parameters()])


# ---------------------------------------------------------------- edges
def test_edges_equal_scikit_image_sobel(digits256: ImageSet) -> None:
    from skimage.filters import sobel

    x = digits256.images[:6].float() / 255
    patch = torch.rand(2, 1, 32, 32)
    for imgs in (x, patch):
        ref = np.stack([np.minimum(1.0, math.sqrt(2) * sobel(im[0].numpy().astype(np.float64))) for im in imgs])
        e = edges(imgs)
        assert e.shape == (imgs.shape[0], 1, *imgs.shape[2:]) and e.dtype == torch.float32
        np.testing.assert_allclose(e[:, 0].numpy(), ref, atol=1e-5)
    assert 0 <= float(edges(x).min()) and float(edges(x).max()) <= 1
    assert torch.equal(edges(digits256.images[:6]), edges(x))  # uint8 is scaled
    assert float(edges(torch.full((1, 1, 8, 8), 0.7)).abs().max()) < 1e-6  # flat: no edge, border included


def test_edges_of_colour_are_the_edges_of_its_grey() -> None:
    x = torch.rand(2, 3, 16, 16)
    assert torch.allclose(edges(x), edges(x.mean(1, keepdim=True)))


def test_edge_pairs(digits256: ImageSet) -> None:
    inp, target = edge_pairs(digits256.images[:4])
    assert torch.equal(target, digits256.images[:4].float() / 255) and torch.equal(inp, edges(target))


# ---------------------------------------------------------------- the losses
def test_pix2pix_losses_equal_bce_and_l1_on_fixed_tensors() -> None:
    torch.manual_seed(0)
    real, fake_logits = torch.randn(4, 1, 5, 5), torch.randn(4, 1, 5, 5)
    fake, target = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    bce = F.binary_cross_entropy_with_logits
    d = pix2pix_d_loss(real, fake_logits)
    assert torch.allclose(d, 0.5 * (bce(real, torch.ones_like(real)) + bce(fake_logits, torch.zeros_like(fake_logits))))
    g = pix2pix_g_loss(fake_logits, fake, target, lam=100.0)
    adv, l1 = bce(fake_logits, torch.ones_like(fake_logits)), F.l1_loss(fake, target)
    assert torch.allclose(g["adv"], adv) and torch.allclose(g["l1"], l1)
    assert torch.allclose(g["loss"], adv + 100.0 * l1)
    # by hand: logits 0 → -log σ(0) = log 2; |0.25 - 0| everywhere
    h = pix2pix_g_loss(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 4, 4), 0.25), torch.zeros(1, 1, 4, 4), lam=10.0)
    assert math.isclose(float(h["loss"]), math.log(2) + 2.5, rel_tol=1e-6)


def test_lsgan_and_cycle_losses_equal_mse_and_l1() -> None:
    torch.manual_seed(1)
    r, f = torch.randn(3, 1, 5, 5), torch.randn(3, 1, 5, 5)
    assert torch.allclose(lsgan_d_loss(r, f), 0.5 * (F.mse_loss(r, torch.ones_like(r)) + F.mse_loss(f, torch.zeros_like(f))))
    assert torch.allclose(lsgan_g_loss(f), F.mse_loss(f, torch.ones_like(f)))
    a, b = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    assert torch.allclose(cycle_loss(a, b), F.l1_loss(a, b))
    with pytest.raises(ValueError, match="one shape"):
        cycle_loss(a, b[:, :, :4])
    with pytest.raises(TypeError, match="float tensor"):
        lsgan_g_loss([1.0])


# ---------------------------------------------------------------- pix2pix
def _pix2pix(adversarial: bool = True, D: torch.nn.Module | None = None) -> Pix2PixTask:
    torch.manual_seed(0)
    D = D if D is not None else PatchGAN(1, width=8, conditional_channels=1)
    return Pix2PixTask(UNet(1, 1, width=8), D, adversarial=adversarial, paired_input=edges)


def test_pix2pix_trains_under_fit(digits256: ImageSet) -> None:
    task = _pix2pix()
    g0, d0 = params(task.modules["G"]), params(task.modules["D"])
    h = fit(task, ResidentBatches(digits256, 16, value_range=(0, 1)), steps=4, log_every=2, progress=False)
    last = lasts(h)
    assert {"d_loss", "g_adv", "g_l1", "psnr", "d_real", "d_fake"} <= set(last)
    assert all(math.isfinite(v) for v in last.values())
    assert not torch.equal(g0, params(task.modules["G"])) and not torch.equal(d0, params(task.modules["D"]))


def test_pix2pix_l1_only_never_updates_d(digits256: ImageSet) -> None:
    D = PatchGAN(1, width=8, conditional_channels=1)
    d0 = params(D)
    task = _pix2pix(adversarial=False, D=D)
    assert set(task.optimizers) == {"G"} and set(task.modules) == {"G"}
    g0 = params(task.modules["G"])
    h = fit(task, ResidentBatches(digits256, 16, value_range=(0, 1)), steps=3, log_every=3, progress=False)  # uint8 batches
    assert set(lasts(h)) == {"g_l1", "psnr"} and math.isfinite(lasts(h)["g_l1"])
    assert torch.equal(d0, params(D)) and not torch.equal(g0, params(task.modules["G"]))
    assert Pix2PixTask(UNet(1, 1, width=8), None, adversarial=False).modules.keys() == {"G"}


def test_pix2pix_unconditional_d_and_explicit_pairs(digits256: ImageSet) -> None:
    torch.manual_seed(0)
    task = Pix2PixTask(UNet(1, 1, width=8), PatchGAN(1, width=8))
    x = digits256.images[:8].float() / 255
    h = fit(task, [edge_pairs(x)], steps=2, log_every=2, progress=False)
    assert math.isfinite(lasts(h)["d_loss"])


def test_pix2pix_refusals(digits256: ImageSet) -> None:
    from genimg_course.train import StepContext

    ctx = StepContext(torch.device("cpu"), None)
    x, y = digits256.images[:4].float() / 255, digits256.labels[:4]
    with pytest.raises(ValueError, match="paired_input=edges"):
        Pix2PixTask(UNet(1, 1, width=8), PatchGAN(1, width=8)).step((x, y), ctx)
    with pytest.raises(ValueError, match="CycleGANTask"):
        _pix2pix().step(((x, y), (x, y)), ctx)
    with pytest.raises(ValueError, match="adversarial=False"):
        Pix2PixTask(UNet(1, 1, width=8), None)
    with pytest.raises(ValueError, match=r"UNet\(1, 1"):
        Pix2PixTask(UNet(3, 1, width=8), PatchGAN(1, width=8), paired_input=edges).step(x, ctx)
    with pytest.raises(ValueError, match=r"PatchGAN\(1, conditional_channels=1\)"):
        Pix2PixTask(UNet(1, 1, width=8), PatchGAN(1, width=8, conditional_channels=3), paired_input=edges).step(x, ctx)
    with pytest.raises(ValueError, match="divide by 255"):
        Pix2PixTask(UNet(1, 1, width=8), PatchGAN(1, width=8)).step((x * 255, x * 255), ctx)
    with pytest.raises(TypeError, match="paired_input must be a function"):
        Pix2PixTask(UNet(1, 1, width=8), PatchGAN(1, width=8), paired_input="edges")
    with pytest.raises(ValueError, match="lam"):
        Pix2PixTask(UNet(1, 1, width=8), PatchGAN(1, width=8), lam=-1)


# ---------------------------------------------------------------- the image buffer
def reference_pool(size: int, queries: list[torch.Tensor], g: torch.Generator) -> list[torch.Tensor]:
    """CycleGAN's ImagePool.query (util/image_pool.py), image by image, with the documented draws."""
    store: list[torch.Tensor] = []
    outs = []
    for images in queries:
        fill = min(len(images), size - len(store))
        n = len(images) - fill
        u = torch.rand(n, generator=g) if n else torch.empty(0)
        slot = torch.randint(0, size, (n,), generator=g) if n else torch.empty(0, dtype=torch.long)
        ret, k = [], 0
        for image in images:
            if len(store) < size:
                store.append(image.clone())
                ret.append(image)
            else:
                if u[k] < 0.5:
                    j = int(slot[k])
                    tmp = store[j].clone()
                    store[j] = image.clone()
                    ret.append(tmp)
                else:
                    ret.append(image)
                k += 1
        outs.append(torch.stack(ret))
    return outs


@pytest.mark.parametrize("size,batches", [(5, [3, 4, 6, 2, 8]), (1, [6, 6]), (4, [4, 4, 4])])
def test_image_buffer_equals_imagepool(size: int, batches: list[int]) -> None:
    queries = [torch.randn(b, 1, 3, 3) for b in batches]
    buf = ImageBuffer(size, generator=torch.Generator().manual_seed(7))
    got = [buf.query(q) for q in queries]
    want = reference_pool(size, queries, torch.Generator().manual_seed(7))
    for g, w in zip(got, want):
        assert torch.equal(g, w)


def test_image_buffer_equals_imagepool_on_many_draws() -> None:
    """The buffer's query has no loop over the images: many random sizes and batch lengths, where slots
    collide inside one batch (a later image takes out one stored earlier in the same batch)."""
    g = torch.Generator().manual_seed(3)
    for trial in range(60):
        size = int(torch.randint(1, 7, (1,), generator=g))
        batches = torch.randint(1, 13, (4,), generator=g).tolist()
        queries = [torch.randn(b, 2, 2, 2, generator=g) for b in batches]
        buf = ImageBuffer(size, generator=torch.Generator().manual_seed(trial))
        got = [buf.query(q) for q in queries]
        want = reference_pool(size, queries, torch.Generator().manual_seed(trial))
        assert all(torch.equal(a, b) for a, b in zip(got, want)), (trial, size, batches)


def test_image_buffer_semantics() -> None:
    buf = ImageBuffer(4, generator=torch.Generator().manual_seed(0))
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(buf.query(first), first) and buf.count == 3  # not full: returned as they came
    mixed = torch.arange(10.0, 15.0).view(5, 1, 1, 1)
    out = buf.query(mixed)
    assert buf.count == 4 and float(out[0]) == 10.0  # the 4th fills the buffer and comes back as it is
    held = sorted(out.flatten().tolist() + buf.images.flatten().tolist())
    assert held == [0.0, 1.0, 2.0, 10.0, 10.0, 11.0, 12.0, 13.0, 14.0]  # 10 is both stored and returned
    swapped = 0
    for step in range(200):
        new = torch.arange(5.0).view(5, 1, 1, 1) + 100.0 * (step + 1)  # values unique across the run
        before = buf.images.flatten().tolist()
        out = buf.query(new)
        for v in out.flatten().tolist():
            assert v in before or v in new.flatten().tolist()  # a new fake or one stored before
        # nothing is lost or duplicated: what came in plus what was stored = what came out plus what stays
        assert sorted(out.flatten().tolist() + buf.images.flatten().tolist()) == sorted(new.flatten().tolist() + before)
        swapped += int((out != new).sum())
    assert 0.4 < swapped / (200 * 5) < 0.6  # about half (a few swaps return a fake stored earlier in the same batch)
    assert buf.images.shape == (4, 1, 1, 1) and buf.count == 4


def test_image_buffer_seeding_size_zero_and_refusals() -> None:
    x = torch.randn(64, 1, 2, 2)
    a, b = ImageBuffer(8, torch.Generator().manual_seed(1)), ImageBuffer(8, torch.Generator().manual_seed(1))
    c = ImageBuffer(8, torch.Generator().manual_seed(2))
    for _ in range(3):
        ra, rb, rc = a.query(x), b.query(x.clone()), c.query(x)
    assert torch.equal(ra, rb) and not torch.equal(ra, rc)
    assert torch.equal(ImageBuffer(0).query(x), x)
    assert not a.query(x.requires_grad_()).requires_grad  # stored and returned images are detached
    with pytest.raises(ValueError, match="one buffer per domain"):
        a.query(torch.randn(2, 1, 3, 3))
    with pytest.raises(TypeError, match="torch.Generator"):
        ImageBuffer(4, generator=0)
    with pytest.raises(ValueError, match=">= 0"):
        ImageBuffer(-1)
    with pytest.raises(TypeError, match="float"):
        ImageBuffer(2).query(torch.zeros(2, 1, 2, 2, dtype=torch.uint8))


# ---------------------------------------------------------------- CycleGAN
def _cycle(lam_cycle: float = 10.0) -> CycleGANTask:
    torch.manual_seed(0)
    return CycleGANTask(UNet(1, 1, width=8), UNet(1, 1, width=8), PatchGAN(1, width=8), PatchGAN(1, width=8),
                        lam_cycle=lam_cycle, buffer_size=4)


def test_cyclegan_trains_under_fit(digits256: ImageSet, sk28: ImageSet) -> None:
    task = _cycle()
    before = {k: params(m) for k, m in task.modules.items()}
    batches = UnpairedBatches(ResidentBatches(digits256, 8, value_range=(0, 1)), ResidentBatches(sk28, 8, value_range=(0, 1), seed=1))
    h = fit(task, batches, steps=3, log_every=3, progress=False)
    last = lasts(h)
    assert set(last) == {"d_a", "d_b", "g_adv", "cycle", "identity"}
    assert all(math.isfinite(v) for v in last.values()) and last["cycle"] > 0 and last["identity"] > 0
    assert all(not torch.equal(before[k], params(m)) for k, m in task.modules.items())
    assert task.buffers["a"].count == 4 and batches.step == batches.b.step == 3


def test_cyclegan_without_the_cycle_and_nested_batches(digits256: ImageSet, sk28: ImageSet) -> None:
    from genimg_course.train import StepContext

    task = _cycle(lam_cycle=0.0)
    a, b = digits256.images[:4], sk28.images[:4]  # uint8: scaled on the device
    logs = task.step(((a, digits256.labels[:4]), (b, sk28.labels[:4])), StepContext(torch.device("cpu"), None))
    assert float(logs["cycle"]) == 0 and float(logs["identity"]) == 0 and math.isfinite(float(logs["g_adv"]))
    assert all(not v.requires_grad for v in logs.values())
    h = fit(task, [(a, b)], steps=2, log_every=2, progress=False)
    assert h.last("cycle") == 0


def test_cyclegan_refusals(digits256: ImageSet) -> None:
    from genimg_course.train import StepContext

    ctx = StepContext(torch.device("cpu"), None)
    x, y = digits256.images[:4].float() / 255, digits256.labels[:4]
    with pytest.raises(ValueError, match="UnpairedBatches"):
        _cycle().step((x, y), ctx)
    with pytest.raises(ValueError, match="same images"):
        _cycle().step((x, x), ctx)
    small = load_digits8(verbose=False).images[:4].float() / 255
    with pytest.raises(ValueError, match="load_sklearn_digits_28"):
        _cycle().step((x, small), ctx)
    colour = torch.rand(4, 3, 28, 28)
    with pytest.raises(ValueError, match=r"G_ab = UNet\(1, 3\), G_ba = UNet\(3, 1\)"):
        _cycle().step((x, colour), ctx)
    task = CycleGANTask(UNet(1, 3, width=8), UNet(3, 1, width=8), PatchGAN(1, width=8), PatchGAN(3, width=8))
    with pytest.raises(ValueError, match="lam_identity=0"):
        task.step((x, colour), ctx)
    g = UNet(1, 1, width=8)
    with pytest.raises(ValueError, match="two different generators"):
        CycleGANTask(g, g, PatchGAN(1), PatchGAN(1))
    with pytest.raises(ValueError, match="lam_cycle"):
        CycleGANTask(UNet(1, 1), UNet(1, 1), PatchGAN(1), PatchGAN(1), lam_cycle=-1)


def test_cyclegan_with_different_channels_and_no_identity_trains() -> None:
    torch.manual_seed(0)
    task = CycleGANTask(UNet(1, 3, width=8), UNet(3, 1, width=8), PatchGAN(1, width=8), PatchGAN(3, width=8),
                        lam_identity=0.0, buffer_size=2)
    h = fit(task, [(torch.rand(2, 1, 28, 28), torch.rand(2, 3, 28, 28))], steps=2, log_every=2, progress=False)
    assert lasts(h)["identity"] == 0 and math.isfinite(lasts(h)["cycle"])


# ---------------------------------------------------------------- the second domain, the judge
def test_sklearn_digits_28() -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    tr, te, al = (load_sklearn_digits_28(s) for s in ("train", "test", "all"))
    assert (len(tr), len(te), len(al)) == (1438, 359, 1797)
    assert tr.images.shape == (1438, 1, 28, 28) and tr.images.dtype == torch.uint8
    assert int(al.images.min()) == 0 and int(al.images.max()) == 255
    idx = np.arange(1797)
    assert torch.equal(te.labels, torch.from_numpy(d.target[idx % 5 == 4]))
    assert torch.equal(tr.labels, torch.from_numpy(d.target[idx % 5 != 4]))
    assert torch.equal(te.images, al.images[4::5])
    assert set(tr.labels.tolist()) == set(range(10)) and tr.classes[3] == "3"
    ref = np.stack([np.asarray(Image.fromarray(im.astype(np.float32), mode="F").resize((28, 28), Image.BILINEAR))
                    for im in d.images[:40]])  # PIL's bilinear up-sampling: an independent resize
    assert np.abs(np.clip(np.rint(ref * 255 / 16), 0, 255) - al.images[:40, 0].numpy()).max() <= 1
    m = load_sklearn_digits_28("test", margin=4)
    assert m.images.shape == (359, 1, 28, 28) and int(m.images[:, :, :4].max()) == 0
    assert int(m.images[:, :, 4:24, 4:24].max()) == 255
    with pytest.raises(ValueError, match="'train', 'test' or 'all'"):
        load_sklearn_digits_28("val")


def test_label_preservation(judge, mnist_test: ImageSet) -> None:
    x, y = mnist_test.images[:300], mnist_test.labels[:300]
    acc = label_preservation(judge, x, y)
    assert acc > 0.9
    assert label_preservation(judge, (x.float() / 255) * 1.5, y) > 0.5  # clipped to [0, 1], not refused
    assert label_preservation(judge, x, (y + 1) % 10) < 0.1
    with pytest.raises(ValueError, match="labels must be a tensor of shape"):
        label_preservation(judge, x, y[:10])


def test_fit_counts_the_images_of_nested_two_domain_batches():
    from genimg_course.train import _images

    a, b = torch.zeros(8, 1, 28, 28), torch.zeros(5, 1, 28, 28)
    assert _images(a) == 8 and _images((a, torch.zeros(8))) == 8
    assert _images(((a, torch.zeros(8)), (b, torch.zeros(5)))) == 8  # domain A's count
