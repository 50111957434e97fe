"""Hostile inputs to every public helper (issue 12): each is refused before any work is done, with a
message that names what was expected and what came. One row per behaviour; the fragments a row
lists must all appear in the message — the expected thing first, then the received one.

The first table covers the package's functions and constructors; later tests cover what a table
cannot say: GANTask checks its *first* batch once (no host sync on later steps, no random draws),
and valid inputs still give exactly the numbers they gave before."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genimg_course import data, gan, sampling, vae, viz, widgets
from genimg_course.checks import close
from genimg_course.checks.lesson03 import transposed_size
from genimg_course.history import History
from genimg_course.models import (CNNClassifier, ConvAutoencoder, ConvVAE, DCGANDiscriminator, DCGANGenerator,
                                  MLPDiscriminator, MLPGenerator, MLPVAE, SeedDiscriminator, SeedGenerator,
                                  check_gan_pair, dcgan_init)
from genimg_course.models import _checks
from genimg_course.train import StepContext

NAN, INF = float("nan"), float("inf")
CPU = StepContext(torch.device("cpu"), None)
torch.manual_seed(0)
U8 = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
SET = data.ImageSet(U8, torch.arange(8) % 10, data.MNIST_CLASSES, "t", "t")
IMG = torch.rand(4, 1, 28, 28) * 2 - 1  # [-1, 1], a GAN's range
X01 = torch.rand(4, 1, 28, 28)  # [0, 1], a VAE's range
Z8 = torch.randn(4, 8)
PTS = torch.randn(100, 2)
CEN = data.ring_centres(8)
LONG4 = torch.zeros(4, dtype=torch.long)


def tiny_g(**kw):
    return DCGANGenerator(latent_dim=8, width=4, **kw)


def tiny_d(**kw):
    return DCGANDiscriminator(width=4, **kw)


def history() -> History:
    h = History()
    h.steps, h.values = [1, 2], {"d_loss": [1.0, 1.0], "g_loss": [1.0, 1.0]}
    return h


# (id, call, exception, fragments that must appear in the message)
CASES = [
    # ---- data
    ("imageset-float-labels", lambda: data.ImageSet(U8, torch.full((8,), 0.5), [], "n", "s"), TypeError,
     ["integer class indices", "float32"]),
    ("subset-float-size", lambda: SET.subset(2.5), ValueError, ["positive integer", "2.5"]),
    ("subset-bool-size", lambda: SET.subset(True), ValueError, ["positive integer", "True"]),
    ("subset-str-seed", lambda: SET.subset(2, seed="a"), TypeError, ["seed must be an integer", "'a'"]),
    ("load-mnist-str-fashion", lambda: data.load_mnist(source="offline", fashion="no", verbose=False), TypeError,
     ["fashion must be True or False", "'no'"]),
    ("load-photos-one-string", lambda: data.load_photos("astronaut", verbose=False), TypeError,
     ["list or tuple of photo names", "str 'astronaut'", "('astronaut',)"]),
    ("load-photos-bool-size", lambda: data.load_photos(size=True, verbose=False), ValueError, ["at least 8", "True"]),
    ("to-float-none", lambda: data.to_float(None), TypeError, ["uint8 tensor", "NoneType"]),
    ("to-float-short-range", lambda: data.to_float(U8, (1,)), ValueError, ["pair (low, high)", "(1,)"]),
    ("to-float-str-range", lambda: data.to_float(U8, ("a", "b")), TypeError, ["must be a number", "'a'"]),
    ("to-float-infinite-range", lambda: data.to_float(U8, (-INF, 1)), ValueError, ["finite", "-inf"]),
    ("batches-bool-batch-size", lambda: data.ResidentBatches(SET, True), ValueError, ["integer from 1 to 8", "True"]),
    ("batches-bad-device", lambda: data.ResidentBatches(SET, 4, "gpu"), ValueError, ["'cpu'", "'gpu'"]),
    ("batches-inverted-range", lambda: data.ResidentBatches(SET, 4, value_range=(1, -1)), ValueError,
     ["high > low", "(1, -1)"]),
    ("batches-nan-range", lambda: data.ResidentBatches(SET, 4, value_range=(0, NAN)), ValueError, ["finite", "nan"]),
    ("batches-float-shift", lambda: data.ResidentBatches(SET, 4, shift=1.5), ValueError, ["whole number", "1.5"]),
    ("batches-str-shift", lambda: data.ResidentBatches(SET, 4, shift="2"), ValueError, ["whole number", "'2'"]),
    ("batches-shift-beyond-image", lambda: data.ResidentBatches(SET, 4, shift=28), ValueError,
     ["smaller than the image side (28", "shift=28"]),
    ("batches-str-seed", lambda: data.ResidentBatches(SET, 4, seed="a"), TypeError, ["seed must be an integer", "'a'"]),
    ("batches-str-channels-last", lambda: data.ResidentBatches(SET, 4, channels_last="yes"), TypeError,
     ["True or False", "'yes'"]),
    ("shard-bool-rank", lambda: data.ResidentBatches(SET, 4).shard(True, 2), ValueError, ["from 0 to 1", "True"]),
    ("ring-bool-modes", lambda: data.ring_centres(True), ValueError, ["positive integer", "True"]),
    ("ring-negative-radius", lambda: data.ring_centres(8, -1.0), ValueError, ["> 0", "-1.0"]),
    ("ring-nan-radius", lambda: data.ring_centres(8, NAN), ValueError, ["finite", "nan"]),
    ("points-bool-batch-size", lambda: data.PointBatches(True), ValueError, ["positive integer", "True"]),
    ("points-str-std", lambda: data.PointBatches(std="a"), TypeError, ["std must be a number", "'a'"]),
    ("points-infinite-std", lambda: data.PointBatches(std=INF), ValueError, ["finite", "inf"]),
    ("points-bad-device", lambda: data.PointBatches(device="gpu"), ValueError, ["'cpu'", "'gpu'"]),
    ("points-str-seed", lambda: data.PointBatches(seed="x"), TypeError, ["seed must be an integer", "'x'"]),
    ("points-sample-zero", lambda: data.PointBatches().sample(0, 0), ValueError, ["positive integer", "0"]),
    ("points-sample-no-seed", lambda: data.PointBatches().sample(10, None), TypeError, ["integer", "None"]),
    # ---- models
    ("dcgan-float-image-size", lambda: tiny_g(image_size=28.0), ValueError, ["[28, 32, 64]", "28.0"]),
    ("dcgan-str-spectral-norm", lambda: tiny_d(spectral_norm="yes"), TypeError, ["True or False", "'yes'"]),
    ("g-long-codes", lambda: tiny_g()(Z8.long()), TypeError, ["float codes z", "int64"]),
    ("g-float64-codes", lambda: tiny_g()(Z8.double()), TypeError, ["torch.float32", "float64"]),
    ("g-empty-batch", lambda: tiny_g()(Z8[:0]), ValueError, ["B >= 1", "(0, 8)"]),
    ("cond-g-labels-out-of-range", lambda: tiny_g(num_classes=10)(Z8, torch.full((4,), 10)), ValueError,
     ["from 0 to 9", "smaller than num_classes"]),
    ("cond-g-negative-labels", lambda: tiny_g(num_classes=10)(Z8, torch.full((4,), -1)), ValueError,
     ["from 0 to 9", "non-negative"]),
    ("cond-g-float-labels", lambda: tiny_g(num_classes=10)(Z8, torch.full((4,), 0.5)), TypeError,
     ["integer class indices", "float32"]),
    ("cond-g-list-labels", lambda: tiny_g(num_classes=10)(Z8, [0, 1, 2, 3]), TypeError,
     ["integer tensor of shape (4,)", "list"]),
    ("cond-g-labels-wrong-length", lambda: tiny_g(num_classes=10)(Z8, LONG4[:3]), ValueError, ["(4,)", "(3,)"]),
    ("d-uint8-images", lambda: tiny_d()(U8[:4]), TypeError, ["float images", "uint8", "to_float"]),
    ("d-labels-to-unconditional", lambda: tiny_d()(IMG, LONG4), ValueError, ["not conditional", "int64 tensor"]),
    ("dcgan-init-none", lambda: dcgan_init(None), TypeError, ["nn.Module", "NoneType"]),
    ("pair-no-discriminator", lambda: check_gan_pair(tiny_g(), None), TypeError, ["D must be a network", "NoneType"]),
    ("pair-negative-latent-dim", lambda: check_gan_pair(tiny_g(), tiny_d(), -3), ValueError, [">= 1", "-3"]),
    ("classifier-dropout-above-one", lambda: CNNClassifier(dropout=1.5), ValueError, ["< 1", "1.5"]),
    ("classifier-float64-images", lambda: CNNClassifier(width=4)(IMG.double()), TypeError, ["torch.float32", "float64"]),
    ("classifier-empty-batch", lambda: CNNClassifier(width=4).train()(IMG[:0]), ValueError, ["B >= 1", "(0, 1, 28, 28)"]),
    ("classifier-given-labels", lambda: CNNClassifier(width=4)(IMG, LONG4), ValueError, ["model(x)", "labels y"]),
    ("seed-g-zero-latent-dim", lambda: SeedGenerator(latent_dim=0), ValueError, ["positive integer", "0"]),
    ("seed-g-wrong-codes", lambda: SeedGenerator()(torch.randn(4, 7)), ValueError, ["(B, 100)", "(4, 7)"]),
    ("seed-d-odd-image-size", lambda: SeedDiscriminator(image_size=4), ValueError, ["multiple of 8", "4"]),
    ("seed-d-32px-images", lambda: SeedDiscriminator()(torch.randn(2, 3, 32, 32)), ValueError,
     ["(B, 3, 64, 64)", "(2, 3, 32, 32)"]),
    ("mlp-g-none", lambda: MLPGenerator()(None), ValueError, ["(B, 8)", "NoneType"]),
    ("mlp-g-long-codes", lambda: MLPGenerator()(torch.zeros(4, 8, dtype=torch.long)), TypeError, ["float", "int64"]),
    ("mlp-d-str-spectral-norm", lambda: MLPDiscriminator(spectral_norm="yes"), TypeError, ["True or False", "'yes'"]),
    ("mlp-d-int-points", lambda: MLPDiscriminator()(torch.zeros(4, 2, dtype=torch.long)), TypeError,
     ["float points", "int64"]),
    ("ae-zero-latent-dim-named", lambda: ConvAutoencoder(latent_dim=0), ValueError, ["latent_dim must be", "0"]),
    ("vae-uint8-images", lambda: ConvVAE(latent_dim=2).encode(U8[:4]), TypeError, ["float images", "uint8"]),
    ("cvae-labels-out-of-range", lambda: ConvVAE(latent_dim=2, num_classes=10)(X01, torch.full((4,), 10)), ValueError,
     ["from 0 to 9", "smaller than num_classes"]),
    ("mlpvae-wrong-codes", lambda: MLPVAE().decode(torch.zeros(4, 3)), ValueError, ["(B, 20)", "(4, 3)"]),
    # ---- gan
    ("loss-empty-scores", lambda: gan.d_loss_bce(torch.zeros(0), torch.zeros(4)), ValueError,
     ["at least one score", "(0,)"]),
    ("gp-critic-not-callable", lambda: gan.gradient_penalty("D", IMG, IMG), TypeError, ["function or module", "str 'D'"]),
    ("gp-list-real", lambda: gan.gradient_penalty(lambda t: t.sum((1, 2, 3)), [1.0], IMG), TypeError,
     ["must be tensors", "list"]),
    ("gp-float-eps", lambda: gan.gradient_penalty(lambda t: t.sum((1, 2, 3)), IMG, IMG, eps=0.5), TypeError,
     ["float tensor of shape (4,)", "float 0.5"]),
    ("gp-eps-outside-unit", lambda: gan.gradient_penalty(lambda t: t.sum((1, 2, 3)), IMG, IMG, eps=torch.full((4,), 2.0)),
     ValueError, ["[0, 1]", "from 2 to 2"]),
    ("gp-critic-wrong-shape", lambda: gan.gradient_penalty(lambda t: t.sum(), IMG, IMG), ValueError,
     ["one score per sample, shape (4,)", "shape ()"]),
    ("task-no-generator", lambda: gan.GANTask(None, tiny_d()), TypeError, ["G must be a network", "NoneType"]),
    ("task-negative-gp-weight", lambda: gan.GANTask(tiny_g(), tiny_d(norm="layer"), loss="wgan-gp", gp_weight=-10),
     ValueError, ["gp_weight must be a number >= 0", "-10"]),
    ("task-nan-gp-weight", lambda: gan.GANTask(tiny_g(), tiny_d(norm="layer"), loss="wgan-gp", gp_weight=NAN),
     ValueError, ["gp_weight must be a finite number", "nan"]),
    ("task-str-lr", lambda: gan.GANTask(tiny_g(), tiny_d(), lr_g="a"), ValueError, ["positive", "lr_g='a'"]),
    ("task-infinite-lr", lambda: gan.GANTask(tiny_g(), tiny_d(), lr_d=INF), ValueError, ["positive", "lr_d=inf"]),
    ("task-one-beta", lambda: gan.GANTask(tiny_g(), tiny_d(), betas=(0.5,)), ValueError, ["(beta1, beta2)", "(0.5,)"]),
    ("task-beta-above-one", lambda: gan.GANTask(tiny_g(), tiny_d(), betas=(1.5, 0.9)), ValueError, ["< 1", "1.5"]),
    ("task-bool-n-critic", lambda: gan.GANTask(tiny_g(), tiny_d(), n_critic=True), ValueError,
     ["positive integer", "True"]),
    ("task-negative-latent-dim", lambda: gan.GANTask(MLPGenerator(), MLPDiscriminator(), latent_dim=-3), ValueError,
     ["positive integer", "-3"]),
    ("task-conditional-g-with-plain-d", lambda: gan.GANTask(MLPGenerator(), _Conditional(MLPDiscriminator())), ValueError,
     ["num_classes=None", "num_classes=10"]),
    ("task-wgan-gp-batchnorm-d", lambda: gan.GANTask(tiny_g(), tiny_d(), loss="wgan-gp"), ValueError,
     ["norm='layer'", "BatchNorm2d"]),
    ("sample-z-zero", lambda: gan.GANTask(MLPGenerator(), MLPDiscriminator()).sample_z(0), ValueError,
     ["positive integer", "0"]),
    ("sample-z-bad-device", lambda: gan.GANTask(MLPGenerator(), MLPDiscriminator()).sample_z(4, "gpu"), ValueError,
     ["'cpu'", "'gpu'"]),
    ("diversity-one-row", lambda: gan.diversity(IMG, max_n=1), ValueError, [">= 2", "1"]),
    ("diversity-nan", lambda: gan.diversity(torch.full((4, 2), NAN)), ValueError, ["NaN or inf", "(4, 2)"]),
    ("diversity-1d", lambda: gan.diversity(torch.arange(5.0)), ValueError, ["(N, ...)", "shape (5,)"]),
    ("count-modes-empty-cloud", lambda: gan.count_modes(torch.zeros(0, 2), CEN, 0.25), ValueError,
     ["generate(G, 2000)", "(0, 2)"]),
    ("count-modes-no-centres", lambda: gan.count_modes(PTS, torch.zeros(0, 2), 0.25), ValueError,
     ["ring_centres(8)", "(0, 2)"]),
    ("count-modes-list-points", lambda: gan.count_modes([[0, 0]], CEN, 0.25), ValueError, ["2-D tensor (N, D)", "list"]),
    ("count-modes-zero-radius", lambda: gan.count_modes(PTS, CEN, 0), ValueError, ["> 0", "0"]),
    ("count-modes-nan-radius", lambda: gan.count_modes(PTS, CEN, NAN), ValueError, ["finite", "nan"]),
    ("count-modes-zero-share", lambda: gan.count_modes(PTS, CEN, 0.25, 0), ValueError, ["> 0 and <= 1", "0"]),
    ("count-modes-share-above-one", lambda: gan.count_modes(PTS, CEN, 0.25, 1.5), ValueError, ["<= 1", "1.5"]),
    ("count-modes-nan-points", lambda: gan.count_modes(torch.full((10, 2), NAN), CEN, 0.25), ValueError,
     ["NaN or inf", "10 of 10"]),
    ("diagnostics-str-window", lambda: gan.GANDiagnostics(window="a"), ValueError, [">= 2", "'a'"]),
    ("diagnostics-zero-sample-every", lambda: gan.GANDiagnostics(sample_every=0), ValueError, ["positive integer", "0"]),
    ("diagnostics-negative-warmup-logs", lambda: gan.GANDiagnostics(warmup_logs=-1), ValueError, [">= 0", "-1"]),
    ("diagnostics-negative-grad-limit", lambda: gan.GANDiagnostics(grad_limit=-1), ValueError, ["> 0", "-1"]),
    ("diagnostics-floor-above-one", lambda: gan.GANDiagnostics(diversity_floor=2), ValueError, ["<= 1", "2"]),
    ("diagnostics-str-generator", lambda: gan.GANDiagnostics("G", PTS), TypeError, ["nn.Module", "str 'G'"]),
    ("diagnostics-list-real", lambda: gan.GANDiagnostics(MLPGenerator(), [[0, 0], [1, 1]]), TypeError,
     ["tensor of real samples", "list"]),
    ("diagnostics-no-print-fn", lambda: gan.GANDiagnostics(print_fn=None), TypeError, ["function such as print", "None"]),
    ("diagnostics-called-with-dict", lambda: gan.GANDiagnostics()({"d_loss": [1]}), TypeError, ["History", "dict"]),
    ("pretrained-bad-device", lambda: gan.load_pretrained(device="gpu"), ValueError, ["'cpu'", "'gpu'"]),
    # ---- vae
    ("reparameterize-none", lambda: vae.reparameterize(None, torch.zeros(4, 2)), TypeError, ["float tensor", "NoneType"]),
    ("reparameterize-shape-mismatch", lambda: vae.reparameterize(torch.zeros(4, 2), torch.zeros(4, 3)), ValueError,
     ["same shape", "mu (4, 2)", "logvar (4, 3)"]),
    ("reparameterize-eps-shape", lambda: vae.reparameterize(torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(3, 2)),
     ValueError, ["same shape", "eps (3, 2)"]),
    ("kl-long", lambda: vae.gaussian_kl(torch.zeros(4, 2).long(), torch.zeros(4, 2)), TypeError, ["float tensor", "int64"]),
    ("unit-range-nan", lambda: vae.check_unit_range(torch.full((4,), NAN)), ValueError, ["[0, 1]", "NaN"]),
    ("unit-range-inf", lambda: vae.check_unit_range(torch.full((4,), INF)), ValueError, ["[0, 1]", "inf"]),
    ("unit-range-empty", lambda: vae.check_unit_range(torch.zeros(0)), ValueError, ["[0, 1]", "(0,)"]),
    ("nll-nan-images", lambda: vae.bernoulli_nll(X01, torch.full_like(X01, NAN)), ValueError, ["[0, 1]", "NaN"]),
    ("nll-long-logits", lambda: vae.bernoulli_nll(X01.long(), X01), TypeError, ["float tensor", "int64"]),
    ("binarize-str-seed", lambda: vae.binarize(X01, seed="a"), TypeError, ["seed must be an integer", "'a'"]),
    ("vae-task-no-model", lambda: vae.VAETask(None), TypeError, ["model must be a network", "NoneType"]),
    ("vae-task-infinite-lr", lambda: vae.VAETask(ConvVAE(latent_dim=2), lr=INF), ValueError, ["positive", "inf"]),
    ("vae-task-infinite-beta", lambda: vae.VAETask(ConvVAE(latent_dim=2), beta=INF), ValueError, [">= 0", "inf"]),
    ("vae-task-str-binarize", lambda: vae.VAETask(ConvVAE(latent_dim=2), binarize="no"), TypeError,
     ["True or False", "'no'"]),
    ("vae-task-conditional-flag-on-plain-model", lambda: vae.VAETask(ConvVAE(latent_dim=2), conditional=True), ValueError,
     ["num_classes", "None"]),
    ("vae-step-nan-batch", lambda: vae.VAETask(ConvVAE(latent_dim=2)).step(torch.full_like(X01, NAN), CPU), ValueError,
     ["[0, 1]", "NaN"]),
    ("vae-step-empty-batch", lambda: vae.VAETask(ConvVAE(latent_dim=2)).step(X01[:0], CPU), ValueError,
     ["empty", "(0, 1, 28, 28)"]),
    ("vae-step-none", lambda: vae.VAETask(ConvVAE(latent_dim=2)).step(None, CPU), TypeError, ["float images", "NoneType"]),
    ("cvae-step-labels-out-of-range", lambda: vae.VAETask(ConvVAE(latent_dim=2, num_classes=10)).step(
        (X01, torch.full((4,), 10)), CPU), ValueError, ["from 0 to 9", "from 10 to 10"]),
    ("cvae-step-float-labels", lambda: vae.VAETask(ConvVAE(latent_dim=2, num_classes=10)).step(
        (X01, torch.full((4,), 0.5)), CPU), ValueError, ["integer class indices of shape (4,)", "float32"]),
    ("elbo-zero-batch-size", lambda: vae.elbo_per_image(ConvVAE(latent_dim=2), X01, batch_size=0), ValueError,
     ["batch_size must be a positive integer", "0"]),
    ("elbo-empty-images", lambda: vae.elbo_per_image(ConvVAE(latent_dim=2), X01[:0]), ValueError,
     ["non-empty batch", "(0, 1, 28, 28)"]),
    ("elbo-nan-images", lambda: vae.elbo_per_image(ConvVAE(latent_dim=2), torch.full_like(X01, NAN)), ValueError,
     ["[0, 1]", "NaN"]),
    ("elbo-labels-to-plain-model", lambda: vae.elbo_per_image(ConvVAE(latent_dim=2), X01, LONG4), ValueError,
     ["not conditional", "int64 tensor"]),
    ("elbo-labels-wrong-length", lambda: vae.elbo_per_image(ConvVAE(latent_dim=2, num_classes=10), X01, LONG4[:3]),
     ValueError, ["(4,)", "(3,)"]),
    ("elbo-no-model", lambda: vae.elbo_per_image(None, X01), TypeError, ["nn.Module", "NoneType"]),
    ("elbo-str-seed", lambda: vae.elbo_per_image(ConvVAE(latent_dim=2), X01, seed="a"), TypeError, ["integer", "'a'"]),
    ("elbo-of-an-autoencoder", lambda: vae.elbo_per_image(ConvAutoencoder(), X01), TypeError,
     ["(logits, mu, logvar, z)", "2 outputs"]),
    ("kl-per-dim-of-an-autoencoder", lambda: vae.kl_per_dim(ConvAutoencoder(), X01), TypeError,
     ["returns (mu, logvar)", "a float32 tensor of shape (4, 2)"]),
    ("iwae-of-an-autoencoder", lambda: vae.iwae_nll(ConvAutoencoder(), X01, K=2), TypeError,
     ["returns (mu, logvar)", "a float32 tensor of shape (4, 2)"]),
    ("iwae-zero-batch-size", lambda: vae.iwae_nll(ConvVAE(latent_dim=2), X01, K=2, batch_size=0), ValueError,
     ["batch_size must be a positive integer", "0"]),
    ("encode-mean-zero-batch-size", lambda: vae.encode_mean(ConvVAE(latent_dim=2), X01, batch_size=0), ValueError,
     ["batch_size must be a positive integer", "0"]),
    ("kl-per-dim-zero-batch-size", lambda: vae.kl_per_dim(ConvVAE(latent_dim=2), X01, batch_size=0), ValueError,
     ["batch_size must be a positive integer", "0"]),
    # ---- sampling
    ("labels-float", lambda: sampling.check_labels(tiny_g(num_classes=10), 4, torch.full((4,), 0.5)), TypeError,
     ["integer class indices 0..9", "float32"]),
    ("labels-out-of-range", lambda: sampling.check_labels(tiny_g(num_classes=10), 4, [10] * 4), ValueError,
     ["from 0 to 9", "from 10 to 10"]),
    ("labels-negative", lambda: sampling.check_labels(tiny_g(num_classes=10), 4, [-1] * 4), ValueError,
     ["from 0 to 9", "from -1 to -1"]),
    ("labels-string", lambda: sampling.check_labels(tiny_g(num_classes=10), 4, "abcd"), TypeError,
     ["integer class indices of shape (4,)", "str 'abcd'"]),
    ("labels-bool", lambda: sampling.check_labels(tiny_g(num_classes=10), 2, [True, False]), TypeError,
     ["integer class indices", "bool"]),
    ("labels-for-zero", lambda: sampling.labels_for(tiny_g(num_classes=10), 0), ValueError, ["positive integer", "0"]),
    ("labels-for-class-out-of-range", lambda: sampling.labels_for(tiny_g(num_classes=10), 4, 10), ValueError,
     ["from 0 to 9", "10"]),
    ("labels-for-float-class", lambda: sampling.labels_for(tiny_g(num_classes=10), 4, 2.7), TypeError,
     ["integer", "2.7"]),
    ("decode-zero-batch-size", lambda: sampling.decode(tiny_g(), Z8, batch_size=0), ValueError,
     ["batch_size must be a positive integer", "0"]),
    ("decode-empty-codes", lambda: sampling.decode(tiny_g(), Z8[:0]), ValueError, ["at least one", "(0, 8)"]),
    ("decode-long-codes", lambda: sampling.decode(tiny_g(), Z8.long()), TypeError, ["float latent codes", "int64"]),
    ("decode-bad-device", lambda: sampling.decode(tiny_g(), Z8, device="gpu"), ValueError, ["'cpu'", "'gpu'"]),
    ("decode-no-model", lambda: sampling.decode(None, Z8), TypeError, ["generative model", "NoneType"]),
    ("generate-zero-batch-size", lambda: sampling.generate(tiny_g(), 4, batch_size=0), ValueError,
     ["batch_size must be a positive integer", "0"]),
    ("generate-str-seed", lambda: sampling.generate(tiny_g(), 4, seed="a"), TypeError, ["seed must be an integer", "'a'"]),
    ("generate-negative-latent-dim", lambda: sampling.generate(torch.nn.Linear(3, 3), 4, latent_dim=-1), ValueError,
     ["positive integer", "-1"]),
    ("generate-labels-out-of-range", lambda: sampling.generate(tiny_g(num_classes=10), 4, y=[10] * 4), ValueError,
     ["from 0 to 9", "from 10 to 10"]),
    ("interpolate-no-fractions", lambda: sampling.interpolate(Z8[0], Z8[1], []), ValueError, ["at least one", "[]"]),
    ("interpolate-str-fraction", lambda: sampling.interpolate(Z8[0], Z8[1], "a"), TypeError, ["numbers in [0, 1]", "'a'"]),
    ("interpolate-long-codes", lambda: sampling.interpolate(torch.arange(8), torch.arange(8) * 3, [0.5]), TypeError,
     ["float latent codes", "int64"]),
    ("interpolate-nan-code", lambda: sampling.interpolate(torch.full((8,), NAN), Z8[1], [0.5]), ValueError,
     ["finite", "NaN"]),
    ("slerp-zero-code", lambda: sampling.interpolate(torch.zeros(8), Z8[1], [0.5], "slerp"), ValueError,
     ["non-zero codes", "method='linear'"]),
    # ---- viz
    ("show-zero-nrow", lambda: viz.show_images(IMG, nrow=0), ValueError, ["positive integer", "0"]),
    ("show-str-nrow", lambda: viz.show_images(IMG, nrow="a"), ValueError, ["positive integer", "'a'"]),
    ("show-empty-range", lambda: viz.show_images(IMG, value_range=(1, 1)), ValueError, ["high > low", "(1, 1)"]),
    ("show-float-0-255", lambda: viz.show_images(X01 * 255), ValueError, ["value_range=(0, 255)", "values up to"]),
    ("show-zero-size", lambda: viz.show_images(IMG, size=0), ValueError, ["> 0", "0"]),
    ("show-str-ax", lambda: viz.show_images(IMG, ax="a"), TypeError, ["matplotlib Axes", "str 'a'"]),
    ("history-key-as-string", lambda: viz.plot_history(history(), "d_loss"), TypeError, ["list", "'d_loss'"]),
    ("history-no-keys", lambda: viz.plot_history(history(), []), ValueError, ["at least one", "empty"]),
    ("history-empty", lambda: viz.plot_history(History()), ValueError, ["nothing to plot", "no logged steps"]),
    ("feature-maps-zero-max", lambda: viz.plot_feature_maps(torch.zeros(4, 5, 5), max_maps=0), ValueError,
     ["positive integer", "0"]),
    ("feature-maps-zero-ncol", lambda: viz.plot_feature_maps(torch.zeros(4, 5, 5), ncol=0), ValueError,
     ["positive integer", "0"]),
    ("feature-maps-none", lambda: viz.plot_feature_maps(torch.zeros(0, 5, 5)), ValueError, ["C >= 1", "(0, 5, 5)"]),
    ("filters-zero-max", lambda: viz.plot_filters(torch.zeros(4, 1, 3, 3), max_filters=0), ValueError,
     ["positive integer", "0"]),
    ("filters-none", lambda: viz.plot_filters(torch.zeros(0, 1, 3, 3)), ValueError, ["C_out, C_in >= 1", "(0, 1, 3, 3)"]),
    ("filters-nan", lambda: viz.plot_filters(torch.full((4, 1, 3, 3), NAN)), ValueError, ["NaN or inf", "diverged"]),
    ("latent-codes-none", lambda: viz.plot_latent_codes(None), TypeError, ["(N, 2)", "NoneType"]),
    ("latent-codes-empty", lambda: viz.plot_latent_codes(torch.zeros(0, 2)), ValueError, ["nothing to draw", "(0, 2)"]),
    ("latent-codes-labels-wrong-length", lambda: viz.plot_latent_codes(torch.zeros(5, 2), torch.zeros(3)), ValueError,
     ["(5,)", "shape (3,)"]),
    ("grid-zero-n", lambda: viz.decode_grid(ConvVAE(latent_dim=2), n=0), ValueError, ["positive integer", "0"]),
    ("grid-negative-limit", lambda: viz.decode_grid(ConvVAE(latent_dim=2), n=3, limit=-1), ValueError, ["> 0", "-1"]),
    ("grid-class-to-plain-model", lambda: viz.decode_grid(ConvVAE(latent_dim=2), n=3, y=3), ValueError,
     ["not conditional", "3"]),
    ("grid-class-out-of-range", lambda: viz.decode_grid(ConvVAE(latent_dim=2, num_classes=10), n=3, y=10), ValueError,
     ["from 0 to 9", "10"]),
    ("live-loss-bool-every", lambda: viz.LiveLossPlot(every=True), ValueError, [">= 1", "True"]),
    ("live-loss-key-as-string", lambda: viz.LiveLossPlot(keys="d_loss"), TypeError, ["list", "'d_loss'"]),
    ("live-samples-empty-codes", lambda: viz.LiveSamples(tiny_g(), Z8[:0]), ValueError, ["n >= 1", "(0, 8)"]),
    ("live-samples-zero-nrow", lambda: viz.LiveSamples(tiny_g(), Z8, nrow=0), ValueError, ["positive integer", "0"]),
    ("live-samples-labels-out-of-range", lambda: viz.LiveSamples(tiny_g(num_classes=10), Z8, y=torch.full((4,), 10)),
     ValueError, ["from 0 to 9", "from 10 to 10"]),
    ("live-samples-called-with-none", lambda: viz.LiveSamples(tiny_g(), Z8)(None), TypeError, ["History", "NoneType"]),
    # ---- widgets
    ("gray-object-array", lambda: widgets.as_gray_image(np.array([[None] * 4] * 4)), TypeError,
     ["uint8 (0..255) or float", "object"]),
    ("gray-nan", lambda: widgets.as_gray_image(torch.full((8, 8), NAN)), ValueError, ["finite", "NaN"]),
    ("kernel-nan", lambda: widgets.apply_kernel(torch.rand(8, 8), torch.full((3, 3), NAN)), ValueError,
     ["finite weights", "nan"]),
    ("kernel-bool-stride", lambda: widgets.apply_kernel(torch.rand(8, 8), stride=True), ValueError,
     ["positive integer", "True"]),
    ("explorer-zero-stride", lambda: widgets.conv_explorer(torch.rand(8, 8), stride=0), ValueError, ["from 1 to 4", "0"]),
    ("explorer-large-padding", lambda: widgets.conv_explorer(torch.rand(8, 8), padding=7), ValueError,
     ["from 0 to 3", "7"]),
    ("latent-explorer-str-t", lambda: widgets.LatentExplorer(tiny_g(), t="a"), TypeError, ["t must be a number", "'a'"]),
    ("latent-explorer-nan-code", lambda: widgets.LatentExplorer(tiny_g(), z0=torch.full((8,), NAN), z1=Z8[1]), ValueError,
     ["finite float code of shape (8,)", "NaN"]),
    ("latent-explorer-long-code", lambda: widgets.LatentExplorer(tiny_g(), z0=torch.zeros(8, dtype=torch.long),
                                                                 z1=torch.ones(8, dtype=torch.long)),
     ValueError, ["float code of shape (8,)", "int64"]),
    ("plane-explorer-no-model", lambda: widgets.latent_plane_explorer(None), TypeError, ["nn.Module", "NoneType"]),
    ("plane-explorer-str-limit", lambda: widgets.LatentPlaneExplorer(ConvVAE(latent_dim=2), limit="a"), TypeError,
     ["limit must be a number", "'a'"]),
    ("plane-explorer-infinite-limit", lambda: widgets.LatentPlaneExplorer(ConvVAE(latent_dim=2), limit=INF), ValueError,
     ["finite", "inf"]),
    ("plane-explorer-start-outside", lambda: widgets.LatentPlaneExplorer(ConvVAE(latent_dim=2), z=(5.0, 5.0)), ValueError,
     ["<= 3", "5.0"]),
    ("plane-explorer-one-coordinate", lambda: widgets.LatentPlaneExplorer(ConvVAE(latent_dim=2), z=(0.0,)), ValueError,
     ["(z[0], z[1])", "(0.0,)"]),
    ("plane-explorer-labels-wrong-length", lambda: widgets.LatentPlaneExplorer(ConvVAE(latent_dim=2), codes=torch.zeros(5, 2),
                                                                               labels=torch.zeros(3)),
     ValueError, ["(5,)", "shape (3,)"]),
    # ---- checks' helpers
    ("close-str", lambda: close("a", 1), TypeError, ["must be a number", "str 'a'"]),
    ("close-negative-tolerance", lambda: close(1, 1, rel=-1), ValueError, [">= 0", "rel=-1"]),
    ("transposed-size-zero-stride", lambda: transposed_size(4, 4, 0, 1), ValueError, ["s must be an integer >= 1", "0"]),
    ("transposed-size-output-padding", lambda: transposed_size(4, 4, 2, 1, 2), ValueError,
     ["smaller than the stride", "output_padding=2"]),
    ("transposed-size-no-pixels", lambda: transposed_size(1, 1, 1, 1), ValueError, ["leave no pixels", "p=1"]),
]


class _Conditional(torch.nn.Module):
    """A discriminator that claims 10 classes, to meet an unconditional generator."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.num_classes = inner, 10

    def forward(self, x, y=None):
        return self.inner(x)


@pytest.mark.parametrize("call, exc, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_refused_naming_what_was_expected_and_what_came(call, exc, fragments):
    with pytest.raises(exc) as err:
        call()
    message = str(err.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"{missing} not in {message!r}"


# ---------------------------------------------------------------- GANTask checks its first batch, once

def _gan_task():
    torch.manual_seed(0)
    return gan.GANTask(DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4))


def test_gan_task_refuses_a_first_batch_of_0_255_pixels_naming_the_range_and_the_fix():
    with pytest.raises(ValueError) as err:
        _gan_task().step(torch.rand(4, 1, 28, 28) * 255, CPU)
    msg = str(err.value)
    assert "[-1, 1]" in msg and "0..255 pixels" in msg and "value_range=(-1, 1)" in msg and "to_float" in msg


def test_gan_task_refuses_a_first_batch_in_0_1():
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\].*from 0.* \(\[0, 1\] images\)"):
        _gan_task().step(torch.rand(4, 1, 28, 28), CPU)


def test_gan_task_refuses_a_first_batch_of_uint8_pointing_to_to_float():
    with pytest.raises(TypeError, match="uint8.*to_float"):
        _gan_task().step(U8[:4], CPU)


@pytest.mark.parametrize("batch", [torch.full((4, 1, 28, 28), NAN), torch.full((8, 2), INF)])
def test_gan_task_refuses_a_first_batch_with_nan_or_inf(batch):
    task = _gan_task() if batch.dim() == 4 else gan.GANTask(MLPGenerator(), MLPDiscriminator())
    with pytest.raises(ValueError, match="NaN or inf"):
        task.step(batch, CPU)


def test_gan_task_refuses_a_conditional_run_without_labels():
    task = gan.GANTask(DCGANGenerator(latent_dim=8, width=4, num_classes=10), DCGANDiscriminator(width=4, num_classes=10))
    with pytest.raises(ValueError, match=r"conditional \(10 classes\).*\(x, y\).*got x alone"):
        task.step(IMG, CPU)


@pytest.mark.parametrize("y, fragments", [(torch.full((4,), 10), ["from 0 to 9", "from 10 to 10"]),
                                          (torch.full((4,), -1), ["from 0 to 9", "from -1 to -1"]),
                                          (torch.full((4,), 0.5), ["integer class indices of shape (4,)", "float32"]),
                                          (LONG4[:3], ["shape (4,)", "(3,)"])])
def test_gan_task_refuses_bad_labels_in_the_first_batch(y, fragments):
    """Checked on the host once: on a GPU an out-of-range label inside a step is a device-side assert."""
    task = gan.GANTask(DCGANGenerator(latent_dim=8, width=4, num_classes=10), DCGANDiscriminator(width=4, num_classes=10))
    with pytest.raises(ValueError) as err:
        task.step((IMG, y), CPU)
    assert all(f in str(err.value) for f in fragments), str(err.value)


def test_gan_task_refuses_a_step_without_a_step_context():
    with pytest.raises(TypeError, match="StepContext.*NoneType"):
        _gan_task().step(IMG, None)


def test_gan_task_checks_only_the_first_batch(monkeypatch):
    task = _gan_task()
    calls = []
    original = task._check_first_batch
    monkeypatch.setattr(task, "_check_first_batch", lambda x, y: (calls.append(1), original(x, y)))
    for _ in range(3):
        task.step(IMG, CPU)
    assert calls == [1]


def test_the_first_batch_check_draws_no_random_numbers():
    task = _gan_task()
    state = torch.get_rng_state()
    task._check_first_batch(IMG, None)
    assert torch.equal(state, torch.get_rng_state())


def test_points_of_any_range_pass_the_gan_task_check():
    """Toy data is not an image: a ring of radius 2 lies outside [-1, 1] and is fine."""
    task = gan.GANTask(MLPGenerator(), MLPDiscriminator())
    task.step(next(data.PointBatches(16, radius=2.0)), CPU)


# ---------------------------------------------------------------- valid inputs are still accepted, unchanged

def test_numpy_integer_seeds_are_accepted():
    a = data.PointBatches(8, seed=np.int64(3)).sample(4, np.int64(5))
    assert torch.equal(a, data.PointBatches(8, seed=3).sample(4, 5))


def test_value_range_as_a_list_of_ints_gives_the_same_batches_as_floats():
    a = next(data.ResidentBatches(SET, 4, value_range=[0, 1], seed=1))[0]
    b = next(data.ResidentBatches(SET, 4, value_range=(0.0, 1.0), seed=1))[0]
    assert torch.equal(a, b)


def test_to_float_numbers_are_unchanged():
    x = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(data.to_float(x), x.float().mul_(2 / 255.0).add_(-1.0))
    assert torch.equal(data.to_float(x, (0, 1)), x.float().mul_(1 / 255.0).add_(0))


def test_ring_centres_with_an_int_radius_are_unchanged():
    angle = torch.arange(8) * (2 * torch.pi / 8)
    assert torch.equal(data.ring_centres(8, 2), 2 * torch.stack([angle.cos(), angle.sin()], 1))


def test_an_unconditional_model_still_ignores_a_label_for_labels_for():
    """Documented: labels_for(model, n, label) returns None for an unconditional model."""
    assert sampling.labels_for(tiny_g(), 4, label=3) is None


# ---------------------------------------------------------------- the shared validators

@pytest.mark.parametrize("value, error", [(True, TypeError), ("1", TypeError), (NAN, ValueError), (INF, ValueError),
                                          (-1.0, ValueError)])
def test_check_number_refuses_bools_strings_non_finite_and_out_of_range(value, error):
    with pytest.raises(error, match="x must be"):
        _checks.check_number("x", value, low=0.0)


def test_check_number_accepts_a_one_element_tensor():
    assert _checks.check_number("x", torch.tensor(0.5), low=0.0, high=1.0) == 0.5


@pytest.mark.parametrize("device", ["gpu", "cuda:99" if torch.cuda.is_available() else "cuda", 3.5, True])
def test_check_device_refuses_devices_this_machine_lacks(device):
    with pytest.raises((ValueError, TypeError), match=r"device"):
        _checks.check_device(device)


def test_model_input_checks_read_no_values():
    """Shape, dtype and device only: a NaN batch passes (reading values would sync the GPU every step)."""
    with torch.no_grad():
        out = tiny_d().eval()(torch.full((2, 1, 28, 28), NAN))
    assert out.shape == (2,) and math.isnan(float(out[0]))
