"""Pseudo-fakes made from real images, and training-time degradations.

Pure functions on ``H×W×3`` uint8 RGB arrays (numpy and OpenCV only, seeded by
``random_state``) plus dataset helpers that write their results as files into a cache
folder for the feature pipeline:

* :func:`self_blend` — face-swap traces (self-blended images, Shiohara & Yamasaki 2022);
* :func:`upsample_trace` — generator decoder traces (AutoGAN, Zhang et al. 2019);
* :func:`degrade` — blur / JPEG / down-scaling for both classes (Wang et al. 2020);
* :func:`make_pseudo_fakes`, :func:`degrade_dataset` — the same over a dataset, with the
  group of each real kept and an ``origin`` / ``degraded`` column.
"""

from ._blend import face_mask, self_blend
from ._dataset import (
    PSEUDO_FAKE_KINDS,
    augment_spec,
    degrade_dataset,
    expand_training_set,
    make_pseudo_fakes,
    pseudo_fake_kinds,
    synthesis_digest,
)
from ._degrade import DEGRADATIONS, degrade
from ._upsample import UPSAMPLE_METHODS, upsample_trace

__all__ = [
    "DEGRADATIONS",
    "PSEUDO_FAKE_KINDS",
    "UPSAMPLE_METHODS",
    "augment_spec",
    "degrade",
    "degrade_dataset",
    "expand_training_set",
    "face_mask",
    "make_pseudo_fakes",
    "pseudo_fake_kinds",
    "self_blend",
    "synthesis_digest",
    "upsample_trace",
]
