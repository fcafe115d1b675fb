"""Build the int8 variant of the bundled backbone: static, per-channel, calibrated on real images.

The bundled fp32 EfficientNet-Lite0 (``deepfeat/backbones/efficientnet_lite0.onnx``) is
quantised with ``onnxruntime.quantization.quantize_static`` (QDQ format, int8 weights per
output channel, uint8 activations, MinMax calibration). Only convolutions and matrix products
are quantised: the spatial mean/std outputs stay float, so the feature columns keep their
meaning. Calibration images are real faces (never fakes) read from ``../shared/data``
(``DEEPFEAT_SHARED_DATA`` overrides): the first ``--n`` real crops of DFDC and of k140, fed
through the embedder's own preprocessing at native size, so the activation ranges are those
the features see. The output is deterministic for the same inputs and versions.

The result is written next to the fp32 file as ``efficientnet_lite0_int8.onnx`` and its
sha256 and provenance are recorded in the backbone card (``variants.int8``), which
``CNNEmbedder(precision="int8")`` checks before loading it.

Usage::

    python scripts/backbone/quantize.py            # 128 calibration images per source
    python scripts/backbone/quantize.py --n 32     # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from _card import BACKBONES, record_variant

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))
OUT_NAME = "efficientnet_lite0_int8.onnx"


def calibration_paths(n: int) -> list[str]:
    """The first ``n`` real images of DFDC and of k140 (sorted, so the choice is fixed)."""
    from deepfeat import load_dataset

    paths: list[str] = []
    for name in ("dfdc_faces", "k140_faces"):
        root = SHARED / name
        if not root.is_dir():
            continue
        df = load_dataset(root)
        paths += sorted(df.loc[df["label"] == 0, "path"].astype(str))[:n]
    if not paths:
        raise SystemExit(f"no real images under {SHARED}: calibration needs real data")
    return paths


class _Reader:
    """Feeds one preprocessed image at a time (native size, as the embedder runs it)."""

    def __init__(self, paths: list[str]) -> None:
        from deepfeat import CNNEmbedder, load_image

        emb = CNNEmbedder().fit()
        spec = emb._get_spec()
        self._items = iter(
            [{spec.input_name: spec.tensor([spec.prepare(load_image(p))])} for p in paths]
        )

    def get_next(self):
        return next(self._items, None)

    def rewind(self) -> None:  # pragma: no cover - not used by MinMax
        pass


def build(n: int) -> dict:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = BACKBONES / "efficientnet_lite0.onnx"
    paths = calibration_paths(n)
    with tempfile.TemporaryDirectory() as tmp:
        prepped = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(prepped), skip_symbolic_shape=True)
        out = BACKBONES / OUT_NAME
        quantize_static(
            str(prepped),
            str(out),
            _Reader(paths),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            op_types_to_quantize=["Conv", "MatMul", "Gemm"],
            calibrate_method=CalibrationMethod.MinMax,
        )
    import onnxruntime

    return record_variant(
        "int8",
        out,
        method="onnxruntime.quantization.quantize_static: QDQ, per-channel int8 weights, "
        "uint8 activations, MinMax calibration; Conv/MatMul/Gemm only (pooled outputs float)",
        calibration=f"{len(paths)} real face crops (first {n} of dfdc_faces and k140_faces, "
        "sorted by path), native size, the embedder's preprocessing",
        onnxruntime=onnxruntime.__version__,
        script="scripts/quantize_backbone.py",  # as recorded in the shipped files
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="calibration images per source")
    print(json.dumps(build(parser.parse_args().n), indent=2))
