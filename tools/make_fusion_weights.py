"""Reproduce lesson 09's shipped networks: genimg_course/weights/fusion_<name>.pt (``fusion.load_fusion``).

* ``vaegan``: a VAE-GAN (Larsen, Sønderby, Larochelle & Winther, ICML 2016): lesson 05's ``ConvVAE(16)``
  trained by ``fusion.VAEGANTask`` (its defaults: lr 3e-4, betas (0.5, 0.999), feature 0.01, pixel 1,
  adversarial 10, gamma 1) against a spectrally normalised ``DCGANDiscriminator(width=32, norm="none",
  spectral_norm=True)``. What ships is the VAE (encoder and decoder); the discriminator is training only.
* ``vae_twin``: its twin plain VAE, the same ``ConvVAE(16)`` from the same initial weights, trained by
  ``vae.VAETask`` (lesson 05's recipe: lr 1e-3, dynamic binarisation) on the same data, batch, seed and
  number of steps: the same budget in steps.
* ``encoder``: an inversion encoder for the shipped DCGAN (``gan.load_pretrained("dcgan_mnist")``):
  ``models.vae.ConvEncoder(out_dim=64)`` trained by ``fusion.InversionEncoderTask`` (lr 1e-3, pixel 1).

All three: the offline MNIST training split (4,000 digits), batch 64, seed 0, one thread. Weights ship in
float16. Scores written into each file: for the two VAEs the course's protocol
(``metrics.evaluate_generator`` at n = 500 against the held-out test digits, sample seed 0, floor at that n):
FID, KID ± std, precision, recall, the memorisation check; and the reconstruction error on the test digits
(the posterior mean decoded: pixel MSE in [0, 1] and the Bernoulli negative log-likelihood in nats per
image). For the encoder: the judge's accuracy and the pixel MSE of the inversions of the first 200 test
digits, by the encoder alone and by the encoder followed by 50 and 200 steps of ``fusion.invert``.

    OMP_NUM_THREADS=1 nice -n 19 python tools/make_fusion_weights.py --steps-vae 3000 --steps-encoder 3000
    python tools/make_fusion_weights.py --smoke --out-dir /tmp/f   # a dry run in seconds

The shipped files (measured 2026-12-03 on the shared 2-core VM, one niced thread, 14 min in all; protocol at
n = 500, floor 28.0):

    # vaegan: 3,000 steps, 513 s: FID 165.3 (5.9x the floor), KID 134 +- 24, precision 0.66, recall 0.84,
    #   no near copies (train-distance ratio 1.21); test reconstruction MSE 0.0129, NLL 80.2 nats
    # vae_twin: 3,000 steps, 106 s: FID 201.5 (7.2x), KID 202 +- 26, precision 0.85, recall 0.75, no near copies
    #   (ratio 1.01); test reconstruction MSE 0.0130, NLL 80.3 nats
    # encoder: 3,000 steps, 139 s; judge accuracy on 200 inverted test digits (0.995 on the digits themselves):
    #   encoder alone 0.915 (MSE 0.092), then 50 steps 0.975 (0.039), then 200 steps 0.970 (0.025)

The same budget in steps is not the same budget in seconds: a VAE-GAN step costs about five VAE steps (three
networks, D run twice). The SHA-256 of a file changes with its ``train_seconds``: after a rebuild put the printed SHA-256 values into
SHIPPED in genimg_course/checkpoints.py.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from genimg_course import fusion as FU  # noqa: E402
from genimg_course.checkpoints import WEIGHTS_DIR, load_checkpoint, save_checkpoint  # noqa: E402
from genimg_course.data import ResidentBatches, load_mnist, to_float  # noqa: E402
from genimg_course.files import sha256_file  # noqa: E402
from genimg_course.gan import load_pretrained  # noqa: E402
from genimg_course.metrics import evaluate_generator, load_judge  # noqa: E402
from genimg_course.models import ConvVAE, DCGANDiscriminator  # noqa: E402
from genimg_course.models.vae import ConvEncoder  # noqa: E402
from genimg_course.train import fit, seed_everything  # noqa: E402
from genimg_course.vae import VAETask, bernoulli_nll  # noqa: E402

N_EVAL = 500  # the protocol's n
N_INVERT = 200  # test digits inverted for the encoder's scores
LATENT_DIM = 16  # lesson 05's ConvVAE code size
VAE_CONFIG = {"latent_dim": LATENT_DIM, "width": 32, "hidden": 256}
D_CONFIG = {"width": 32, "norm": "none", "spectral_norm": True}
ENCODER_CONFIG = {"out_dim": 64, "width": 32, "hidden": 256}
NAMES = ("vaegan", "vae_twin", "encoder")


def half_rounded(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict in float16, and the model's weights set to those rounded values (what ships and is scored)."""
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return state


@torch.no_grad()
def reconstruction_error(vae: ConvVAE, x01: torch.Tensor) -> dict[str, float]:
    """The posterior mean decoded, against test digits ``x01`` in [0, 1]: pixel MSE (in [0, 1]) and the Bernoulli
    negative log-likelihood of the digits (nats per image)."""
    vae.eval()
    mu, _ = vae.encode(x01)
    logits = vae.decode(mu)
    mse = float((torch.sigmoid(logits) - x01).pow(2).mean())
    nll = float(bernoulli_nll(logits, x01, check=False).mean())
    return {"recon_mse": round(mse, 5), "recon_nll": round(nll, 2)}


def protocol(model: torch.nn.Module, name: str, family: str, train, test, judge, n: int, seconds: float) -> dict:
    ev = evaluate_generator(model, name, family=family, train=train, test=test, n=n, judge=judge, seed=0,
                            train_seconds=seconds)
    q = ev.quality
    return {"fid": round(q.fid, 3), "floor": round(q.floor, 3), "n": n, "kid": round(q.kid, 6),
            "kid_std": round(q.kid_std, 6), "precision": round(ev.precision, 4), "recall": round(ev.recall, 4),
            "near_copy_share": round(ev.memorisation["near_copy_share"], 4),
            "train_distance_ratio": round(ev.memorisation["ratio"], 4)}


@torch.no_grad()
def judge_accuracy(judge, images: torch.Tensor, labels: torch.Tensor) -> float:
    return round(float((judge.classifier(images).argmax(1) == labels).float().mean()), 4)


def train_vaes(steps: int, batch: int, seed: int, out_dir: Path, n: int) -> list[Path]:
    train, test = load_mnist("train", "offline", verbose=False), load_mnist("test", "offline", verbose=False)
    judge = load_judge("cpu")
    x_test = to_float(test.images, value_range=(0, 1))
    seed_everything(seed)
    base = ConvVAE(**VAE_CONFIG)
    D = DCGANDiscriminator(**D_CONFIG)
    paths = []
    for name in ("vaegan", "vae_twin"):
        vae = copy.deepcopy(base)  # the same initial weights for both
        seed_everything(seed)
        task = FU.VAEGANTask(vae, D) if name == "vaegan" else VAETask(vae)
        batches = ResidentBatches(train, batch, "cpu", value_range=(0, 1), seed=seed)
        t0 = time.time()
        h = fit(task, batches, steps=steps, seed=seed, log_every=max(1, min(100, steps)), amp_dtype=None,
                progress=False, desc=f"fusion_{name}")
        seconds = time.time() - t0
        state = half_rounded(vae)
        vae.eval().requires_grad_(False)
        scores = protocol(vae, "VAE-GAN" if name == "vaegan" else "twin VAE", "vae", train, test, judge, n, seconds)
        scores.update(reconstruction_error(vae, x_test))
        recipe = (f"ConvVAE({LATENT_DIM}) width 32 hidden 256; "
                  + ("fusion.VAEGANTask defaults (lr 3e-4, betas (0.5, 0.999), feature 0.01, pixel 1, adversarial 10, "
                     "gamma 1) against DCGANDiscriminator(width=32, norm='none', spectral_norm=True)"
                     if name == "vaegan" else "vae.VAETask (lr 1e-3, dynamic binarisation), the VAE-GAN's twin")
                  + f"; batch {batch}, {steps} steps, seed {seed}; OMP_NUM_THREADS=1")
        path = out_dir / f"fusion_{name}.pt"
        save_checkpoint({"config": VAE_CONFIG, "model": state, "name": name, "kind": "vae", "recipe": recipe,
                         "data": "offline MNIST train split (4,000 digits) in [0, 1]",
                         "protocol": (f"metrics.evaluate_generator at n = {n} against the held-out test digits, "
                                      "reference_split seed 0, sample seed 0; recon_*: the posterior mean decoded, "
                                      f"all {len(x_test)} test digits"),
                         "steps": steps, "train_seconds": round(seconds, 1), "seed": seed, "batch": batch,
                         "final_train": {k: round(h.last(k), 4) for k in h.values},
                         "loss_curve": [round(float(v), 3) for v in h.values["loss"]], "scores": scores}, path)
        report(path)
        paths.append(path)
    return paths


def invert_scores(G, E, judge, x: torch.Tensor, labels: torch.Tensor) -> dict:
    """Judge accuracy and pixel MSE of the inversions of ``x`` (in [-1, 1]) by the encoder alone and the encoder
    followed by 50 and 200 steps of ``fusion.invert``."""
    z0 = FU.encoder_codes(E, x, G.latent_dim)
    with torch.no_grad():
        alone = G(z0)
    out = {"encoder_accuracy": judge_accuracy(judge, alone, labels),
           "encoder_mse": round(float((alone - x).pow(2).mean()), 5), "digits_accuracy": judge_accuracy(judge, x, labels)}
    for steps in (50, 200):
        inv = FU.invert(G, x, steps=steps, z0=z0)
        out[f"encoder_{steps}_accuracy"] = judge_accuracy(judge, inv.images, labels)
        out[f"encoder_{steps}_mse"] = round(float(inv.mse.mean()), 5)
    return out


def train_encoder(steps: int, batch: int, seed: int, out_dir: Path, n_invert: int) -> Path:
    train, test = load_mnist("train", "offline", verbose=False), load_mnist("test", "offline", verbose=False)
    judge = load_judge("cpu")
    G = load_pretrained("dcgan_mnist")
    seed_everything(seed)
    E = ConvEncoder(**ENCODER_CONFIG)
    task = FU.InversionEncoderTask(E, G, batch_size=batch)
    batches = ResidentBatches(train, batch, "cpu", value_range=(-1, 1), seed=seed)
    t0 = time.time()
    h = fit(task, batches, steps=steps, seed=seed, log_every=max(1, min(100, steps)), amp_dtype=None, progress=False,
            desc="fusion_encoder")
    seconds = time.time() - t0
    state = half_rounded(E)
    E.eval().requires_grad_(False)
    x = to_float(test.images[:n_invert], value_range=(-1, 1))
    scores = invert_scores(G, E, judge, x, test.labels[:n_invert])
    path = out_dir / "fusion_encoder.pt"
    save_checkpoint({"config": ENCODER_CONFIG, "model": state, "name": "encoder", "kind": "encoder",
                     "generator": "dcgan_mnist",
                     "recipe": (f"ConvEncoder(out_dim=64) width 32 hidden 256; fusion.InversionEncoderTask (lr 1e-3, pixel 1) "
                                f"for the shipped dcgan_mnist; batch {batch}, {steps} steps, seed {seed}; OMP_NUM_THREADS=1"),
                     "data": "offline MNIST train split (4,000 digits) in [-1, 1]",
                     "protocol": (f"the first {n_invert} offline test digits inverted; the judge's accuracy on G(z) against "
                                  "their labels; encoder_K: the encoder's codes then K steps of fusion.invert "
                                  "(Adam lr 0.05, prior 1e-3)"),
                     "steps": steps, "train_seconds": round(seconds, 1), "seed": seed, "batch": batch,
                     "final_train": {k: round(h.last(k), 4) for k in h.values},
                     "loss_curve": [round(float(v), 4) for v in h.values["loss"]], "scores": scores}, path)
    report(path)
    return path


def report(path: Path) -> None:
    s = load_checkpoint(path)
    print(f"\n{path.stem}: {s['steps']} steps, {s['train_seconds']} s; {s['recipe']}")
    print(f"  final training values {s['final_train']}")
    print(f"  scores {s['scores']}")
    print(f"  size {path.stat().st_size:,} bytes, sha256 {sha256_file(path)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--which", choices=("all", "vaes", "encoder"), default="all",
                    help="the two VAEs (VAE-GAN and its twin), the inversion encoder, or all three")
    ap.add_argument("--steps-vae", type=int, default=3000, help="steps of the VAE-GAN and of its twin VAE")
    ap.add_argument("--steps-encoder", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", type=Path, help="write here instead of genimg_course/weights")
    ap.add_argument("--smoke", action="store_true", help="a dry run in seconds: 3 steps, n = 128 (needs --out-dir)")
    a = ap.parse_args(argv)
    for flag, v in (("steps-vae", a.steps_vae), ("steps-encoder", a.steps_encoder), ("batch", a.batch)):
        if v < 1:
            ap.error(f"--{flag}: expected a whole number >= 1, got {v}")
    if a.smoke and a.out_dir is None:
        ap.error("--smoke writes throwaway files: give --out-dir (never over the shipped weights)")
    out_dir = a.out_dir or WEIGHTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    n, n_invert = (128, 16) if a.smoke else (N_EVAL, N_INVERT)
    steps_vae, steps_enc = (3, 3) if a.smoke else (a.steps_vae, a.steps_encoder)
    if a.which in ("all", "vaes"):
        train_vaes(steps_vae, a.batch, a.seed, out_dir, n)
    if a.which in ("all", "encoder"):
        train_encoder(steps_enc, a.batch, a.seed, out_dir, n_invert)


if __name__ == "__main__":
    main()
