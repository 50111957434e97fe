"""genimg_course: the helper package behind the genimg-course notebooks. Two wings:

**The course's machinery** — what a learner opens beside a lesson, one job per module:

* ``profiles`` run sizes (smoke / cpu / gpu / auto) and the one autocast rule; ``files`` atomic
  writes and hashes (no torch); ``data`` datasets, ``ImageSet`` and resident batches;
* ``train`` the ``Task`` and ``Batches`` protocols, ``StepContext``, ``ClassifierTask``, ``fit``,
  ``adam`` and ``evaluating``; ``history`` what a run logged (and the NaN stop);
  ``checkpoints`` atomic, ``weights_only`` checkpoints, shipped weights, a run's training state;
  ``distributed`` the DDP collectives (``ddp_demo``: a run to try them on, and the torchrun launcher);
* ``models/`` one file per architecture; one module per family with its objective, task and
  diagnostics together: ``gan``, ``vae``, ``restore`` (degradations, classical baselines, PSNR / SSIM,
  the restoration task), ``colourise`` (Lab, colour bins, L2 and classification heads), ``translate``
  (pix2pix, CycleGAN, the image buffer; lesson 07) and ``style`` (Gram matrices, random and VGG
  features, optimising pixels; lesson 08);
  ``sampling`` the one sampler, ``generate(model, n, *, y=None, seed=None)``, for every family;
* ``metrics`` the judge, FID/KID and the real-vs-real floor; ``figures`` a lesson's figures JSON
  and the one ``Quality`` record a scoreboard reads; ``viz`` plots; ``widgets`` explorers;
  ``checks/`` exercise feedback, one module per lesson.

**The classroom tools** — what a teacher runs: ``classroom/`` (``genimg doctor / run / student /
prefetch / site``). The machinery never imports it.
"""
__version__ = "0.1.0"
