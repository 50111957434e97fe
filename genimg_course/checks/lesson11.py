"""Checks for lesson 11 (the article's future challenges, measured). Each runs in well under a second.

* :func:`check_faq` — :data:`FAQ_QUESTIONS`: the source article's seven FAQ questions (附录 常见问题与解答),
  each as a multiple-choice question answered with the course's own evidence. Several of the article's
  questions rest on a false premise; the right option says so. ``docs/article.md`` §2 has the corrected
  answers and the lesson that shows each; a wrong letter's message says why it is wrong and where to look.
  :func:`show_faq_questions` prints them.
* :func:`check_fgsm` — ``fgsm(loss_fn, x, eps)``: one signed-gradient step that raises the loss, clamped to
  [-1, 1] (Goodfellow et al., ICLR 2015); the lesson's robustness curves run on it.
* :func:`check_precision_recall` — ``precision_recall(real, fake, k)``: improved precision and recall
  (Kynkäänniemi et al., NeurIPS 2019) from k-th-nearest-neighbour balls; the lesson's real-vs-real row uses it.
* :func:`check_translate` — ``translate(x, tx, ty, fill)``: DiffAugment's translation (Zhao et al., NeurIPS 2020)
  for given whole-pixel shifts, filling what moves in; the lesson's DiffAugment runs train through it.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from . import Wrong, check, expect_signature
from ._quiz import grade_letters, print_questions
from ._tensors import returned_tensor, same_values

__all__ = ["check_faq", "FAQ_QUESTIONS", "show_faq_questions", "check_fgsm", "check_precision_recall",
           "check_translate"]


# ---------------------------------------------------------------- the article's FAQ, as a quiz

FAQ_QUESTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "Q1": (
        'The article asks "why does a generative model need a discriminator?" What does the course show?',
        {"a": "Every generative model needs one: without a second network judging its samples, a model cannot "
              "tell whether its images look real.",
         "b": "The premise is false: only a GAN has a discriminator, because it has no likelihood to maximise and "
              "learns by playing against a classifier of real against generated images. A VAE maximises the ELBO, "
              "a diffusion model learns to denoise, flows and autoregressive models maximise the likelihood: none "
              "has a discriminator.",
         "c": "The discriminator compares each generated image with the real image it was made from, and that "
              "comparison is the generator's loss.",
         "d": "A VAE needs one for its variational adversarial training; a GAN could do without."}),
    "Q2": (
        'The article asks "why does a GAN need backpropagation?" and answers that its loss is too complex for '
        "traditional optimisers. What is right?",
        {"a": "The article is right: simpler networks such as a classifier are trained by traditional optimisers "
              "without backpropagation, and a GAN's loss is too complex for them.",
         "b": "A GAN does not use backpropagation: the generator learns from the discriminator's yes/no verdicts, "
              "as a reward, without gradients.",
         "c": "Only the discriminator is trained by backpropagation; the generator is updated by copying the "
              "training images the discriminator scores highest.",
         "d": "Every network in the course, lesson 01's classifier included, is trained by gradient descent on "
              "gradients computed by backpropagation. What is special about a GAN is its objective: a two-player "
              "minimax game in which the generator's gradient flows through the discriminator."}),
    "Q3": (
        'The article says a VAE "needs a variational adversarial training algorithm". What is a VAE trained with?',
        {"a": "Nothing adversarial: a VAE maximises the evidence lower bound (ELBO), a reconstruction term minus the "
              "KL divergence of the encoder's code distribution from the prior, by gradient descent, with the "
              "reparameterisation trick to differentiate through the sampling.",
         "b": "A discriminator on its samples, which is what keeps them sharp.",
         "c": "An adversarial game between encoder and decoder, because sampling a code cannot be differentiated.",
         "d": "Variational inference over its weights: 'variational' means the network's weights are random "
              "variables, and an adversary fits their distribution."}),
    "Q4": (
        'The article says CNNs "perform poorly at image generation and transformation, because they are mainly '
        'used for classification". What does the course show?',
        {"a": "It is right: convolutions can only shrink an image, so a CNN cannot produce an image larger than "
              "its input.",
         "b": "It is right: a CNN ends in pooling and a fully connected layer, which makes it a classifier by "
              "construction.",
         "c": "It is wrong: DCGAN's generator and discriminator, a convolutional VAE's encoder and decoder, the "
              "U-Nets of restoration, translation and diffusion are all CNNs. What makes a network a generator "
              "is its training objective, not its layers.",
         "d": "A CNN can be a part of a generator but never the generator itself: generating needs a separate "
              "GAN or VAE module on top of it."}),
    "Q5": (
        'The article says GANs and VAEs do well "because they learn the structure and features of images". '
        "What does the course's evidence say?",
        {"a": "That is the whole explanation: learning the structure and features of images is what only "
              "generative models do.",
         "b": "Both learn a distribution of images with a deep convolutional network and a latent code you can "
              "sample, and they differ in how: a GAN gives sharp samples but no likelihood and may drop modes; a "
              "VAE gives a likelihood bound, an encoder and a walkable latent space, but blurrier samples. Neither "
              "leads today: on the course's scoreboard a small flow-matching model comes closest to the "
              "real-vs-real floor.",
         "c": "They do equally well: a VAE's samples are as sharp as a GAN's, and both score the same FID.",
         "d": "They are still the best image generators: no later family has beaten them on sample quality."}),
    "Q6": (
        'The article says generation and transformation models "need a lot of training data". What does the '
        "evidence support?",
        {"a": "They need millions of images: on a few thousand digits a model learns nothing useful.",
         "b": "A generator's FID against its own training images tells you whether it had enough data.",
         "c": "When data are scarce, augment only the real images before the discriminator sees them.",
         "d": "They need enough data to learn the distribution rather than copy the training set, and how much "
              "depends on the images and the model; measure it on held-out images with a memorisation check. "
              "When data are scarce a GAN's discriminator overfits the few real images, and augmentations that "
              "the discriminator sees on real and generated images alike help."}),
    "Q7": (
        'The article says these models "need high-performance computing devices". What did the course measure?',
        {"a": "Not always: every lesson runs on a laptop CPU at a small size (a digit DCGAN trains in minutes on "
              "two cores). Cost grows with image size, model size, batch and steps (and, for diffusion, with the "
              "sampling steps), which is what makes a GPU worth it; and for small models the GPU pays off only "
              "when the data path keeps it fed (batches resident on the device, no host sync every step).",
         "b": "Yes: without a GPU a generative model cannot be trained at all.",
         "c": "A GPU makes any training loop fast: once the model is on the GPU, how batches reach it does not "
              "matter.",
         "d": "The cost is fixed by the size of the dataset: a model must process every image it was given, so "
              "more data always means proportionally more hardware, whatever the number of steps."}),
}
_FAQ_RIGHT = {"Q1": "b", "Q2": "d", "Q3": "a", "Q4": "c", "Q5": "b", "Q6": "d", "Q7": "a"}
_FAQ_WHY = {
    ("Q1", "a"): "lesson 05 trains a VAE by the ELBO alone and samples digits from it, and lesson 10 a diffusion model "
                 "by denoising: neither has a second network judging its samples (docs/article.md §2, Q1)",
    ("Q1", "c"): "that is erratum 12: the discriminator takes one input and estimates the probability that it came "
                 "from the data rather than from G; there is no paired real image (lesson 02 §1, and the optimal "
                 "discriminator of §2)",
    ("Q1", "d"): "it is the other way round: a VAE has no discriminator and no adversarial training (erratum 9, "
                 "lesson 05's opening correction and §2); the discriminator is the GAN's",
    ("Q2", "a"): "lesson 01's classifier is trained exactly like a GAN's networks, by gradient descent on "
                 "backpropagated gradients: backpropagation is how every network here gets its gradients "
                 "(erratum 11, lesson 02 §1)",
    ("Q2", "b"): "G's loss is a differentiable function of D's output, and its gradient is backpropagated through D "
                 "into G: lesson 02 §3 computes that gradient (and why the saturating loss makes it vanish), and "
                 "your gan_step in §4 takes it",
    ("Q2", "c"): "G never sees a training image: it learns only through the gradient of its loss through D "
                 "(lesson 02 §1); a G that copied training images would fail lesson 03 §5's memorisation check",
    ("Q3", "b"): "a discriminator on a VAE's samples makes a VAE-GAN, another model; a plain VAE's samples are blurry "
                 "precisely because nothing adversarial sharpens them (lesson 05's opening correction, and its FIDs "
                 "in §6)",
    ("Q3", "c"): "the reparameterisation trick, z = μ + σ·ε with ε drawn from N(0, I), makes the sample a "
                 "differentiable function of μ and σ, so the encoder trains by plain gradient descent (lesson 05 §2, "
                 "exercise 1)",
    ("Q3", "d"): "'variational' refers to the approximate posterior q(z | x) over the *codes* that the ELBO is built "
                 "on; the weights are ordinary parameters trained by gradient descent, and no adversary is involved "
                 "(lesson 05 §2)",
    ("Q4", "a"): "transposed convolutions (and pixel shuffle) grow an image: lesson 01 §4 builds a generator that "
                 "does, and lesson 06 §2 up-samples three ways",
    ("Q4", "b"): "layers do not make a classifier: DCGAN replaced pooling with strided convolutions (lesson 01 §3), "
                 "and lesson 03 §2's generator has no pooling and no fully connected hidden layer: transposed "
                 "convolutions grow the image and a tanh gives the pixels",
    ("Q4", "d"): "'GAN' and 'VAE' name training objectives, not modules: the GAN's generator *is* the CNN, trained "
                 "against a discriminator (lesson 01 §5, lesson 03 §2)",
    ("Q5", "a"): "lesson 01's classifier learns the structure and features of images too, and generates nothing: the "
                 "phrase explains nothing (docs/article.md §2, Q5). What matters is learning a distribution to "
                 "sample from",
    ("Q5", "c"): "lesson 05 §6 puts them on one scoreboard: the VAE's FID sits above the DCGAN's, because the judge "
                 "punishes blur hard (lesson 01 §8)",
    ("Q5", "d"): "diffusion models have beaten GANs on ImageNet's sample-quality benchmarks (Dhariwal & Nichol, "
                 "NeurIPS 2021), and on lesson 10 §8's scoreboard, under the same protocol, the shipped flow-matching "
                 "model comes far closer to the floor than the DCGAN and the VAE",
    ("Q6", "a"): "offline the course trains on 4,000 digits: lesson 01's classifier still reaches high held-out "
                 "accuracy (§6) and lesson 03's DCGAN makes digits scored against held-out test digits (§5); how "
                 "quality falls as the data shrink is this lesson's data measurement",
    ("Q6", "b"): "a generator that copied its training images would score *below* the floor against them: lesson 03 §5 "
                 "scores against held-out test digits and checks memorisation (each sample's distance to its nearest "
                 "training digit) for that reason",
    ("Q6", "c"): "a GAN trained on augmented real images learns to generate the augmented distribution: the "
                 "augmentations leak into its samples (Karras et al., NeurIPS 2020). The augmentation must be applied "
                 "to everything the discriminator sees, real and generated alike (Zhao et al., NeurIPS 2020); this "
                 "lesson's data measurement shows the difference",
    ("Q7", "b"): "lesson 03 trains a DCGAN on two laptop CPU cores under the cpu profile (lesson 00 §2 explains the "
                 "profiles), and docs/compute.md gives every lesson's time on a laptop CPU as well as on one GPU",
    ("Q7", "c"): "docs/benchmarks.md ('Our loop on a GPU') measured a plain DataLoader loop several times slower than "
                 "the same model with its batches resident on the device: on a GPU a small model waits for data and "
                 "host syncs, not for arithmetic",
    ("Q7", "d"): "a run's cost is its steps × batch × cost per image, not the dataset's size: every lesson runs under a "
                 "time budget (lesson 00 §2's profiles), and docs/compute.md shows what image size, width, batch and, "
                 "for diffusion, the number of sampling steps (lesson 10 §5) cost",
}


def show_faq_questions() -> None:
    """Print :data:`FAQ_QUESTIONS` with their options, for the lesson's reading exercise."""
    print_questions(FAQ_QUESTIONS)


@check
def check_faq(answers: Any) -> str:
    """``answers`` (a dict, or a function returning it) gives, for each key ``"Q1"`` … ``"Q7"`` of
    :data:`FAQ_QUESTIONS`, the letter of the right option: the article's seven FAQ questions, answered with the
    course's evidence."""
    grade_letters(answers, FAQ_QUESTIONS, _FAQ_RIGHT, _FAQ_WHY)
    return ("all seven right: only GANs have a discriminator; every network here learns by backpropagation; a VAE "
            "maximises the ELBO; CNNs are the generators; GANs and VAEs trade sharpness for a likelihood, and "
            "diffusion beats both; data must be enough to learn rather than copy; and the cost is set by image "
            "size, model, batch and steps, not by the need for a GPU")


# ---------------------------------------------------------------- FGSM: one signed-gradient step


def _fixed(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _fgsm_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images in [-1, 1] with pixels at the edges (so the clamp matters) and a loss whose gradient depends on x."""
    x = _fixed(110, 4, 1, 28, 28).tanh()
    x[:, :, 0, :3] = torch.tensor([1.0, -1.0, 0.99])
    w, c = _fixed(111, 1, 1, 28, 28), _fixed(112, 1, 1, 28, 28).clamp(-0.5, 0.5)
    return x, w, c


def _fgsm_loss(w: torch.Tensor, c: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: (w * (x - c) ** 2).sum() + (3 * x).sin().sum()  # a scalar; ∇ depends on x


@check
def check_fgsm(fn: Callable[..., torch.Tensor]) -> str:
    """``fn(loss_fn, x, eps)`` → ``clamp(x + eps · sign(∇ₓ loss_fn(x)), -1, 1)``, detached, ``x`` unchanged.
    Compared on images with pixels at ±1, with a loss whose gradient depends on ``x``, at eps 0.1 and 0."""
    x, w, c = _fgsm_case()
    loss_fn = _fgsm_loss(w, c)
    expect_signature(fn, "fgsm", "(loss_fn, x, eps)", loss_fn, x, 0.1)
    before = x.clone()
    got = returned_tensor(fn(loss_fn, x, 0.1), "fgsm", "the perturbed images, the shape of x")
    if not torch.equal(x, before) or x.requires_grad:
        raise Wrong("fgsm changed its input x (its values or its requires_grad): work on a copy, "
                    "x_ = x.detach().clone().requires_grad_(True)")
    if tuple(got.shape) != tuple(x.shape):
        raise Wrong(f"fgsm must return images of x's shape {tuple(x.shape)}, got {tuple(got.shape)}")
    xg = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(xg), xg)
    want = (x + 0.1 * grad.sign()).clamp(-1, 1)
    if not same_values(got, want, 1e-5, 1e-6):
        slips = {"you did not clamp to [-1, 1]: pixels at ±1 went outside the image range (add .clamp(-1, 1))":
                 x + 0.1 * grad.sign(),
                 "you stepped down the gradient (x - eps·sign): FGSM *raises* the loss, x + eps·sign(∇ₓL)":
                 (x - 0.1 * grad.sign()).clamp(-1, 1),
                 "you used the gradient itself, not its sign: FGSM moves every pixel by exactly eps (an L∞ step), "
                 "x + eps·grad.sign()": (x + 0.1 * grad).clamp(-1, 1),
                 "you returned the perturbation alone: return the perturbed images x + eps·sign(∇ₓL)":
                 0.1 * grad.sign(),
                 "that is the sign of x, not of the loss's gradient: take torch.autograd.grad(loss_fn(x_), x_)":
                 (x + 0.1 * x.sign()).clamp(-1, 1)}
        for hint, slip in slips.items():
            if same_values(got.detach(), slip, 1e-5, 1e-6):
                raise Wrong(hint)
        worst = float((got.detach() - want).abs().max())
        raise Wrong(f"fgsm(x, eps = 0.1) differs from clamp(x + eps·sign(∇ₓL), -1, 1) by up to {worst:.4f}")
    if got.requires_grad:
        raise Wrong("the result still carries a graph: return it .detach()-ed (an adversarial image is data, not "
                    "part of the loss)")
    zero = returned_tensor(fn(loss_fn, x, 0.0), "fgsm", "the images")
    if not same_values(zero, x, 0, 1e-7):
        raise Wrong("with eps = 0 fgsm must return x unchanged")
    moved = float((got - x).abs().max())
    return (f"x' = clamp(x + ε·sign(∇ₓL)): every pixel moves by ε (here at most {moved:.2f}) in the direction that "
            "raises the loss, the best one step inside the L∞ ball to first order")


# ---------------------------------------------------------------- precision and recall from k-NN balls


def _pr_reference(r: torch.Tensor, f: torch.Tensor, k: int) -> tuple[float, float]:
    def radii(x: torch.Tensor) -> torch.Tensor:
        return torch.cdist(x, x).kthvalue(k + 1, dim=1).values

    def covered(points: torch.Tensor, centres: torch.Tensor, rad: torch.Tensor) -> float:
        return float((torch.cdist(points, centres) <= rad[None, :]).any(1).double().mean())

    return covered(f, r, radii(r)), covered(r, f, radii(f))


def _pr_number(v: Any, what: str) -> float:
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Wrong(f"{what} should be a number (a share of points, 0 to 1), got {type(v).__name__}")
    return float(v)


@check
def check_precision_recall(fn: Callable[..., Any]) -> str:
    """``fn(real, fake, k)`` → ``(precision, recall)`` for feature sets ``(N, D)``: the share of fakes inside some
    real point's ball of radius "distance to its k-th nearest real neighbour", and the share of reals inside some
    fake point's ball built the same way from the fakes. Compared on three pairs of random sets (one a shifted,
    narrower copy, so that precision and recall differ) at k = 3 and k = 1."""
    g = torch.Generator().manual_seed(120)
    real = torch.randn(60, 5, generator=g, dtype=torch.float64)
    cases = [(real, 0.5 * torch.randn(50, 5, generator=g, dtype=torch.float64) + 0.4, 3),
             (real, 1.6 * torch.randn(70, 5, generator=g, dtype=torch.float64), 3),
             (real, torch.randn(40, 5, generator=g, dtype=torch.float64), 1)]
    expect_signature(fn, "precision_recall", "(real, fake, k)", real, cases[0][1], 3)
    for i, (r, f, k) in enumerate(cases):
        got = fn(r.clone(), f.clone(), k)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Wrong(f"precision_recall must return two numbers (precision, recall), got {type(got).__name__}")
        p, rc = _pr_number(got[0], "precision"), _pr_number(got[1], "recall")
        want_p, want_r = _pr_reference(r, f, k)
        if abs(p - want_p) < 1e-9 and abs(rc - want_r) < 1e-9:
            continue
        if abs(p - want_r) < 1e-9 and abs(rc - want_p) < 1e-9:
            raise Wrong("precision and recall are swapped: precision asks whether the *fakes* fall inside the real "
                        "balls (are the samples realistic?), recall whether the *reals* fall inside the fake balls")
        if k > 1 and (abs(p - want_p) > 1e-9 or abs(rc - want_r) > 1e-9):
            self_p, self_r = _pr_reference(r, f, k - 1)
            if abs(p - self_p) < 1e-9 and abs(rc - self_r) < 1e-9:
                raise Wrong("your radius is the (k-1)-th neighbour's: a point's distance to itself, 0, is the "
                            "smallest in each row of cdist(x, x), so the k-th neighbour is kthvalue(k + 1)")
        if abs(p - 1.0) < 1e-9 and want_p < 1 - 1e-9:
            raise Wrong(f"case {i + 1}: your precision is 1.000 where it should be {want_p:.3f}, what the reals score "
                        "inside their own balls: your precision does not depend on the fakes; count the fakes inside "
                        "the real balls")
        raise Wrong(f"case {i + 1} (k = {k}): expected precision {want_p:.3f} and recall {want_r:.3f}, got "
                    f"{p:.3f} and {rc:.3f}. Each ball is centred on one point of a set, with radius that point's "
                    "distance to its k-th nearest neighbour in the same set")
    p, rc = _pr_reference(*cases[0])
    return (f"precision {p:.2f}, recall {rc:.2f} for a narrower, shifted copy of the data: its samples look real "
            "(high precision) but cover less of the data's variety (lower recall)")


# ---------------------------------------------------------------- DiffAugment's translation


def _ref_translate(x: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, fill: float) -> torch.Tensor:
    out = torch.full_like(x, fill)
    b, _, h, w = x.shape
    for n in range(b):
        for i in range(h):
            for j in range(w):
                si, sj = i - int(ty[n]), j - int(tx[n])
                if 0 <= si < h and 0 <= sj < w:
                    out[n, :, i, j] = x[n, :, si, sj]
    return out


@check
def check_translate(fn: Callable[..., torch.Tensor]) -> str:
    """``fn(x, tx, ty, fill)`` → images shifted by whole pixels, one shift per image: ``out[b, :, i, j] =
    x[b, :, i - ty[b], j - tx[b]]`` (``tx`` moves right, ``ty`` down), ``fill`` where that lies outside the image;
    ``x`` ``(B, C, H, W)``, ``tx`` and ``ty`` long ``(B,)``. Gradients must reach ``x``. Compared on five images
    of 2 channels, 6×7, with shifts of 0, ±1, ±3 and one larger than the image."""
    x = _fixed(130, 5, 2, 6, 7)
    tx, ty = torch.tensor([0, 1, -3, 2, 9]), torch.tensor([0, -1, 2, 3, 0])
    expect_signature(fn, "translate", "(x, tx, ty, fill)", x, tx, ty, 0.0)
    before = x.clone()
    got = returned_tensor(fn(x, tx, ty, 0.5), "translate", "the shifted images, the shape of x")
    if not torch.equal(x, before):
        raise Wrong("translate changed its input x: build a new tensor")
    if tuple(got.shape) != tuple(x.shape):
        raise Wrong(f"translate must keep x's shape {tuple(x.shape)}, got {tuple(got.shape)}")
    want = _ref_translate(x, tx, ty, 0.5)
    if not same_values(got, want, 0, 1e-6):
        slips = {
            "the pixels that move in from outside are not `fill`: torch.roll wraps the image round instead of "
            "filling, mask what came from outside": torch.stack([x[n].roll((int(ty[n]), int(tx[n])), (-2, -1))
                                                                 for n in range(5)]),
            "your shifts go the wrong way: with tx = 1 the digit moves one pixel to the right, out[i, j] = "
            "x[i - ty, j - tx]": _ref_translate(x, -tx, -ty, 0.5),
            "tx and ty are swapped: tx shifts the columns (the last dimension, W), ty the rows (H)":
            _ref_translate(x, ty, tx, 0.5),
            "the fill is the wrong value: what moves in must be `fill` (here 0.5)": _ref_translate(x, tx, ty, 0.0),
        }
        for hint, slip in slips.items():
            if same_values(got.detach(), slip, 0, 1e-6):
                raise Wrong(hint)
        bad = int((got.detach() - want).flatten(1).abs().amax(1).argmax())
        raise Wrong(f"image {bad} (tx = {int(tx[bad])}, ty = {int(ty[bad])}) differs from out[i, j] = x[i - ty, j - tx] "
                    "with `fill` outside")
    xg = x.clone().requires_grad_(True)
    out = fn(xg, tx, ty, 0.5)
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        raise Wrong("no gradient reaches x through your translate (did you use .detach(), .item() or numpy?): "
                    "G learns through D's view of the augmented fakes, so the augmentation must be differentiable")
    (grad,) = torch.autograd.grad(out.sum(), xg)
    if not same_values(grad, _ref_translate(torch.ones_like(x), -tx, -ty, 0.0), 0, 1e-6):
        raise Wrong("the gradient of sum(translate(x)) should be 1 on the pixels that stay inside and 0 on those "
                    "shifted out; yours is not")
    return ("out[i, j] = x[i - ty, j - tx], fill outside; differentiable, so D's verdict on a shifted fake still "
            "reaches G")
