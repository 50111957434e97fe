"""The source article (../shared/seed/000_762b31f5d65b2c04.txt), section by section, and every erratum of
../shared/seed/ERRATA.md, mapped to the cell that teaches it.

Each entry names a lesson (a notebook stem) or a docs page, and a phrase that must occur in exactly one of its
cells (a docs page's "cells" are its sections, split at its headings); the test reports where. The article
numbers only its six top-level headings; the items under a heading are its bullets, numbered here in the order
they appear (so §5.4 is §5's fourth bullet, the applications), and §6's seven bullets are the FAQ's questions
Q1–Q7. §5.5 names three challenges in one bullet; they are mapped one by one (5.5a–c).

A section a new lesson will teach is mapped when its cell exists; until then an entry may name a docs page.
"""
from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_review_map():
    spec = importlib.util.spec_from_file_location("_review_map", Path(__file__).with_name("test_review_map.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_REVIEW_MAP = _load_review_map()  # tests/test_review_map.py: its ANSWERS already map every erratum to a cell
SEED = ROOT.parent / "shared" / "seed" / "000_762b31f5d65b2c04.txt"
ERRATA = ROOT.parent / "shared" / "seed" / "ERRATA.md"
# item -> (the article's own words, quoted from the seed, and an English gloss). A bullet is quoted by the
# words it opens with; 5.5a–c by the words naming each challenge inside bullet 5.5.
SECTIONS: dict[str, tuple[str, str]] = {
    "1": ("背景介绍", "background"),
    "2": ("核心概念与联系", "core concepts and how they connect"),
    "2.1": ("生成模型", "generative models: networks that make new images"),
    "2.2": ("变换模型", "transformation models: networks that modify and transform existing images"),
    "2.3": ("生成对抗网络(GAN)", "the generative adversarial network: a generator and a discriminator"),
    "2.4": ("变分自编码器(VAE)", "the variational autoencoder: generates images, learns their distribution"),
    "2.5": ("卷积神经网络(CNN)", "the convolutional network: learns image features"),
    "2.6": ("生成模型和变换模型可以使用相同的神经网络结构", "generation and transformation can use the same networks"),
    "2.7": ("GAN和VAE可以用于图像生成和变换,而CNN主要用于图像分类和识别等任务",
            "GANs and VAEs generate and transform, CNNs mainly classify (erratum 10)"),
    "2.8": ("CNN、GAN和VAE可以通过组合和融合来实现更高效的图像生成和变换",
            "CNNs, GANs and VAEs can be combined and fused"),
    "3": ("核心算法原理和具体操作步骤以及数学模型公式详细讲解",
          "the core algorithms, their steps and their mathematical formulas, in detail"),
    "3.1": ("卷积神经网络(CNN)", "the CNN: convolution and pooling, fully connected layers, backpropagation"),
    "3.2": ("生成对抗网络(GAN)", "the GAN: G generates, D judges, gradients update both"),
    "3.3": ("变分自编码器(VAE)", "the VAE: encoder to a low-dimensional random code, decoder, "
                                  "'variational adversarial training' (erratum 9)"),
    "3.4": ("CNN、GAN和VAE可以通过组合和融合来实现更高效的图像生成和变换",
            "CNNs, GANs and VAEs can be combined and fused (again)"),
    "3.5": ("GAN和VAE可以用于图像生成和变换,而CNN主要用于图像分类和识别等任务",
            "GANs and VAEs generate, CNNs mainly classify (again, erratum 10)"),
    "3.6": ("CNN、GAN和VAE可以通过共享和重用部分网络结构来减少计算量和提高效率",
            "sharing and reusing parts of networks saves computation"),
    "4": ("具体代码实例和详细解释说明", "a concrete code example (its TensorFlow DCGAN), explained"),
    "5": ("未来发展趋势与挑战", "future trends and challenges"),
    "5.1": ("高质量图像生成", "higher-quality image generation"),
    "5.2": ("图像变换", "image transformation that understands structure"),
    "5.3": ("图像生成与变换的融合", "fusing generation and transformation"),
    "5.4": ("图像生成与变换的应用", "applications: virtual reality, virtual characters, art"),
    "5.5": ("图像生成与变换的挑战", "challenges"),
    "5.5a": ("生成模型的稳定性", "the stability of generative models"),
    "5.5b": ("判别器的抗扰性", "the discriminator's robustness to perturbation"),
    "5.5c": ("训练数据的可用性", "the availability of training data"),
    "6": ("附录常见问题与解答", "appendix: frequently asked questions"),
    "Q1": ("为什么生成模型需要判别器?", "why does a generative model need a discriminator?"),
    "Q2": ("为什么GAN需要梯度反向传播算法?", "why does a GAN need backpropagation?"),
    "Q3": ("为什么VAE需要变分对抗训练算法?", "why does a VAE need variational adversarial training?"),
    "Q4": ("为什么CNN在图像生成与变换方面的表现不佳?", "why do CNNs perform poorly at generation and transformation?"),
    "Q5": ("为什么GAN和VAE在图像生成与变换方面的表现优越?", "why do GANs and VAEs perform well?"),
    "Q6": ("为什么图像生成与变换模型需要大量的训练数据?", "why do these models need a lot of training data?"),
    "Q7": ("为什么图像生成与变换模型需要高性能的计算设备?", "why do they need high-performance hardware?"),
    "refs": ("参考文献", "references"),
}
ERRATA_IDS = [f"E{i}" for i in range(1, 15)]

# item -> [(lesson stem or a path under the checkout, phrase)]
ARTICLE_MAP: dict[str, list[tuple[str, str]]] = {
    "1": [("00_setup", "A hands-on course on **deep-learning image generation**"),
          ("00_setup", "**Generation and transformation.** The article this course grew from is about image generation *and"),
          ("docs/applications.md", "its introduction (§1) names the same three.")],
    "2": [("00_setup", "| lesson | notebook | topic |")],
    "2.1": [("05_vae", "## 1. An autoencoder is not a generative model (≈ 10 min)"),
            ("02_gan_basics", "A generative adversarial network (GAN) trains a **generator** $G$ to turn random noise into")],
    "2.2": [("06_restoration", "## 1. Restoration: learn to undo a degradation (≈ 10 min)"),
            ("07_translation", "article's \"transformation models\" are, in today's terms, **conditional GANs** that do this.")],
    "2.3": [("02_gan_basics", "## 1. The idea: two networks, one game (≈ 10 min)"),
            ("02_gan_basics", "> **Correction (source article, erratum 12).** The article says the discriminator")],
    "2.4": [("05_vae", "## 2. The VAE: a latent-variable model and its evidence lower bound (≈ 20 min)")],
    "2.5": [("01_cnn_basics", "# Lesson 01 — Convolutional networks: the building block of every image generator")],
    "2.6": [("10_diffusion", "The network is lesson 06's U-Net (`models.UNet`) with two more inputs."),
            ("07_translation", "$G$ is a U-Net (lesson 06)")],
    "2.7": [("00_setup", "That is wrong (erratum 10 of the article)."),
            ("01_cnn_basics", "## 5. Correcting the source article: CNNs *are* generators")],
    "2.8": [("05_vae", "VAE gives a likelihood bound in nats and covers every class, but its samples are blurry. VAE-GANs (Larsen et"),
            ("09_fusion", "CNN, GAN and VAE combined in one model: the VAE-GAN of Larsen et al. (ICML 2016)."),
            ("09_fusion", "## 2. The VAE-GAN against its twin VAE, measured (≈ 10 min)")],
    "3": [("02_gan_basics", "and the minimax objective $V(D, G)$ (≈ 10 min);"),
          ("05_vae", "the ELBO derived step by step; the closed-form Gaussian KL")],
    "3.1": [("01_cnn_basics", "## 3. Pooling (≈ 5 min)"),
            ("01_cnn_basics", "## 6. Training a CNN classifier on MNIST (≈ 10 min)")],
    "3.2": [("02_gan_basics", "### Exercise 3 — the training step `gan_step`"),
            ("02_gan_basics", "> **Correction (source article, erratum 11).** The article says GANs")],
    "3.3": [("05_vae", "### Exercise 4 — the training step `vae_step`"),
            ("05_vae", "**Correction (source article, erratum 9).**")],
    "3.4": [("05_vae", "VAE gives a likelihood bound in nats and covers every class, but its samples are blurry. VAE-GANs (Larsen et"),
            ("09_fusion", "Each network minimises its own sum:")],
    "3.5": [("01_cnn_basics", "That is wrong (erratum 10; the article's other errors")],
    "3.6": [("01_cnn_basics", "## 8. From a classifier to a judge: FID"),
            ("08_style_transfer", "* **The course's judge.** Lesson 01's digit classifier is a *trained* CNN that is always on disk."),
            ("09_fusion", "Sharing and reusing a trained network: a GAN's generator $G$, trained once, frozen, can serve images it never made")],
    "4": [("03_dcgan", "## 1. The source article's DCGAN, reviewed (≈ 15 min)"),
          ("03_dcgan", "# 生成器网络 [generator network]"),
          ("03_dcgan", "# 训练GAN [train the GAN]")],
    "5": [("10_diffusion", "The source article closes with the \"future challenges\" of image generation: higher quality and more stable"),
          ("11_future", "(§5, 未来发展趋势与挑战)")],
    "5.1": [("10_diffusion", "## 8. The scoreboard: diffusion against the GAN and the VAE (≈ 10 min)"),
            ("03_dcgan", "## 5. Measuring quality: FID and KID (≈ 10 min)"),
            ("11_future", "The article's first trend (§5.1, 高质量图像生成)")],
    "5.2": [("06_restoration", "## 1. Restoration: learn to undo a degradation (≈ 10 min)"),
            ("07_translation", "## 1. Translation as a conditional GAN (≈ 10 min)"),
            ("08_style_transfer", "## 1. Content and style, as two losses on features (≈ 10 min)")],
    "5.3": [("05_vae", "VAE gives a likelihood bound in nats and covers every class, but its samples are blurry. VAE-GANs (Larsen et"),
            ("09_fusion", "Generation fused with transformation: to edit a real image, invert it into a generator's latent space")],
    "5.4": [("docs/applications.md", "# What image generation and transformation are used for"),
            ("11_future", "The article's applications (§5.4, 图像生成与变换的应用)")],
    "5.5": [("04_stable_gans", "## 1. Why GAN training is unstable (≈ 10 min)"),
            ("11_future", "The article's last bullet (§5.5, 图像生成与变换的挑战)")],
    "5.5a": [("04_stable_gans", "## 1. Why GAN training is unstable (≈ 10 min)"),
             ("02_gan_basics", "## 5. Mode collapse (≈ 15 min)"),
             ("10_diffusion", "no encoder: training is a plain regression, as stable as lesson 01's classifier"),
             ("11_future", "\"Stability\" (§5.5a)")],
    "5.5b": [("04_stable_gans", "Kataoka, Koyama & Yoshida (ICLR 2018) constrain the layers instead. The Lipschitz constant of a linear"),
             ("04_stable_gans", "What the stabilisers buy is not speed on an easy problem but *robustness*"),
             ("11_future", "The article's \"discriminator robustness\" (§5.5b, 判别器的抗扰性)")],
    "5.5c": [("01_cnn_basics", "set (4,000 training digits) it is tested on the 1,000 held-out ones, and full MNIST gives it 15 times"),
             ("05_vae", "offline, on only 4,000 training digits, it overfits too, and its test NLL says so."),
             ("03_dcgan", "**memorisation check** compares each sample's pixel distance to its nearest *training* digit with"),
             ("11_future", "The third challenge (§5.5c, 训练数据的可用性)")],
    "6": [("docs/article.md", "## 2. The FAQ, answered"),
          ("11_future", "The article's appendix (§6, 附录 常见问题与解答)")],
    "Q1": [("docs/article.md", '**Q1. "Why does a generative model need a discriminator?"** It does not: the premise is false.'),
           ("05_vae", "The premise is false: only a GAN has one.")],
    "Q2": [("docs/article.md", '**Q2. "Why does a GAN need backpropagation?"**'),
           ("02_gan_basics", "> **Correction (source article, erratum 11).** The article says GANs")],
    "Q3": [("docs/article.md", '**Q3. "Why does a VAE need variational adversarial training?"** It does not use any (erratum 9).'),
           ("05_vae", "**Correction (source article, erratum 9).**"),
           ("05_vae", "### Exercise 1 — `reparameterize`")],
    "Q4": [("docs/article.md", '**Q4. "Why do CNNs perform poorly at generation?"** They do not (erratum 10).'),
           ("01_cnn_basics", "## 5. Correcting the source article: CNNs *are* generators"),
           ("01_cnn_basics", "## 4. Transposed convolution: how generators grow images (≈ 15 min)")],
    "Q5": [("docs/article.md", '**Q5. "Why do GANs and VAEs perform well?"**'),
           ("05_vae", "Q5 asks why GANs and VAEs do well; they"),
           ("02_gan_basics", "## 5. Mode collapse (≈ 15 min)"),
           ("10_diffusion", "## 8. The scoreboard: diffusion against the GAN and the VAE (≈ 10 min)")],
    "Q6": [("docs/article.md", '**Q6. "Why do image generation and transformation models need a lot of training data?"**'),
           ("01_cnn_basics", "set (4,000 training digits) it is tested on the 1,000 held-out ones, and full MNIST gives it 15 times"),
           ("05_vae", "offline, on only 4,000 training digits, it overfits too, and its test NLL says so."),
           ("03_dcgan", "**memorisation check** compares each sample's pixel distance to its nearest *training* digit with"),
           ("11_future", "# FAQ Q6 (\"do these models need a lot of training data?\"), answered with this lesson's measurements")],
    "Q7": [("docs/article.md", '**Q7. "Why do they need high-performance hardware?"** Not always.'),
           ("00_setup", "## 2. Profiles: one notebook, three sizes"),
           ("docs/compute.md", "# What each lesson costs"),
           ("docs/benchmarks.md", "## Our loop on a GPU"),
           ("90_appendix_multigpu", "# Appendix — Training on several GPUs: `torchrun` and DistributedDataParallel"),
           ("11_future", "# FAQ Q7 (\"do these models need high-performance computing devices?\"), answered with this lesson's measurements")],
    "refs": [("docs/article.md", "## 1. The reference list"),
             ("04_stable_gans", "> **What the source article gets wrong here (errata 13–14).**"),
             ("04b_conditional_gan", "Brock, Donahue & Simonyan, \"Large Scale")],  # its [5], corrected
    # the errata (ERRATA.md): the cells tests/test_review_map.py names, read from there (one list, not two)
    **{k: v for k, v in _REVIEW_MAP.ANSWERS.items() if re.fullmatch(r"E\d+", k)},
}


def _lessons() -> set[str]:
    return {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}


@functools.lru_cache(maxsize=None)
def _cells(where: str) -> tuple[str, ...]:
    """A notebook's cell sources (markdown and code), or a docs page split at its headings."""
    notebook = ROOT / "notebooks" / f"{where}.ipynb"
    if notebook.exists():
        return tuple(c.source for c in nbformat.read(notebook, as_version=4).cells)
    path = ROOT / where
    if not path.is_file():
        pytest.fail(f"{where}: neither notebooks/{where}.ipynb nor a file {where} exists")
    return tuple(re.split(r"\n(?=#{1,6} )", path.read_text(encoding="utf-8")))


CASES = [(item, where, phrase) for item, entries in ARTICLE_MAP.items() for where, phrase in entries]


@pytest.mark.parametrize("item, where, phrase", CASES, ids=[f"{i}-{w.split('/')[-1]}" for i, w, _ in CASES])
def test_each_phrase_is_in_exactly_one_cell(item, where, phrase):
    hits = [i for i, source in enumerate(_cells(where)) if phrase in source]
    kind = "cell" if where in _lessons() else "section"
    assert len(hits) == 1, f"{item}: {phrase!r} should be in exactly one {kind} of {where}, found in {hits or 'none'}"


def _errata_ids() -> list[str]:
    if not ERRATA.exists():
        return ERRATA_IDS
    return [f"E{n}" for n in re.findall(r"^(\d+)\. ", ERRATA.read_text(encoding="utf-8"), flags=re.M)]


def test_every_section_faq_question_and_erratum_has_an_entry():
    expected = list(SECTIONS) + _errata_ids()
    missing = [item for item in expected if item not in ARTICLE_MAP]
    assert not missing, f"no entry in ARTICLE_MAP for {missing}"
    unknown = sorted(set(ARTICLE_MAP) - set(expected))
    assert not unknown, f"entries for items the article and ERRATA.md do not have: {unknown}"


def test_the_errata_are_errata_md_s():
    if not ERRATA.exists():
        pytest.skip(f"{ERRATA} is not beside this checkout")
    assert _errata_ids() == ERRATA_IDS, f"ERRATA.md's items are {_errata_ids()}; update ERRATA_IDS and the map"


def _seed_outline(text: str) -> dict[str, list[str]]:
    """The seed's top-level headings ("1.背景介绍"), each with the bullets under it (a line after a lone "-")."""
    outline: dict[str, list[str]] = {}
    lines = text.splitlines()
    top = None
    for i, line in enumerate(lines):
        m = re.match(r"^(\d)\.(\S.*)$", line)
        if m:
            top = m.group(1)
            outline[top] = [m.group(2)]
        elif line.strip() == "参考文献":
            top = None
            outline["refs"] = [line.strip()]
        elif i and lines[i - 1].strip() == "-" and top is not None:
            outline[top].append(line)
    return outline


def _bullet_keys(top: str) -> list[str]:
    if top == "6":
        return [k for k in SECTIONS if re.fullmatch(r"Q\d", k)]
    return [k for k in SECTIONS if re.fullmatch(rf"{top}\.\d+", k)]


@pytest.fixture(scope="module")
def outline():
    if not SEED.exists():
        pytest.skip(f"the seed article {SEED} is not beside this checkout")
    return _seed_outline(SEED.read_text(encoding="utf-8"))


def test_the_headings_are_the_seed_s_own(outline):
    tops = [k for k in SECTIONS if re.fullmatch(r"\d|refs", k)]
    assert sorted(outline) == sorted(tops), f"the seed's headings are {sorted(outline)}, SECTIONS has {tops}"
    for key in tops:
        assert outline[key][0] == SECTIONS[key][0], f"§{key}: the seed's heading is {outline[key][0]!r}"


@pytest.mark.parametrize("top", ["1", "2", "3", "4", "5", "6"])
def test_each_bullet_of_the_seed_is_an_item_in_order(outline, top):
    bullets, keys = outline[top][1:], _bullet_keys(top)
    assert len(bullets) == len(keys), f"§{top} has {len(bullets)} bullets in the seed, SECTIONS has {keys}"
    for key, bullet in zip(keys, bullets):
        quote = SECTIONS[key][0]
        text = bullet.removeprefix("Q:")
        assert text.startswith(quote), f"{key}: the seed's bullet opens {bullet[:40]!r}, not {quote!r}"


def test_the_three_challenges_are_named_in_bullet_5_5(outline):
    bullet = outline["5"][5]
    for key in ("5.5a", "5.5b", "5.5c"):
        assert SECTIONS[key][0] in bullet, f"{key}: {SECTIONS[key][0]!r} is not in §5.5: {bullet!r}"



def test_every_lesson_teaches_part_of_the_article():
    mapped = {where for entries in ARTICLE_MAP.values() for where, _ in entries}
    unmapped = sorted(_lessons() - mapped)
    assert not unmapped, f"lessons that teach no section, FAQ question or erratum in ARTICLE_MAP: {unmapped}"
