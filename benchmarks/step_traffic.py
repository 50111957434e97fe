"""What one GAN step costs, counted op by op: the course's step beside the reference's, on any CPU.

A GPU's time per step at a large batch follows two budgets: arithmetic (FLOPs) and memory traffic
(bytes read and written). Both can be counted without a GPU, at the ATen dispatcher, as the ops
run: this script counts, for one training step of the DCGAN that ``bench_gan.py`` times (64x64,
latent 100, width 64; the reference's own models, layer for layer), under bf16 autocast and
channels_last with fused Adam, as on CUDA:

* FLOPs (``torch.utils.flop_counter.FlopCounterMode``, as the reference counts its own);
* ATen ops that compute (views and detaches excluded): each is at least one kernel launch;
* bytes of every such op's tensor inputs and outputs: a lower bound on its memory traffic
  (a conv reads and writes more; in-place optimiser updates count each tensor once).

The course's step is ``GANTask`` run by ``fit`` (both ways of making G's fakes); the reference's
is its resident loop (``dcgan_resident`` in ``../shared/bench/examples_loop_reference.py``),
restated here op for op with the models taken from that file. Counts, not timings: what they
predict for a GPU must still be measured there (``bench_gan.py``).

    python benchmarks/step_traffic.py --tiny          # smoke, ~10 s
    python benchmarks/step_traffic.py --batch 256     # the table in docs/benchmarks.md

Writes ``step_traffic.json`` to ``--out``.
"""
from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from genimg_course.data import ResidentBatches
from genimg_course.gan import GANTask
from genimg_course.train import fit

import bench_gan  # beside this file: the models and data that bench_gan.py times

HERE = Path(__file__).resolve().parent
NOT_COMPUTE = {"detach", "view", "_unsafe_view", "t", "as_strided", "expand", "alias", "slice", "select",
               "unsqueeze", "squeeze", "permute", "transpose", "_reshape_alias", "lift_fresh"}


class Ledger(TorchDispatchMode):
    """Counts ops that compute and the bytes of their tensor inputs and outputs, by op name."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: collections.Counter = collections.Counter()
        self.bytes: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = str(func.overloadpacket).removeprefix("aten.")
        if name not in NOT_COMPUTE:
            tensors = [t for t in tree_flatten((args, kwargs, out))[0] if isinstance(t, torch.Tensor)]
            self.ops[name] += 1
            self.bytes[name] += sum(t.numel() * t.element_size() for t in tensors)
        return out


def count(step, batch: int) -> dict:
    """Run ``step()`` twice to warm up, then once under each counter; totals per image."""
    step(), step()
    with FlopCounterMode(display=False) as flops:
        step()
    with Ledger() as ledger:
        step()
    return dict(gflop_per_img=round(flops.get_total_flops() / batch / 1e9, 3), ops=sum(ledger.ops.values()),
                mb_per_img=round(sum(ledger.bytes.values()) / batch / 1e6, 3),
                top=[(name, round(b / batch / 1e6, 3), ledger.ops[name]) for name, b in ledger.bytes.most_common(12)])


def course_step(batch: int, reuse_fakes: bool):
    cpu = torch.device("cpu")
    task = GANTask(*bench_gan.models(cpu), reuse_fakes=reuse_fakes)
    for name, module in task.modules.items():  # fused Adam, as GANTask builds it on CUDA
        task.optimizers[name] = torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    batches = ResidentBatches(bench_gan.dataset(4 * batch, cpu), batch, cpu, channels_last=True)
    return lambda: fit(task, batches, steps=1, progress=False, seed=0, amp_dtype=torch.bfloat16, channels_last=True)


def reference_step(path: Path, batch: int):
    """The reference's resident step (bf16 autocast, channels_last, BCE with logits, fused Adam)."""
    G, D = bench_gan.reference_models(path)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    data = torch.randint(0, 256, (4 * batch, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    bce = F.binary_cross_entropy_with_logits

    def step() -> None:
        x = data[torch.randperm(len(data))[:batch]].unsqueeze(1).float().div_(127.5).sub_(1.0)
        real = F.interpolate(x, size=64, mode="bilinear", align_corners=False).contiguous(memory_format=torch.channels_last)
        noise = torch.randn(batch, 100, 1, 1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fake = G(noise)
            loss_d = bce(D(real).view(-1).float(), ones) + bce(D(fake.detach()).view(-1).float(), zeros)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss_g = bce(D(fake).view(-1).float(), ones)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="smoke: batch 4")
    p.add_argument("--batch", type=int, default=256, help="images per step (counts are per image)")
    p.add_argument("--reference", type=Path, default=None,
                   help="examples_loop_reference.py (default: .bench_ref/ or ../shared/bench/ when there)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args()
    if args.tiny:
        args.batch = 4
    if args.batch < 2:
        p.error(f"--batch: expected a whole number >= 2 (BatchNorm needs two images), got {args.batch}")
    if args.reference is None:
        args.reference = next((c for c in (HERE.parent / ".bench_ref" / "examples_loop_reference.py",
                                           HERE.parent.parent / "shared" / "bench" / "examples_loop_reference.py")
                               if c.exists()), None)
    elif not args.reference.is_file():
        p.error(f"--reference: expected the path of examples_loop_reference.py, got {str(args.reference)!r} (no such file)")
    torch.manual_seed(0)
    steps = {"course (reuses D's fakes, the default)": course_step(args.batch, True),
             "course (fresh codes)": course_step(args.batch, False)}
    if args.reference is not None:
        steps["reference resident loop"] = reference_step(args.reference, args.batch)
    else:
        print("reference not found (pass --reference): counting the course's step only")
    result = dict(batch=args.batch, torch=torch.__version__, date=time.strftime("%Y-%m-%d"), steps={})
    print(f"one step at batch {args.batch}, bf16 autocast, channels_last, fused Adam; per image:")
    print(f"{'step':<42}{'GFLOP':>8}{'MB moved':>10}{'ops':>6}")
    for name, step in steps.items():
        row = result["steps"][name] = count(step, args.batch)
        print(f"{name:<42}{row['gflop_per_img']:>8.3f}{row['mb_per_img']:>10.2f}{row['ops']:>6}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "step_traffic.json").write_text(json.dumps(result, indent=1))
    print("largest movers (MB per image, ops):")
    for name, row in result["steps"].items():
        print(f"  {name}: " + ", ".join(f"{op} {mb:.2f} ({n})" for op, mb, n in row["top"][:6]))


if __name__ == "__main__":
    main()
