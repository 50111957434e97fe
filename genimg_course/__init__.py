"""genimg_course: the helper package behind the genimg-course notebooks.

Small modules, one job each: ``profiles`` (run sizes), ``data`` (datasets and resident batches),
``models`` (one file per family), ``train`` (the one loop), ``checkpoints`` (atomic save, safe
load), ``metrics`` (accuracy, judge features, FID/KID, figures JSON), ``viz`` (grids, curves,
feature maps), ``widgets`` (ipywidgets explorers), ``checks`` (exercise feedback), ``env``
(environment report).
"""
__version__ = "0.1.0"
