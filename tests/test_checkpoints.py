"""checkpoints: atomic saves that never lose work, loads that never run code."""
from __future__ import annotations

import os

import pytest
import torch

from genimg_course import checkpoints
from genimg_course.checkpoints import (
    SHIPPED,
    CheckpointError,
    load_checkpoint,
    load_shipped,
    save_checkpoint,
    shipped_path,
)
from genimg_course.files import sha256_file

pytestmark = pytest.mark.usefixtures("isolated")

STATE = {"model": {"w": torch.arange(6.0).view(2, 3)}, "step": 7, "name": "run", "history": {"loss": [1.0, 0.5]}}

_payload_ran = []


def _payload_runs():  # what a malicious pickle would call on load
    _payload_ran.append(True)
    return "pwned"


class Payload:
    def __reduce__(self):
        return (_payload_runs, ())


def test_save_then_load_gives_the_same_state(tmp_path):
    path = save_checkpoint(STATE, tmp_path / "a.pt")
    back = load_checkpoint(path)
    assert torch.equal(back["model"]["w"], STATE["model"]["w"])
    assert {k: back[k] for k in ("step", "name", "history")} == {k: STATE[k] for k in ("step", "name", "history")}


def test_save_creates_missing_folders_and_returns_the_path(tmp_path):
    target = tmp_path / "deep" / "er" / "a.pt"
    assert save_checkpoint(STATE, target) == target and target.exists()


def test_save_leaves_no_temporary_files(tmp_path):
    save_checkpoint(STATE, tmp_path / "a.pt")
    save_checkpoint(STATE, tmp_path / "a.pt")  # and overwriting leaves none either
    assert os.listdir(tmp_path) == ["a.pt"]


def test_saved_checkpoints_get_the_usual_file_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        path = save_checkpoint(STATE, tmp_path / "a.pt")
    finally:
        os.umask(previous)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_save_rejects_a_non_dict(tmp_path):
    with pytest.raises(TypeError, match="dict"):
        save_checkpoint([1, 2], tmp_path / "a.pt")  # type: ignore[arg-type]


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_a_save_that_fails_midway_keeps_the_previous_checkpoint(tmp_path, monkeypatch, exc):
    path = save_checkpoint({"step": 1}, tmp_path / "a.pt")

    def half_written(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")
        raise exc

    with monkeypatch.context() as m:
        m.setattr(torch, "save", half_written)
        with pytest.raises(type(exc)):
            save_checkpoint({"step": 2}, path)
    assert load_checkpoint(path) == {"step": 1}
    assert os.listdir(tmp_path) == ["a.pt"]


def test_a_truncated_checkpoint_is_reported_as_truncated_or_corrupted(tmp_path):
    path = save_checkpoint(STATE, tmp_path / "a.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("content", [os.urandom(4096), b""], ids=["random bytes", "empty file"])
def test_a_garbage_file_is_reported_as_truncated_or_corrupted(tmp_path, content):
    path = tmp_path / "a.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(path)


def test_a_missing_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")


def test_a_checkpoint_that_is_not_a_dict_is_refused(tmp_path):
    torch.save([torch.zeros(2)], tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_checkpoint(tmp_path / "a.pt")


def test_a_checkpoint_holding_an_arbitrary_object_is_refused_without_running_it(tmp_path):
    torch.save({"model": {}, "extra": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")
    assert not _payload_ran


def test_a_checkpoint_holding_an_arbitrary_object_is_not_called_truncated(tmp_path):
    torch.save({"extra": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "evil.pt")
    assert "truncated" not in str(err.value)


def test_save_refuses_values_that_load_could_not_read_back(tmp_path):
    import numpy as np

    state = {"model": {"w": torch.zeros(2)}, "acc": np.float64(0.9)}
    try:
        save_checkpoint(state, tmp_path / "a.pt")
    except TypeError as e:  # refused up front, naming the value: fine
        assert "acc" in str(e)
    else:  # or written in a form that loads back
        assert load_checkpoint(tmp_path / "a.pt")["acc"] == pytest.approx(0.9)


def test_checkpoint_error_is_a_runtime_error():
    assert issubclass(CheckpointError, RuntimeError)


def test_load_maps_tensors_to_the_requested_device(tmp_path):
    save_checkpoint(STATE, tmp_path / "a.pt")
    assert load_checkpoint(tmp_path / "a.pt", map_location="meta")["model"]["w"].device.type == "meta"


# ---------------------------------------------------------------- shipped weights

@pytest.fixture
def fake_shipped(tmp_path, monkeypatch):
    """A shipped checkpoint named 'fake' in a temporary weights folder, registered with its true hash."""
    monkeypatch.setattr(checkpoints, "WEIGHTS_DIR", tmp_path)
    path = save_checkpoint({"config": {"width": 4}}, tmp_path / "fake.pt")
    monkeypatch.setitem(SHIPPED, "fake", ("fake.pt", sha256_file(path), "tools/make_fake.py"))
    return path


def test_load_shipped_verifies_and_loads(fake_shipped):
    assert load_shipped("fake") == {"config": {"width": 4}}


def test_load_shipped_refuses_a_file_whose_sha256_differs(fake_shipped, monkeypatch):
    monkeypatch.setitem(SHIPPED, "fake", ("fake.pt", "0" * 64, "tools/make_fake.py"))
    with pytest.raises(CheckpointError, match="sha256") as err:
        load_shipped("fake")
    assert "tools/make_fake.py" in str(err.value)


def test_load_shipped_refuses_a_modified_file(fake_shipped):
    with open(fake_shipped, "ab") as f:
        f.write(b"\0")
    with pytest.raises(CheckpointError, match="sha256"):
        load_shipped("fake")


def test_load_shipped_says_how_to_rebuild_a_missing_file(fake_shipped):
    fake_shipped.unlink()
    with pytest.raises(CheckpointError, match="missing.*tools/make_fake.py"):
        load_shipped("fake")


def test_unknown_shipped_name_lists_the_available_ones():
    with pytest.raises(KeyError, match="judge_mnist"):
        shipped_path("no_such_model")


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    (tmp_path / "f").write_bytes(b"abc" * 1000)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_the_shipped_judge_verifies_and_is_small(judge_file):
    assert judge_file.stat().st_size < 5 * 1024 * 1024
    state = load_shipped("judge_mnist")
    assert {"config", "model"} <= set(state)
    assert state["config"]["feature_dim"] == 128


def test_the_shipped_judge_is_packaged(judge_file):
    assert judge_file.parent == checkpoints.WEIGHTS_DIR
    assert judge_file.suffix == ".pt"  # pyproject ships weights/*.pt as package data
