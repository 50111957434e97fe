"""data.load_photo_patches: fixed-size colour patches of scikit-image's photos, split by image."""
from __future__ import annotations

import pytest
import torch

from genimg_course.data import load_photo_patches


def test_patches_have_the_asked_size_and_count():
    s = load_photo_patches("train", patch=32, size=128, verbose=False)
    assert s.images.dtype == torch.uint8 and s.images.shape == (3 * 16, 3, 32, 32)  # 3 photos × (128/32)²
    assert s.labels.tolist() == [0] * 16 + [1] * 16 + [2] * 16 and s.classes == ["astronaut", "coffee", "rocket"]
    assert len(load_photo_patches("train", patch=32, stride=16, size=128, verbose=False)) == 3 * 49


def test_the_split_is_by_image():
    train = load_photo_patches("train", patch=32, size=128, verbose=False)
    test = load_photo_patches("test", patch=32, size=128, verbose=False)
    assert set(train.classes).isdisjoint(test.classes) and len(test) == 16
    with pytest.raises(ValueError, match=r"split is by image.*\['coffee'\]"):
        load_photo_patches("test", train=("coffee",), test=("coffee",), verbose=False)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_photo_patches("val")
    with pytest.raises(ValueError, match="patch must be at most the photo size 64"):
        load_photo_patches(patch=128, size=64, verbose=False)
    with pytest.raises(ValueError, match="unknown photo name"):
        load_photo_patches(train=("lena",), verbose=False)


def test_scikit_learns_photos_load_beside_scikit_images():
    from sklearn.datasets import load_sample_image

    from genimg_course.data import load_photos
    from genimg_course.restore import PHOTO_TRAIN

    s = load_photos(("china", "flower", "astronaut"), size=64, verbose=False)
    assert s.images.shape == (3, 3, 64, 64) and s.classes == ["china", "flower", "astronaut"]
    raw = torch.from_numpy(load_sample_image("china.jpg").copy()).permute(2, 0, 1).float()  # (3, 427, 640)
    assert abs(float(s.images[0].float().mean()) - float(raw[:, :, 106:533].mean())) < 2  # the centre square
    assert "chelsea" not in PHOTO_TRAIN and len(load_photo_patches("train", stride=32, train=PHOTO_TRAIN,
                                                                     verbose=False)) == 7 * 64
