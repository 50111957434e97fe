"""Reproduce the shipped GAN generators: genimg_course/weights/dcgan_mnist.pt and cgan_mnist.pt.

Lessons 03 and 04 train a DCGAN live, but on a 2-core CPU a few minutes of training gives rough
digits; these generators show what longer training of the *same* model gives (the lessons say
which one you are looking at). Both are DCGANs (width 32, latent 64, 28x28) trained with the
non-saturating loss on the offline MNIST training split (4,000 digits), Adam (betas 0.5, 0.999),
batch 64, fresh codes for G's update (``reuse_fakes=False``: these weights were trained before
``GANTask`` reused D's fakes by default; the flag keeps the script reproducing them). After
rebuilding, put the printed SHA-256 into SHIPPED in genimg_course/checkpoints.py. Checked
2026-11-27 on the 2-core VM: ``--which cgan --steps 2000`` gave the shipped cGAN's weights bit for
bit (98 s; the file itself now also records ``lr``, so its SHA-256 differs).

    python tools/make_gan_weights.py --which dcgan --steps 6000 --lr 5e-4   # the shipped DCGAN, ~6 min
    python tools/make_gan_weights.py --which cgan --steps 2000   # the shipped cGAN
"""
from __future__ import annotations

import argparse
import time

import torch

from genimg_course.checkpoints import WEIGHTS_DIR, save_checkpoint
from genimg_course.files import sha256_file
from genimg_course.data import ResidentBatches, load_mnist
from genimg_course.gan import GANTask
from genimg_course.metrics import fid, load_judge
from genimg_course.models import DCGANDiscriminator, DCGANGenerator, dcgan_init
from genimg_course.sampling import generate
from genimg_course.train import fit, seed_everything


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--which", choices=["dcgan", "cgan"], required=True)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate for G and D")
    args = p.parse_args()
    name = f"{args.which}_mnist"
    out = WEIGHTS_DIR / f"{name}.pt"
    seed_everything(0)
    train, test = load_mnist("train", "offline"), load_mnist("test", "offline")
    classes = 10 if args.which == "cgan" else None
    config = dict(latent_dim=64, width=32, channels=1, image_size=28, num_classes=classes)
    G = DCGANGenerator(**config)
    D = DCGANDiscriminator(width=32, num_classes=classes)
    dcgan_init(G), dcgan_init(D)
    task = GANTask(G, D, loss="nonsaturating", lr_g=args.lr, lr_d=args.lr, reuse_fakes=False)
    t0 = time.time()
    hist = fit(task, ResidentBatches(train, 64, seed=0), steps=args.steps, log_every=200, seed=0, desc=name,
               checkpoint=f"/tmp/{name}_{args.steps}_{args.lr:g}_training.pt", checkpoint_every=1000)
    n = 1000
    y = torch.arange(n) % 10 if classes else None
    fake = generate(G, n, y=y, seed=0)
    judge = load_judge()
    score, base = fid(test.images, fake, judge), fid(test.images, train.images[:n], judge)
    print(f"{args.steps} steps in {time.time() - t0:.0f} s; FID (judge, n={n}) {score:.1f} vs real-vs-real {base:.1f}; {hist}")
    state = {"config": config, "G": {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()},
             "steps": args.steps, "lr": args.lr, "fid": score, "fid_real_vs_real": base, "fid_samples": n, "data": train.source}
    save_checkpoint(state, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), sha256 {sha256_file(out)}")


if __name__ == "__main__":
    main()
