"""Hostile inputs to the loop's and the measuring's helpers (train, checkpoints, figures, history,
files, metrics): each fails before any work is done, naming what it expected and what came."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from genimg_course import checkpoints, figures, files, history, metrics, train


def linear():
    return nn.Linear(1, 1)


CASES = [
    ("evaluate_accuracy: not a module", lambda: train.evaluate_accuracy("m", torch.zeros(2, 4), torch.zeros(2)),
     TypeError, "expects an nn.Module classifier, got str"),
    ("evaluate_accuracy: batch_size 0", lambda: train.evaluate_accuracy(nn.Flatten(), torch.zeros(2, 4), torch.zeros(2), batch_size=0),
     ValueError, "batch_size must be a positive integer, got 0"),
    ("evaluate_accuracy: 2-d labels", lambda: train.evaluate_accuracy(nn.Flatten(), torch.zeros(2, 4), torch.zeros(2, 3)),
     ValueError, r"labels \(N,\) as tensors, got .*\[2, 3\]"),
    ("adam: a module instead of its parameters", lambda: train.adam(linear(), 1e-3),
     TypeError, r"pass model.parameters\(\)"),
    ("evaluating: not a module", lambda: train.evaluating(3).__enter__(), TypeError, r"takes nn.Modules .*\['int'\]"),
    ("ClassifierTask: negative weight decay", lambda: train.ClassifierTask(linear(), weight_decay=-1),
     ValueError, "weight_decay must be >= 0, got -1"),
    ("ClassifierTask: nothing to train", lambda: train.ClassifierTask(nn.Flatten()),
     ValueError, "needs a model with trainable parameters; Flatten has none"),
    ("StepContext.update: a float loss", lambda: train.StepContext(torch.device("cpu"), None).update(
        3.0, train.adam(linear().parameters(), 1e-3)), TypeError, r"loss as a scalar tensor \(no .item\(\)\), got float"),
    ("save_checkpoint: a folder", lambda: checkpoints.save_checkpoint({"a": 1}, "/tmp"),
     ValueError, "needs a file path .* got the folder /tmp"),
    ("Figures: a string for the profile", lambda: figures.Figures("x", profile="cpu", folder="/tmp/genimg-fig-test"),
     TypeError, "profile must be a Profile .* got 'cpu'"),
    ("Figures.record: a reserved name", lambda: figures.Figures("x", folder="/tmp/genimg-fig-test").record("lesson", 1),
     ValueError, "reserved .* got 'lesson'"),
    ("Figures.record: a non-string name", lambda: figures.Figures("x", folder="/tmp/genimg-fig-test").record(3, 1),
     ValueError, "non-empty string .* got 3"),
    ("History.from_state: an empty dict", lambda: history.History.from_state({}),
     ValueError, r"lacks \['steps', 'values', 'seconds', 'images'\]"),
    ("write_text: not a str", lambda: files.write_text("/tmp/genimg-wt.txt", 3), TypeError, "writes a str, got int"),
    ("nearest_distances: batch_size 0", lambda: metrics.nearest_distances(torch.zeros(3, 1, 28, 28), torch.zeros(3, 1, 28, 28), batch_size=0),
     ValueError, "batch_size must be a positive integer, got 0"),
    ("evaluate_generator: not a module", lambda: metrics.evaluate_generator("G", "m", family="gan", train=None, test=None, n=200),
     TypeError, "expects a generative nn.Module .* got str"),
    ("kid: subset_size 1", lambda: metrics.kid(torch.zeros(300, 1, 28, 28, dtype=torch.uint8), torch.zeros(300, 1, 28, 28, dtype=torch.uint8), subset_size=1),
     ValueError, "subset_size must be an integer >= 2, got 1"),
    ("fid: value_range backwards", lambda: metrics.fid(torch.zeros(300, 1, 28, 28), torch.zeros(300, 1, 28, 28), value_range=(1, 0)),
     ValueError, r"value_range must be \(low, high\) with low < high"),
]


@pytest.mark.parametrize("call, error, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_is_named_before_any_work(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_ddp_helpers_name_a_bad_input():
    from genimg_course import ddp_demo, distributed

    with pytest.raises(TypeError, match="wrap expects an nn.Module, got int"):
        distributed.wrap(3)
    with pytest.raises(TypeError, match="a dict of name -> nn.Module, got list"):
        distributed.wrapped([linear()]).__enter__()
    with pytest.raises(TypeError, match="all_mean expects a tensor, got float"):
        distributed.all_mean(3.0)
    with pytest.raises(ValueError, match="backend must be 'nccl' .* got 3"):
        distributed.setup(backend=3)
    with pytest.raises(TypeError, match="args must be a list of strings .* got 'script.py'"):
        ddp_demo.run_torchrun("script.py", 1)
