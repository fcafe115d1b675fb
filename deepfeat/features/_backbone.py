"""The bundled CNN backbone: its files, model card, layer presets and the hash check."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "BACKBONE_DIR",
    "DEFAULT_BACKBONE",
    "DEFAULT_LAYERS",
    "LAYER_PRESETS",
    "STAGES",
    "backbone_card",
    "backbone_path",
]

#: Folder of the bundled backbones (ONNX file, JSON card, reference outputs, NOTICE).
BACKBONE_DIR = Path(__file__).resolve().parents[1] / "backbones"


#: Name of the bundled default backbone.
DEFAULT_BACKBONE = "efficientnet_lite0"


#: Taps of the bundled backbone that give a spatial mean and std per channel, in depth order.
STAGES = ("stem", "s1", "s2", "s3", "s4", "s5", "s6", "s7")


#: Named selections of ``layers`` for the bundled backbone.
LAYER_PRESETS: dict[str, tuple[str, ...]] = {
    "head": ("head",),
    "mid": STAGES[:7],  # stem … s6: low- and mid-level statistics, where pixel artefacts live
    "stats": STAGES,
    "all": (*STAGES, "head"),
}


#: Default ``layers``: chosen on the real-data benchmark (docs/benchmarks.md).
DEFAULT_LAYERS = "mid"


# ----------------------------------------------------------------------------------------
# bundled backbone
# ----------------------------------------------------------------------------------------
def backbone_path(name: str = DEFAULT_BACKBONE) -> Path:
    """Path of a bundled ONNX backbone.

    Examples
    --------
    >>> from deepfeat.features._backbone import backbone_path
    >>> backbone_path().name
    'efficientnet_lite0.onnx'
    """
    return BACKBONE_DIR / f"{name}.onnx"


@functools.lru_cache(maxsize=4)
def _card_text(name: str) -> str:
    path = BACKBONE_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no model card for bundled backbone {name!r} at {path}")
    return path.read_text(encoding="utf-8")


def backbone_card(name: str = DEFAULT_BACKBONE) -> dict[str, Any]:
    """The JSON model card of a bundled backbone (a fresh dict on every call).

    Examples
    --------
    >>> from deepfeat.features._backbone import backbone_card
    >>> card = backbone_card()
    >>> card["license"], card["preprocessing"]["input_size"]
    ('Apache-2.0', 224)
    >>> [o["channels"] for o in card["outputs"]][:3]
    [1280, 32, 32]
    """
    return json.loads(_card_text(name))


#: Numeric precisions of the bundled backbone (``CNNEmbedder(precision=...)``).
PRECISIONS = ("fp32", "int8")


@functools.lru_cache(maxsize=8)
def _verified_backbone(name: str, precision: str = "fp32") -> str:
    """Check a bundled file against its card's sha256 once per process; return its path.

    ``precision="int8"`` is the statically quantised variant the card lists under
    ``variants`` (built by ``scripts/quantize_backbone.py``), checked the same way.
    """
    card = backbone_card(name)
    if precision == "fp32":
        path, expected = backbone_path(name), card["sha256"]
    else:
        variant = (card.get("variants") or {}).get(precision)
        if variant is None:
            raise ValueError(f"the bundled {name} has no {precision} variant")
        path, expected = BACKBONE_DIR / variant["file"], variant["sha256"]
    if not path.is_file():
        raise FileNotFoundError(f"bundled backbone missing: {path} (broken installation?)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise RuntimeError(
            f"bundled backbone {path} is corrupted: sha256 {digest} differs from the model "
            f"card's {expected}; reinstall deepfeat"
        )
    return os.fspath(path)
