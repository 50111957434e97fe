"""Lesson 07's exercise checks: right answers pass, each usual slip gets its own hint, an unanswered
exercise says so, and nothing ever shows a traceback."""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from genimg_course.checks import lesson07
from genimg_course.checks.lesson07 import (TRANSLATION_QUESTIONS, check_cycle_loss, check_image_buffer,
                                           check_pix2pix_d_loss, check_pix2pix_g_loss, check_receptive_field,
                                           check_translation_reading)
from genimg_course.translate import ImageBuffer

pytestmark = pytest.mark.usefixtures("one_thread")

# ---------------------------------------------------------------- right answers


def receptive_field_by_hand(layers):
    r, j = 1, 1
    for k, s in layers:
        r = r + (k - 1) * j
        j = j * s
    return r, j


def pix2pix_generator_loss(fake_logits, fake, target, lam):
    return F.softplus(-fake_logits).mean() + lam * (fake - target).abs().mean()


def pix2pix_discriminator_loss(real_logits, fake_logits):
    return 0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())


def cycle_consistency_loss(G_ab, G_ba, a, b):
    return (G_ba(G_ab(a)) - a).abs().mean() + (G_ab(G_ba(b)) - b).abs().mean()


class YourImageBuffer:
    def __init__(self, size=50, generator=None):
        self.size, self.generator = size, generator
        self.images = []

    def query(self, images):
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for img in images:
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand(())) < 0.5:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i])
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)


RIGHT_READING = {"why_adversarial": "b", "why_patches": "c", "no_cycle": "a"}


def test_right_answers_pass_quickly():
    t0 = time.perf_counter()
    assert check_receptive_field(receptive_field_by_hand)
    assert check_pix2pix_g_loss(pix2pix_generator_loss)
    assert check_pix2pix_d_loss(pix2pix_discriminator_loss)
    assert check_cycle_loss(cycle_consistency_loss)
    assert check_image_buffer(YourImageBuffer)
    assert check_translation_reading(RIGHT_READING)
    assert time.perf_counter() - t0 < 5


def test_the_package_versions_pass_their_own_checks():
    from genimg_course.models.patchgan import receptive_field
    from genimg_course.translate import cycle_loss, pix2pix_d_loss, pix2pix_g_loss

    assert check_receptive_field(receptive_field)
    assert check_pix2pix_g_loss(lambda f, fake, y, lam: pix2pix_g_loss(f, fake, y, lam)["loss"])
    assert check_pix2pix_d_loss(pix2pix_d_loss)
    assert check_cycle_loss(lambda G_ab, G_ba, a, b: cycle_loss(G_ba(G_ab(a)), a) + cycle_loss(G_ab(G_ba(b)), b))
    assert check_image_buffer(ImageBuffer)  # the package's buffer meets the same contract


def test_success_messages_report_the_numbers():
    r = check_receptive_field(receptive_field_by_hand)
    assert "34 px with a jump of 4" in r.message and "70 px with a jump of 8" in r.message
    assert "λ·L1 = 100 ×" in check_pix2pix_g_loss(pix2pix_generator_loss).message
    assert "detached for this loss" in check_pix2pix_d_loss(pix2pix_discriminator_loss).message
    assert "λ_cycle = 10" in check_cycle_loss(cycle_consistency_loss).message
    assert "probability ½" in check_image_buffer(YourImageBuffer).message


def test_unanswered_exercises_say_so():
    def todo(*args):
        raise NotImplementedError

    for chk in (check_receptive_field, check_pix2pix_g_loss, check_pix2pix_d_loss, check_cycle_loss):
        r = chk(todo)
        assert not r and "Not answered yet" in r.message
    assert "Not answered yet" in check_image_buffer().message

    class Todo:
        def __init__(self, size=50, generator=None):
            pass

        def query(self, images):
            raise NotImplementedError

    assert "Not answered yet" in check_image_buffer(Todo).message
    assert "Not answered yet" in check_translation_reading({k: ... for k in TRANSLATION_QUESTIONS}).message


def test_the_checks_leave_the_learners_random_state_and_threads_as_they_were():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    threads = torch.get_num_threads()
    assert check_image_buffer(YourImageBuffer)
    assert check_cycle_loss(cycle_consistency_loss)
    assert not check_image_buffer(object)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


# ---------------------------------------------------------------- 1. receptive field


def test_receptive_field_slips_give_distinct_answers():
    answers = [tuple(lesson07._rf(c, slip) for c in lesson07._RF_CASES) for slip, _ in lesson07._RF_SLIPS]
    answers.append(tuple(lesson07._rf(c) for c in lesson07._RF_CASES))
    assert len(set(answers)) == len(answers)


@pytest.mark.parametrize("slip, words", [(slip, hint[:40]) for slip, hint in lesson07._RF_SLIPS],
                         ids=[slip for slip, _ in lesson07._RF_SLIPS])
def test_each_receptive_field_slip_gets_its_hint(slip, words):
    r = check_receptive_field(lambda layers: lesson07._rf(layers, slip))
    assert not r and words in r.message and "the receptive field is r =" in r.message, r.message


@pytest.mark.parametrize("fn, words", [
    (lambda layers: receptive_field_by_hand(layers)[0], "returned one number"),
    (lambda layers: receptive_field_by_hand(layers)[::-1], "you returned (jump, r)"),
    (lambda layers: (receptive_field_by_hand(layers)[0], sum(s for _, s in layers)), "not their sum"),
    (lambda layers: (float(receptive_field_by_hand(layers)[0]), receptive_field_by_hand(layers)[1]), "floor division"),
    (lambda layers: layers.reverse() or receptive_field_by_hand(layers[::-1]), "changed the list of layers"),
], ids=["one number", "swapped", "jump summed", "float", "in place"])
def test_receptive_field_shape_and_jump_slips_are_named(fn, words):
    r = check_receptive_field(fn)
    assert not r and words in r.message, r.message


# ---------------------------------------------------------------- 2. generator loss


def test_the_generator_loss_slips_give_distinct_numbers():
    values = [v for v, _ in lesson07._g_slips(*lesson07._g_problem())]
    f, fake, y, lam = lesson07._g_problem()
    values.append(float(pix2pix_generator_loss(f, fake, y, lam)))
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]) > 1e-3


sp = F.softplus


def _l1(fake, y):
    return (fake - y).abs().mean()


@pytest.mark.parametrize("fn, words", [
    (lambda f, fake, y, lam: sp(f).mean() + lam * _l1(fake, y), "labels the fakes 'fake'"),
    (lambda f, fake, y, lam: F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)) + lam * _l1(fake, y),
     "labels the fakes 'fake'"),
    (lambda f, fake, y, lam: -sp(f).mean() + lam * _l1(fake, y), "minimax form"),
    (lambda f, fake, y, lam: -f.mean() + lam * _l1(fake, y), "WGAN's generator loss"),
    (lambda f, fake, y, lam: sp(-f).mean() + _l1(fake, y), "you left out λ"),
    (lambda f, fake, y, lam: sp(-f).mean() + 100 * _l1(fake, y), "whatever lam is"),
    (lambda f, fake, y, lam: lam * sp(-f).mean() + _l1(fake, y), "λ multiplies the wrong term"),
    (lambda f, fake, y, lam: sp(-f).mean() + lam * F.mse_loss(fake, y), "squared error (L2)"),
    (lambda f, fake, y, lam: sp(-f).mean() + lam * (fake - y).abs().sum(), "you summed the absolute errors"),
    (lambda f, fake, y, lam: sp(-f).sum() + lam * _l1(fake, y), "summed the adversarial term over the patches"),
    (lambda f, fake, y, lam: sp(-f).mean(), "the adversarial term alone"),
    (lambda f, fake, y, lam: lam * _l1(fake, y), "the L1 term alone"),
    (lambda f, fake, y, lam: sp(-f).mean() - lam * _l1(fake, y), "the L1 term has the wrong sign"),
], ids=["target 0", "bce zeros", "minimax", "wgan", "no lambda", "lambda 100", "lambda on adv", "l2", "l1 sum",
        "adv sum", "adv only", "l1 only", "l1 sign"])
def test_each_generator_loss_slip_gets_its_hint(fn, words):
    r = check_pix2pix_g_loss(fn)
    assert not r and words in r.message and "expected" in r.message, r.message


@pytest.mark.parametrize("fn, words", [
    (lambda f, fake, y, lam: pix2pix_generator_loss(f, fake, y, lam).detach().item(), "no .item()"),
    (lambda f, fake, y, lam: {"loss": pix2pix_generator_loss(f, fake, y, lam)}, "returned a dict"),
    (lambda f, fake, y, lam: pix2pix_generator_loss(f, fake, y, lam).detach(), "no gradient flows"),
    (lambda f, fake, y, lam: sp(-f.detach()).mean() + lam * _l1(fake, y), "no gradient reaches fake_logits"),
    (lambda f, fake, y, lam: sp(-f).mean(dim=(1, 2, 3)) + lam * (fake - y).abs().mean(dim=(1, 2, 3)), "shape (4,)"),
    (lambda f, fake, y, lam: F.binary_cross_entropy(f, torch.ones_like(f)) + lam * _l1(fake, y), "Your code raised"),
], ids=["float", "dict", "detached", "logits detached", "per image", "bce on logits"])
def test_generator_loss_form_slips_are_named(fn, words):
    r = check_pix2pix_g_loss(fn)
    assert not r and words in r.message, r.message


# ---------------------------------------------------------------- 3. discriminator loss


def test_the_discriminator_loss_slips_give_distinct_numbers():
    r, f = lesson07._d_problem()
    values = [v for v, h in lesson07._d_slips(r, f) if "left out the ½" not in h or v == lesson07._d_slips(r, f)[0][0]]
    values = list(dict.fromkeys(round(v, 6) for v in values))  # the two '½' forms are one number
    values.append(round(float(pix2pix_discriminator_loss(r, f)), 6))
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]) > 1e-3


@pytest.mark.parametrize("fn, words", [
    (lambda r, f: sp(-r).mean() + sp(f).mean(), "you left out the ½"),
    (lambda r, f: 0.5 * (sp(r).mean() + sp(-f).mean()), "the labels are swapped"),
    (lambda r, f: 0.5 * (sp(-r).mean() + sp(-f).mean()), "labelled the fake pairs 'real'"),
    (lambda r, f: -0.5 * (sp(-r).mean() + sp(f).mean()), "the sign is flipped"),
    (lambda r, f: 0.5 * sp(-r).mean(), "only the real pairs' term"),
    (lambda r, f: 0.5 * sp(f).mean(), "only the fake pairs' term"),
    (lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(), "least-squares (LSGAN)"),
    (lambda r, f: f.mean() - r.mean(), "WGAN's critic loss"),
    (lambda r, f: 0.5 * (sp(-r).sum() + sp(f).sum()), "you summed over the patches"),
], ids=["no half", "swapped", "fakes real", "sign", "real only", "fake only", "lsgan", "wgan", "sum"])
def test_each_discriminator_loss_slip_gets_its_hint(fn, words):
    r = check_pix2pix_d_loss(fn)
    assert not r and words in r.message, r.message


def test_discriminator_loss_without_gradient_is_named():
    r = check_pix2pix_d_loss(lambda r, f: pix2pix_discriminator_loss(r, f.detach()))
    assert not r and "no gradient reaches fake_logits" in r.message


# ---------------------------------------------------------------- 4. cycle loss


def test_the_cycle_slips_give_distinct_numbers():
    values = [v for v, _ in lesson07._cycle_slips(*lesson07._cycle_problem())]
    G_ab, G_ba, a, b = lesson07._cycle_problem()
    values.append(float(cycle_consistency_loss(G_ab, G_ba, a, b).detach()))
    assert min(abs(x - y) for i, x in enumerate(values) for y in values[i + 1:]) > 1e-3


def _m(t):
    return t.abs().mean()


@pytest.mark.parametrize("fn, words", [
    (lambda G_ab, G_ba, a, b: _m(G_ba(G_ab(a)) - a), "A→B→A alone"),
    (lambda G_ab, G_ba, a, b: _m(G_ab(G_ba(b)) - b), "B→A→B alone"),
    (lambda G_ab, G_ba, a, b: _m(G_ab(G_ba(a)) - a) + _m(G_ba(G_ab(b)) - b), "wrong order"),
    (lambda G_ab, G_ba, a, b: _m(G_ba(G_ab(a)) - b) + _m(G_ab(G_ba(b)) - a), "the other domain's batch"),
    (lambda G_ab, G_ba, a, b: F.mse_loss(G_ba(G_ab(a)), a) + F.mse_loss(G_ab(G_ba(b)), b), "the squared error"),
    (lambda G_ab, G_ba, a, b: (G_ba(G_ab(a)) - a).abs().sum() + (G_ab(G_ba(b)) - b).abs().sum(), "summed"),
    (lambda G_ab, G_ba, a, b: 10 * cycle_consistency_loss(G_ab, G_ba, a, b), "multiplied by λ_cycle"),
    (lambda G_ab, G_ba, a, b: cycle_consistency_loss(G_ab, G_ba, a, b) / 2, "averaged the two directions"),
    (lambda G_ab, G_ba, a, b: _m(G_ab(b) - b) + _m(G_ba(a) - a), "the identity loss"),
    (lambda G_ab, G_ba, a, b: _m(G_ab(a) - a) + _m(G_ba(b) - b), "compared each translation with its own source"),
    (lambda G_ab, G_ba, a, b: _m(G_ba(G_ab(a).detach()) - a) + _m(G_ab(G_ba(b).detach()) - b), "was detached"),
    (lambda G_ab, G_ba, a, b: cycle_consistency_loss(G_ab, G_ba, a, b).detach().item(), "no .item()"),
], ids=["a only", "b only", "order", "other domain", "l2", "sum", "lambda", "mean", "identity", "translation",
        "detached", "item"])
def test_each_cycle_slip_gets_its_hint(fn, words):
    r = check_cycle_loss(fn)
    assert not r and words in r.message, r.message


# ---------------------------------------------------------------- 5. image buffer


class _Always(YourImageBuffer):  # once full, always returns a stored image
    def query(self, images):
        out = []
        for img in images.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            else:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i])
                self.images[i] = img.clone()
        return torch.stack(out)


class _Never(YourImageBuffer):  # once full, never swaps
    def query(self, images):
        out = []
        for img in images.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
            out.append(img)
        return torch.stack(out)


class _NoReplace(YourImageBuffer):  # returns a stored image but keeps it
    def query(self, images):
        out = []
        for img in images.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand(())) < 0.5:
                out.append(self.images[int(torch.randint(len(self.images), ()))])
            else:
                out.append(img)
        return torch.stack(out)


class _StoresAll(YourImageBuffer):  # stores even the images it returns as new (in a random slot)
    def query(self, images):
        out = []
        for img in images.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
                continue
            i = int(torch.randint(len(self.images), ()))
            out.append(self.images[i] if float(torch.rand(())) < 0.5 else img)
            self.images[i] = img.clone()
        return torch.stack(out)


class _OneCoin(YourImageBuffer):  # one coin for the whole batch
    def query(self, images):
        images = images.detach()
        swap = float(torch.rand(())) < 0.5
        out = []
        for img in images:
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif swap:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i])
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)


class _Views(YourImageBuffer):  # stores views of the caller's tensor
    def query(self, images):
        images = images.detach()
        out = []
        for img in images:
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif float(torch.rand(())) < 0.5:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i])
                self.images[i] = img
            else:
                out.append(img)
        return torch.stack(out)


class _Attached(YourImageBuffer):  # forgets to detach
    def query(self, images):
        out = []
        for img in images:
            if len(self.images) < self.size:
                self.images.append(img.detach().clone())
                out.append(img)
            elif float(torch.rand(())) < 0.5:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i])
                self.images[i] = img.detach().clone()
            else:
                out.append(img)
        return torch.stack(out)


class _RandomFromStart(YourImageBuffer):  # returns stored images even while filling
    def query(self, images):
        out = []
        for img in images.detach():
            self.images.append(img.clone())
            out.append(self.images[int(torch.randint(len(self.images), ()))])
            self.images = self.images[-self.size:] if self.size else []
        return torch.stack(out)


class _WritesIntoBatch(YourImageBuffer):  # swaps the stored image into the caller's batch
    def query(self, images):
        images = images.detach()
        for k in range(images.shape[0]):
            if len(self.images) < self.size:
                self.images.append(images[k].clone())
            elif float(torch.rand(())) < 0.5:
                i = int(torch.randint(len(self.images), ()))
                old = self.images[i]
                self.images[i] = images[k].clone()
                images[k] = old
        return images


class _ListOut(YourImageBuffer):
    def query(self, images):
        return list(super().query(images))


class _NoSizeZero(YourImageBuffer):  # forgets the size-0 case: randint(0) raises
    def query(self, images):
        out = []
        for img in images.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            else:
                i = int(torch.randint(len(self.images), ()))
                if float(torch.rand(())) < 0.5:
                    out.append(self.images[i])
                    self.images[i] = img.clone()
                else:
                    out.append(img)
        return torch.stack(out)


class _NoQuery:
    def __init__(self, size=50):
        pass


@pytest.mark.parametrize("cls, words", [
    (_Always, "of the images were swapped"),
    (_Never, "all"),
    (_NoReplace, "came out of the buffer twice"),
    (_StoresAll, "was returned as new earlier"),
    (_OneCoin, "one coin for the whole batch"),
    (_Views, "store copies"),
    (_Attached, "detach them"),
    (_RandomFromStart, "while the buffer is not full"),
    (_WritesIntoBatch, "changed the batch it was given"),
    (_ListOut, "return one tensor of images"),
    (_NoQuery, "no query method"),
    (_NoSizeZero, "with size = 0, query raised RuntimeError"),
], ids=["always", "never", "no replace", "stores all", "one coin", "views", "attached", "random from start",
        "writes into batch", "list", "no query", "size 0"])
def test_each_image_buffer_slip_gets_its_hint(cls, words):
    r = check_image_buffer(cls)
    assert not r and words in r.message, r.message


def test_an_instance_instead_of_the_class_is_named():
    r = check_image_buffer(YourImageBuffer(4))
    assert not r and "pass the class itself" in r.message


# ---------------------------------------------------------------- 6. reading


def test_reading_wrong_answers_say_why():
    for key, (_, options) in TRANSLATION_QUESTIONS.items():
        for letter in options:
            if letter == RIGHT_READING[key]:
                continue
            r = check_translation_reading({**RIGHT_READING, key: letter})
            assert not r and f"{key}: ({letter}) is not it" in r.message
    r = check_translation_reading({**RIGHT_READING, "no_cycle": "z"})
    assert not r and "one of the letters" in r.message
    assert not check_translation_reading({"why_patches": "c"})
    assert check_translation_reading(lambda: {k: f"({v.upper()})" for k, v in RIGHT_READING.items()})
