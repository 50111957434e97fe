"""Lesson 06's exercise checks: right answers pass, each usual slip gets its own hint, an unanswered
exercise says so, and nothing ever shows a traceback."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genimg_course import restore
from genimg_course.checks import lesson06
from genimg_course.checks.lesson06 import (COLOUR_QUESTIONS, check_colour_reading, check_l2_colour, check_pixel_shuffle,
                                           check_psnr, check_restoration_step, check_unet_forward)
from genimg_course.models.unet import UNet

pytestmark = pytest.mark.usefixtures("one_thread")

# ---------------------------------------------------------------- right answers


def psnr_by_hand(x, y):
    mse = ((x - y) ** 2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(1 / mse)


def pixel_shuffle(x, r):
    B, Cr2, H, W = x.shape
    C = Cr2 // r ** 2
    return x.reshape(B, C, r, r, H, W).permute(0, 1, 4, 2, 5, 3).reshape(B, C, r * H, r * W)


def unet_forward(net, x):
    h = net.stem(x)
    skips = []
    for i in range(net.depth):
        h = net.down_blocks[i](h, None)
        skips.append(h)
        h = net.downs[i](h)
    h = net.middle(h, None)
    for i in reversed(range(net.depth)):
        h = net.ups[i](h)
        h = net.up_blocks[i](torch.cat([h, skips[i]], dim=1), None)
    out = net.head(h)
    return x + out if net.residual else out


def restoration_step(model, optimizer, clean, degrade):
    d = degrade.degrade(clean)
    pred = model(d.image)
    loss = F.mse_loss(pred, clean)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def best_constant(values):
    return values.mean(dim=0)


RIGHT_READING = {"why_sepia": "a", "classification_head": "b", "temperature": "c"}


def test_right_answers_pass_quickly():
    check_psnr(psnr_by_hand)  # the first call imports torchmetrics
    t0 = time.perf_counter()
    assert check_psnr(psnr_by_hand)
    assert check_pixel_shuffle(pixel_shuffle)
    assert check_unet_forward(unet_forward)
    assert check_restoration_step(restoration_step)
    assert check_l2_colour(best_constant)
    assert check_colour_reading(RIGHT_READING)
    assert time.perf_counter() - t0 < 5  # six checks, each well under a second on a quiet CPU


def test_success_messages_report_the_numbers():
    r = check_psnr(psnr_by_hand)
    assert "matches torchmetrics" in r.message and "+inf" in r.message and "pooled MSE" in r.message
    assert "Shi et al. 2016" in check_pixel_shuffle(pixel_shuffle).message
    r = check_l2_colour(best_constant)
    assert "(0, 0): grey" in r.message and "4000" in r.message and "8000" in r.message and "63.2" in r.message
    assert "no host sync" in check_restoration_step(restoration_step).message


def test_the_checks_leave_the_learners_random_state_and_threads_as_they_were():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    threads = torch.get_num_threads()
    assert check_unet_forward(unet_forward)
    assert check_restoration_step(restoration_step)
    assert not check_restoration_step(lambda m, o, c, d: restoration_step(m, o, c, d).item())
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


# ---------------------------------------------------------------- the slips give distinct numbers


def _min_gap(values):
    flat = [v.detach().double().flatten() for v in values]
    return min((a - b).abs().max().item() for i, a in enumerate(flat) for b in flat[i + 1:] if a.shape == b.shape)


def test_the_psnr_slips_give_distinct_numbers_so_each_hint_is_unambiguous():
    x, y = lesson06._PSNR_X, lesson06._PSNR_Y
    slips = lesson06._psnr_slips(x, y) + [(psnr_by_hand(x, y), "the right answer")]
    for i, (a, ha) in enumerate(slips):
        for b, hb in slips[i + 1:]:
            if ha != hb:  # the data-range-from-values slips share one hint
                assert (a - b).abs().max() > 0.05, (ha, hb)


def test_the_colour_slips_give_distinct_numbers():
    v = lesson06._AB
    values = [value for value, _ in lesson06._ab_slips(v)] + [v.mean(0)]
    assert _min_gap(values) > 1.0


def test_the_unet_slips_give_distinct_outputs():
    for net, x in lesson06._unet_cases():
        with torch.no_grad():
            outs = [lesson06._forward(net, x, slip) for slip, _ in lesson06._UNET_SLIPS] + [net(x)]
        assert _min_gap([o for o in outs if o is not None]) > 1e-3


def test_the_step_slips_give_distinct_updates():
    model, clean, stale = lesson06._step_problem()
    runs = [lesson06._simulated_step(model, clean, stale, slip)[0] for slip, _ in lesson06._STEP_SLIPS]
    runs.append(lesson06._simulated_step(model, clean, stale)[0])
    update = lesson06._max_diff(runs[-1], {n: p.detach() for n, p in model.named_parameters()})
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            assert lesson06._max_diff(a, b) > 0.05 * update


def test_the_named_permutes_give_distinct_images():
    B, C, r, H, W = lesson06._SHUFFLE_CASES[0]
    x = torch.arange(B * C * r * r * H * W, dtype=torch.float32).reshape(B, C, r, r, H, W)
    outs = [x.permute(p).reshape(B, C, r * H, r * W) for p in lesson06._PERMUTE_HINTS]
    outs.append(F.pixel_shuffle(x.reshape(B, C * r * r, H, W), r))
    assert _min_gap(outs) >= 1


# ---------------------------------------------------------------- 1. PSNR


def test_psnr_equivalent_forms_pass():
    assert check_psnr(lambda x, y: -10 * torch.log10(F.mse_loss(x, y, reduction="none").mean(dim=(1, 2, 3))))
    assert check_psnr(lambda x, y: 20 * torch.log10(1 / ((x - y) ** 2).flatten(1).mean(1).sqrt()))
    assert check_psnr(lambda x, y: 10 * torch.log10(1 / ((x - y) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)))
    assert check_psnr(lambda x, y: psnr_by_hand(x.double(), y.double()))
    assert check_psnr(lambda x, y: torch.stack([10 * torch.log10(1 / ((a - b) ** 2).mean()) for a, b in zip(x, y)]))
    assert check_psnr(lambda x, y: restore.psnr(x, y, reduction="none"))


def _mse(x, y):
    return ((x - y) ** 2).mean(dim=(1, 2, 3))


@pytest.mark.parametrize("fn, words", [
    (lambda x, y: 20 * torch.log10(1 / _mse(x, y)), "20·log10 is for an amplitude"),
    (lambda x, y: 10 * torch.log10(1 / _mse(x, y).sqrt()), "10·log10 of 1 / RMSE"),
    (lambda x, y: 10 * torch.log(1 / _mse(x, y)), "natural log"),
    (lambda x, y: 10 * torch.log10(255 ** 2 / _mse(x, y)), "a peak of 255 (8-bit pixels)"),
    (lambda x, y: 10 * torch.log10(255 / _mse(x, y)), "a peak of 255, not squared"),
    (lambda x, y: 10 * torch.log10(4 / _mse(x, y)), "data range of 2"),
    (lambda x, y: 10 * torch.log10(1 / ((x - y) ** 2).sum(dim=(1, 2, 3))), "squared errors over the C·H·W = 192"),
    (lambda x, y: 10 * torch.log10(_mse(x, y)), "the sign is flipped"),
    (lambda x, y: _mse(x, y), "you returned the MSE itself"),
    (lambda x, y: 10 * torch.log10(1 / (x - y).abs().mean(dim=(1, 2, 3))), "averaged the absolute differences"),
    (lambda x, y: 10 * torch.log10(y.max() ** 2 / _mse(x, y)), "data range from the images' values"),
    (lambda x, y: 10 * torch.log10((y.amax(dim=(1, 2, 3)) - y.amin(dim=(1, 2, 3))) ** 2 / _mse(x, y)),
     "data range from the images' values"),
], ids=["20 log10", "10 log10 rmse", "ln", "255 squared", "255", "range 2", "sum", "sign", "mse", "mae",
        "peak from values", "range per image"])
def test_each_psnr_slip_gets_its_hint(fn, words):
    r = check_psnr(fn)
    assert not r and words in r.message and "expected [" in r.message, r.message


def test_one_psnr_for_the_whole_batch_shows_why_the_mean_of_psnrs_differs():
    r = check_psnr(lambda x, y: 10 * torch.log10(1 / F.mse_loss(x, y)))
    assert not r and "not one number" in r.message and "pooled over the whole batch" in r.message
    assert "21.42 dB" in r.message and "25.95 dB" in r.message and "Jensen" in r.message
    r = check_psnr(lambda x, y: (10 * torch.log10(1 / F.mse_loss(x, y))).expand(x.shape[0]))
    assert not r and "every image got the same PSNR" in r.message and "Jensen" in r.message
    r = check_psnr(lambda x, y: psnr_by_hand(x, y).mean())
    assert not r and "mean of the per-image PSNRs: right, once it is left to the caller" in r.message


@pytest.mark.parametrize("fn, words", [
    (lambda x, y: 10 * torch.log10(1 / ((x - y) ** 2).mean(dim=(2, 3))), "one PSNR per image and channel"),
    (lambda x, y: 10 * torch.log10(1 / ((x - y) ** 2).mean(dim=(1, 2, 3), keepdim=True)), "drop the kept dimensions"),
    (lambda x, y: 10 * torch.log10(1 / ((x - y) ** 2).mean(dim=1)), "average the squared error over C, H and W"),
    (lambda x, y: 10 * torch.log10(1 / ((x - y) ** 2).mean(dim=(0, 2, 3))), "you averaged over the batch"),
], ids=["per channel", "keepdim", "per pixel", "over the batch"])
def test_psnr_wrong_shapes_are_named(fn, words):
    r = check_psnr(fn)
    assert not r and words in r.message, r.message


def test_psnr_nan_inf_and_in_place_are_named():
    r = check_psnr(lambda x, y: 10 * torch.log10(_mse(x, y) - 0.01))
    assert not r and "NaN" in r.message
    r = check_psnr(lambda x, y: psnr_by_hand(x, x))
    assert not r and "infinite PSNR" in r.message and "Compare x with y" in r.message

    def in_place(x, y):
        x -= y
        return 10 * torch.log10(1 / (x ** 2).mean(dim=(1, 2, 3)))

    r = check_psnr(in_place)
    assert not r and "in place" in r.message


def test_psnr_identical_images_accept_inf_or_a_clamp_and_name_nan_or_an_offset():
    assert check_psnr(lambda x, y: 10 * torch.log10(1 / _mse(x, y).clamp_min(1e-10)))  # 100 dB
    r = check_psnr(lambda x, y: 20 * torch.log10(_mse(x, y).sqrt() / _mse(x, y)))  # 0 / 0 when x == y
    assert not r and "identical images (MSE = 0) you get NaN" in r.message
    r = check_psnr(lambda x, y: 10 * torch.log10(1 / _mse(x, y).clamp_min(1e-4)))  # 40 dB for a perfect copy
    assert not r and "get 40.00 dB" in r.message and "+inf" in r.message


def test_psnr_that_mixes_the_images_is_named_on_the_identical_pair():
    def pooled_minimum(x, y):  # right unless one MSE is 0, then it borrows from the others
        mse = _mse(x, y)
        mse = torch.where(mse == 0, mse.max(), mse)
        return 10 * torch.log10(1 / mse)

    r = check_psnr(pooled_minimum)
    assert not r and "two identical images (MSE = 0) get" in r.message


# ---------------------------------------------------------------- 2. pixel_shuffle


def test_pixel_shuffle_equivalent_forms_pass():
    def with_view(x, r):
        B, Cr2, H, W = x.shape
        C = Cr2 // (r * r)
        return x.view(B, C, r, r, H, W).permute(0, 1, 4, 2, 5, 3).contiguous().view(B, C, H * r, W * r)

    def with_unflatten(x, r):
        y = x.unflatten(1, (-1, r, r)).permute(0, 1, 4, 2, 5, 3)
        return y.flatten(4, 5).flatten(2, 3)

    assert check_pixel_shuffle(with_view)
    assert check_pixel_shuffle(with_unflatten)


@pytest.mark.parametrize("fn", [
    lambda x, r: F.pixel_shuffle(x, r),
    lambda x, r: nn.PixelShuffle(r)(x),
    lambda x, r: torch.pixel_shuffle(x, r),
], ids=["F.pixel_shuffle", "nn.PixelShuffle", "torch.pixel_shuffle"])
def test_pixel_shuffle_refuses_the_builtin(fn):
    r = check_pixel_shuffle(fn)
    assert not r and "write PixelShuffle yourself" in r.message


def test_pixel_shuffle_refuses_the_builtin_under_another_name():
    from torch.nn.functional import pixel_shuffle as shuffle

    r = check_pixel_shuffle(lambda x, r: shuffle(x, r))
    assert not r and "write PixelShuffle yourself" in r.message


def _permuted(order, channels_outer=False):
    def fn(x, r):
        B, Cr2, H, W = x.shape
        C = Cr2 // r ** 2
        v = x.reshape(B, r, r, C, H, W) if channels_outer else x.reshape(B, C, r, r, H, W)
        return v.permute(order).reshape(B, C, r * H, r * W)
    return fn


@pytest.mark.parametrize("fn, words", [
    (_permuted((0, 1, 2, 3, 4, 5)), "reshaped without permuting"),
    (_permuted((0, 1, 4, 3, 5, 2)), "the two r axes are swapped"),
    (_permuted((0, 1, 2, 4, 3, 5)), "you tiled instead of interleaving"),
    (_permuted((0, 1, 3, 5, 2, 4)), "tiled instead of interleaving, with the r axes swapped"),
    (_permuted((0, 1, 4, 5, 2, 3)), "(B, C, H, W, r, r)"),
    (_permuted((0, 3, 4, 1, 5, 2), channels_outer=True), "the r² groups outer"),
    (_permuted((0, 1, 5, 2, 4, 3)), "yours equals x.view(B, C, r, r, H, W).permute(0, 1, 5, 2, 4, 3)"),
], ids=["no permute", "r axes swapped", "tiled", "tiled swapped", "H W r r", "channels outer", "other order"])
def test_each_permute_slip_gets_its_hint(fn, words):
    r = check_pixel_shuffle(fn)
    assert not r and words in r.message and "the shape is right" in r.message, r.message


@pytest.mark.parametrize("fn, words", [
    (lambda x, r: x.reshape(x.shape[0], x.shape[1] // r, r, r, *x.shape[2:]), "C = x.shape[1] // r**2"),
    (lambda x, r: x.view(x.shape[0], x.shape[1] // r ** 2, r, r, *x.shape[2:]).permute(0, 1, 4, 2, 5, 3)
     .view(x.shape[0], x.shape[1] // r ** 2, r * x.shape[2], r * x.shape[3]), "not contiguous"),
    (lambda x, r: x.reshape(x.shape[0], x.shape[1] / r ** 2, r, r, *x.shape[2:]), "floor division"),
    (lambda x, r: x.reshape(x.shape[0], x.shape[1] // r ** 2, r, r, *x.shape[2:]).permute(0, 1, 4, 2),
     "all six dimensions"),
    (lambda x, r: pixel_shuffle(x, 2), "with the argument r, not a fixed number"),
    (lambda x, r: x, "you returned x's own shape"),
    (lambda x, r: pixel_shuffle(x, r).transpose(2, 3), "H and W are swapped"),
    (lambda x, r: pixel_shuffle(x, r) * 2, "the values changed"),
    (lambda x, r: pixel_shuffle(x, r).flip(-1), "in places no single reshape-and-permute gives"),
    (lambda x, r: torch.tensor(pixel_shuffle(x, r).tolist()), "no gradient flows"),
    (lambda x, r: pixel_shuffle(x, r).double(), "torch.float64"),
    (lambda x, r: None, "returned None"),
], ids=["C by r", "view", "float size", "short permute", "fixed r", "x", "H W swapped", "scaled", "flipped",
        "rebuilt", "dtype", "None"])
def test_pixel_shuffle_errors_and_shapes_are_named(fn, words):
    r = check_pixel_shuffle(fn)
    assert not r and words in r.message, r.message


def test_pixel_shuffle_in_place_is_named():
    def in_place(x, r):
        out = pixel_shuffle(x.clone(), r)
        x.zero_()
        return out

    r = check_pixel_shuffle(in_place)
    assert not r and "changed x in place" in r.message


# ---------------------------------------------------------------- 3. the U-Net's forward


def _unet(slip=""):
    """unet_forward with one named slip."""
    def fn(net, x):
        if slip == "net_call":
            return net(x)
        if slip == "no_grad":
            with torch.no_grad():
                return unet_forward(net, x)
        h = net.stem(x, None) if slip == "stem_none" else net.stem(x)
        skips = []
        for i in range(net.depth):
            if slip == "skip_before_block":
                skips.append(h)
            h = net.down_blocks[i](h) if slip == "no_temb" else net.down_blocks[i](h, None)
            if slip not in ("skip_after_down", "skip_before_block"):
                skips.append(h)
            h = net.downs[i](h)
            if slip == "skip_after_down":
                skips.append(h)
        if slip != "no_middle":
            h = net.middle(h, None)
        order = range(net.depth) if slip == "decoder_forward" else reversed(range(net.depth))
        for i in order:
            h = net.ups[i](h)
            s = {"forward_order": lambda: skips[net.depth - 1 - i], "pop_front": lambda: skips.pop(0)}.get(
                slip, lambda: skips[i])()
            if slip == "no_cat":
                joined = h
            elif slip == "add":
                joined = h + s
            elif slip == "swapped":
                joined = torch.cat([s, h], dim=1)
            elif slip == "swapped_copies":
                joined = torch.cat([s.clone(), h.clone()], dim=1)
            elif slip == "dim0":
                joined = torch.cat([h, s], dim=0)
            else:
                joined = torch.cat([h, s], dim=1)
            h = net.up_blocks[i](joined, None)
        if slip == "no_head":
            return h
        out = net.head(h)
        if slip == "no_residual":
            return out
        if slip == "always_residual":
            return x + out
        return x + out if net.residual else out
    return fn


def test_unet_forward_equivalent_forms_pass():
    def with_pop_and_zip(net, x):
        h, skips = net.stem(x), []
        for block, down in zip(net.down_blocks, net.downs):
            h = block(h, None)
            skips.append(h)
            h = down(h)
        h = net.middle(h, None)
        for up, block in zip(reversed(net.ups), reversed(net.up_blocks)):
            h = block(torch.cat((up(h), skips.pop()), 1), None)
        out = net.head(h)
        return out + x if net.residual else out

    assert check_unet_forward(with_pop_and_zip)
    assert check_unet_forward(lambda net, x: UNet.forward(net, x))  # the package's own pass


@pytest.mark.parametrize("slip, words", [
    ("swapped", "you concatenated [skip, h]"),
    ("swapped_copies", "you concatenated [skip, h]"),
    ("no_residual", "you forgot the residual"),
    ("always_residual", "you added x although this net has residual=False"),
    ("forward_order", "the skips are used in the order they were stored"),
    ("pop_front", "the skips are used in the order they were stored"),
    ("no_cat", "up_blocks[1] takes 2·ch[1] = 16 channels"),
    ("add", "adding them, h + skip"),
    ("skip_after_down", "the skip was stored after the down-sampling"),
    ("skip_before_block", "stored before net.down_blocks[1] ran"),
    ("no_middle", "net.middle is missing"),
    ("decoder_forward", "the decoder runs from the deepest level up"),
    ("dim0", "concatenate along dim=1"),
    ("no_temb", "pass None"),
    ("stem_none", "take one tensor"),
    ("net_call", "would call itself forever"),
    ("no_head", "net.head(h), a 1×1 conv"),
    ("no_grad", "carries no gradient"),
])
def test_each_unet_slip_gets_its_hint(slip, words, capsys):
    r = check_unet_forward(_unet(slip))
    assert not r and words in r.message, r.message
    assert "Traceback" not in capsys.readouterr().out


def test_unet_forward_leaves_the_nets_and_their_hooks_clean():
    net, x = lesson06._unet_cases()[0]
    lesson06._call_unet(unet_forward, net, x)
    assert "forward" not in vars(net)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
    with pytest.raises(lesson06.Wrong):
        lesson06._call_unet(lambda n, x: n(x), net, x)
    assert "forward" not in vars(net) and torch.equal(net(x), unet_forward(net, x))


def test_unet_forward_in_place_on_x_is_named():
    def in_place(net, x):
        out = unet_forward(net, x.clone())
        x.mul_(2)
        return out

    r = check_unet_forward(in_place)
    assert not r and "changed x in place" in r.message


# ---------------------------------------------------------------- 4. the restoration step


def _step(slip=""):
    cache = {}

    def fn(model, optimizer, clean, degrade):
        if slip not in ("no_zero_grad", "zero_grad_after_step", "zero_grad_before_step"):
            optimizer.zero_grad()
        if slip == "own_noise":
            image = clean + 0.2 * torch.randn_like(clean)
        elif slip == "cached":
            if "d" not in cache:
                cache["d"] = degrade.degrade(clean)
            image = cache["d"].image
        elif slip == "generator":
            image = degrade.degrade(clean, generator=torch.Generator().manual_seed(0)).image
        elif slip == "manual_seed":
            torch.manual_seed(0)
            image = degrade.degrade(clean).image
        elif slip == "twice":
            image = (degrade.degrade(clean).image + degrade.degrade(clean).image) / 2
        elif slip == "record":
            image = model(degrade.degrade(clean))
        elif slip == "call_then_image":
            image = degrade(clean).image
        elif slip == "in_place":
            image = clean.add_(0.2 * torch.randn_like(clean))
            degrade.degrade(clean)
        elif slip == "transform_call":
            image = degrade(clean)
        else:
            image = degrade.degrade(clean).image
        pred = model(clean if slip == "clean_input" else image)
        target = image if slip == "degraded_target" else clean
        loss = {"l1": lambda: F.l1_loss(pred, target), "sum": lambda: F.mse_loss(pred, target, reduction="sum")}.get(
            slip, lambda: F.mse_loss(pred, target))()
        if slip != "no_backward":
            loss.backward()
        if slip == "zero_grad_before_step":
            optimizer.zero_grad()
        if slip != "no_step":
            optimizer.step()
        if slip == "zero_grad_after_step":
            optimizer.zero_grad()
        return {"item": lambda: loss.item(), "none": lambda: None, "tuple": lambda: (loss, pred),
                "double": lambda: loss * 2, "detach": lambda: loss.detach(),
                "per_pixel": lambda: (pred - clean).pow(2).detach()}.get(slip, lambda: loss)()
    return fn


def test_restoration_step_equivalent_forms_pass():
    assert check_restoration_step(_step())
    assert check_restoration_step(_step("detach"))
    assert check_restoration_step(_step("transform_call"))  # degrade(clean), the v2 transform, gives the image

    def set_to_none_and_mean(model, optimizer, clean, degrade):
        optimizer.zero_grad(set_to_none=True)
        noisy = degrade.degrade(clean).image
        loss = ((model(noisy) - clean) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss

    assert check_restoration_step(set_to_none_and_mean)


@pytest.mark.parametrize("slip, words", [
    ("no_zero_grad", "without optimizer.zero_grad() before it"),
    ("zero_grad_after_step", "zero the gradients *after* optimizer.step()"),
    ("zero_grad_before_step", "zero_grad() came between backward() and step()"),
    ("no_backward", "loss.backward() is missing"),
    ("no_step", "optimizer.step() is missing"),
    ("degraded_target", "compares the prediction with the degraded input"),
    ("clean_input", "you fed the clean batch to the model"),
    ("l1", "that is the L1 loss"),
    ("sum", "the squared errors are summed"),
    ("own_noise", "the degradation you were given was never called"),
    ("cached", "you reused the first step's degraded batch"),
    ("generator", "the same noise (you passed a generator to degrade)"),
    ("manual_seed", "the same noise (torch.manual_seed inside the step?)"),
    ("twice", "degrade was called 2 times in one step"),
    ("record", "returns a Degraded record"),
    ("call_then_image", "degrade(clean), calling the transform, returns the degraded image itself"),
    ("in_place", "changed the clean batch in place"),
    ("item", "the Python number"),
    ("none", "returned None"),
    ("tuple", "return the loss alone"),
    ("double", "instead of the loss it minimised"),
    ("per_pixel", "return the batch's loss, one number"),
])
def test_each_step_slip_gets_its_hint(slip, words, capsys):
    r = check_restoration_step(_step(slip))
    assert not r and words in r.message, r.message
    assert "Traceback" not in capsys.readouterr().out


def test_the_item_hint_says_why_a_tensor_is_asked_for():
    r = check_restoration_step(_step("item"))
    assert "the step is right" in r.message and "wait for the GPU" in r.message and "`return loss`" in r.message


def test_the_step_reference_is_restoration_tasks_loss():
    """The check's simulated step minimises what RestorationTask.losses computes, on the same noise."""
    model, clean, stale = lesson06._step_problem()
    _, want = lesson06._simulated_step(model, clean, stale)
    torch.manual_seed(lesson06._STEP_SEED)
    got = float(restore.RestorationTask(model, restore.AddNoise(lesson06._STEP_SIGMA)).losses(clean)["loss"].detach())
    assert abs(got - want) < 1e-7


# ---------------------------------------------------------------- 5. the best constant colour


def test_best_constant_equivalent_forms_pass():
    assert check_l2_colour(lambda v: v.sum(0) / v.shape[0])
    assert check_l2_colour(lambda v: v.double().mean(0))

    def by_gradient_descent(v):
        c = torch.zeros(2, requires_grad=True)
        opt = torch.optim.SGD([c], lr=0.5)
        for _ in range(60):
            opt.zero_grad()
            ((v - c) ** 2).sum(1).mean().backward()
            opt.step()
        return c.detach()

    assert check_l2_colour(by_gradient_descent)


@pytest.mark.parametrize("fn, words", [
    (lambda v: v.median(0).values, "that is the median"),
    (lambda v: v.quantile(0.5, dim=0), "that is the median"),
    (lambda v: torch.mode(v, 0).values, "the most common colour (the mode)"),
    (lambda v: v[0], "that is the first value"),
    (lambda v: v[-1], "that is the last value"),
    (lambda v: (v.amax(0) + v.amin(0)) / 2, "the centre of the range"),
    (lambda v: torch.zeros(2), "grey, (0, 0), is the answer only when"),
    (lambda v: v.sum(0), "you summed the colours"),
], ids=["median", "quantile", "mode", "first", "last", "midrange", "grey", "sum"])
def test_each_colour_slip_gets_its_hint(fn, words):
    r = check_l2_colour(fn)
    assert not r and words in r.message and "mean squared error of 3328" in r.message, r.message


@pytest.mark.parametrize("fn, words", [
    (lambda v: v.clone(), "shape (N, 2) = (10, 2)"),
    (lambda v: v.mean(0, keepdim=True), "drop the kept dimension"),
    (lambda v: v.mean(1), "one number per value"),
    (lambda v: v.mean(), "a colour is two numbers"),
    (lambda v: v.mean(0).numpy(), "should return a tensor"),
    (lambda v: v.mean(0).long(), "torch.int64"),
    (lambda v: v.mean(0) * float("nan"), "NaN"),
], ids=["per value", "keepdim", "dim 1", "scalar", "numpy", "long", "nan"])
def test_colour_wrong_shapes_and_types_are_named(fn, words):
    r = check_l2_colour(fn)
    assert not r and words in r.message, r.message


def test_colour_in_place_is_named():
    def in_place(v):
        c = v.mean(0)
        v -= c
        return c

    r = check_l2_colour(in_place)
    assert not r and "changed values in place" in r.message


# ---------------------------------------------------------------- 6. the colour reading


def test_colour_reading_accepts_letters_in_any_case_and_a_function():
    assert check_colour_reading({"why_sepia": "A", "classification_head": "(b)", "temperature": " c "})
    assert check_colour_reading(lambda: dict(RIGHT_READING))


def test_every_option_is_written_and_every_wrong_one_explained():
    for key, (question, options) in COLOUR_QUESTIONS.items():
        assert question.endswith("?") and sorted(options) == ["a", "b", "c", "d"]
        assert RIGHT_READING[key] in options
        for letter in options:
            if letter != RIGHT_READING[key]:
                assert (key, letter) in lesson06._COLOUR_WHY
    assert lesson06._COLOUR_ANSWERS == RIGHT_READING


@pytest.mark.parametrize("key, letter", [(k, a) for k, (_, opts) in COLOUR_QUESTIONS.items()
                                         for a in opts if a != RIGHT_READING[k]])
def test_each_wrong_option_gets_its_explanation(key, letter):
    r = check_colour_reading({**RIGHT_READING, key: letter})
    assert not r and "1 of 3 wrong" in r.message and f"{key}: ({letter}) is not it" in r.message
    assert lesson06._COLOUR_WHY[(key, letter)] in r.message


def test_colour_reading_two_wrong_are_both_named():
    r = check_colour_reading({"why_sepia": "b", "classification_head": "c", "temperature": "c"})
    assert not r and "2 of 3 wrong" in r.message and "capacity" in r.message and "8000 against 4000" in r.message


@pytest.mark.parametrize("answers, words", [
    ({"why_sepia": "a", "classification_head": "b"}, "missing ['temperature']"),
    ({**RIGHT_READING, "temperature": "e"}, "should be one of the letters 'a', 'b', 'c', 'd'"),
    ({**RIGHT_READING, "temperature": 3}, "should be one of the letters"),
    (["a", "b", "c"], "should be a dict"),
])
def test_malformed_colour_answers_are_named(answers, words):
    r = check_colour_reading(answers)
    assert not r and words in r.message


def test_colour_answers_left_as_ellipsis_are_not_answered():
    r = check_colour_reading({k: ... for k in COLOUR_QUESTIONS})
    assert not r and "Not answered" in r.message


def test_show_colour_questions_prints_every_option(capsys):
    lesson06.show_colour_questions()
    out = capsys.readouterr().out
    for key, (question, options) in COLOUR_QUESTIONS.items():
        assert question in out and all(f"({a}) {t}" in out for a, t in options.items())


# ---------------------------------------------------------------- unanswered, broken, wrong types

FUNCTION_CHECKS = [check_psnr, check_pixel_shuffle, check_unet_forward, check_restoration_step, check_l2_colour]


@pytest.mark.parametrize("chk", FUNCTION_CHECKS + [check_colour_reading])
def test_unanswered_exercises_say_so(chk, capsys):
    def stub(*args):
        raise NotImplementedError()

    for answer in (..., stub):
        r = chk(answer)
        assert not r and "Not answered" in r.message
    assert "Traceback" not in capsys.readouterr().out


@pytest.mark.parametrize("chk", FUNCTION_CHECKS)
def test_a_learners_crash_is_reported_in_one_line(chk, capsys):
    r = chk(lambda *args: 1 / 0)
    out = capsys.readouterr().out
    assert not r and r.message.startswith("✗ Your code raised ZeroDivisionError")
    assert "Traceback" not in out and out.count("\n") == 1


@pytest.mark.parametrize("chk, signature", [(check_psnr, "(x, y)"), (check_pixel_shuffle, "(x, r)"),
                                            (check_unet_forward, "(net, x)"),
                                            (check_restoration_step, "(model, optimizer, clean, degrade)"),
                                            (check_l2_colour, "(values)")])
def test_not_a_function_or_the_wrong_signature_is_named(chk, signature):
    r = chk("not a function")
    assert not r and "expected a function" in r.message
    r = chk(lambda a, b, c, d, e: None)
    assert not r and f"must accept {signature}" in r.message


@pytest.mark.parametrize("chk", [check_psnr, check_pixel_shuffle, check_unet_forward, check_l2_colour])
def test_returning_none_or_a_wrong_type_is_named_politely(chk, capsys):
    r = chk(lambda *args: None)
    assert not r and "returned None" in r.message
    r = chk(lambda *args: 1.5)
    assert not r and "should return a tensor" in r.message
    r = chk(lambda *args: np.zeros(2))
    assert not r and "should return a tensor" in r.message
    r = chk(lambda *args: [torch.zeros(2)])
    assert not r and "returned a list of 1 items" in r.message
    assert "Traceback" not in capsys.readouterr().out
