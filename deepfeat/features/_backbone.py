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
    "layer_outputs",
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


def layer_outputs(layer: str) -> list[str]:
    """Graph outputs of one bundled layer: ``["head"]`` or ``["<stage>_mean", "<stage>_std"]``.

    Examples
    --------
    >>> layer_outputs("s4"), layer_outputs("head")
    (['s4_mean', 's4_std'], ['head'])
    """
    return ["head"] if layer == "head" else [f"{layer}_mean", f"{layer}_std"]


def _check_file(path: Path, expected: str) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"bundled backbone missing: {path} (broken installation?)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise RuntimeError(
            f"bundled backbone {path} is corrupted: sha256 {digest} differs from the model "
            f"card's {expected}; reinstall deepfeat"
        )
    return os.fspath(path)


@functools.lru_cache(maxsize=8)
def _verified_backbone(name: str, precision: str = "fp32") -> str:
    """Check a bundled file against its card's sha256 once per process; return its path.

    ``precision="int8"`` is the statically quantised variant the card lists under
    ``variants`` (built by ``scripts/backbone/quantize.py``), checked the same way.
    """
    card = backbone_card(name)
    if precision == "fp32":
        return _check_file(backbone_path(name), card["sha256"])
    variant = (card.get("variants") or {}).get(precision)
    if variant is None:
        raise ValueError(f"the bundled {name} has no {precision} variant")
    return _check_file(BACKBONE_DIR / variant["file"], variant["sha256"])


@functools.lru_cache(maxsize=16)
def _run_file(name: str, precision: str, outputs: tuple[str, ...]) -> str:
    """The smallest bundled graph of ``precision`` that computes all of ``outputs``.

    A trimmed variant of the card (``variants.<key>`` with ``precision`` and ``outputs``,
    built by ``scripts/backbone/trim.py``) is an exact sub-graph of the full file: same
    nodes and weights, outputs equal bit for bit, fewer nodes to run. It is chosen when it
    holds every requested output; otherwise the full file of that precision runs. Checked
    against its sha256 once per process like the full file.

    Examples
    --------
    >>> from deepfeat.features._backbone import _run_file
    >>> from pathlib import Path
    >>> Path(_run_file("efficientnet_lite0", "fp32", ("s1_mean", "s1_std"))).name
    'efficientnet_lite0_mid.onnx'
    >>> Path(_run_file("efficientnet_lite0", "fp32", ("head",))).name
    'efficientnet_lite0.onnx'
    """
    card = backbone_card(name)
    trimmed = [
        v
        for v in (card.get("variants") or {}).values()
        if v.get("precision") == precision
        and v.get("outputs") is not None
        and set(outputs) <= set(v["outputs"])
    ]
    if not trimmed:
        return _verified_backbone(name, precision)
    best = min(trimmed, key=lambda v: v["size_bytes"])
    return _check_file(BACKBONE_DIR / best["file"], best["sha256"])
