"""Build the trimmed variant of the bundled backbone: the graph that stops where ``"mid"`` ends.

The default ``CNNEmbedder(layers="mid")`` reads the spatial mean/std of the stem and of
stages s1 … s6. onnxruntime executes every node of a graph whatever outputs are requested
(its profiler shows all of them run), so with the full file the s7 stage and the 1280-d head
are computed and thrown away on every image. This script cuts them off with
``onnx.utils.Extractor``: the sub-graph from the ``image`` input to the 14 ``stem_mean`` …
``s6_std`` outputs, with the very same nodes and weights (no re-export, no new arithmetic),
so its outputs equal the full graph's bit for bit (checked here on random inputs of several
sizes, and in ``tests/test_cnn.py``).

The result is written next to the fp32 file as ``efficientnet_lite0_mid.onnx``; its sha256,
outputs and provenance are recorded in the backbone card (``variants.mid``).
``CNNEmbedder`` runs it whenever the requested layers lie within it (the features and the
cache keys stay those of the full file, of which it is an exact part).

Usage::

    python scripts/backbone/trim.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _card import BACKBONES, record_variant

SOURCE = BACKBONES / "efficientnet_lite0.onnx"
OUT_NAME = "efficientnet_lite0_mid.onnx"
STAGES = ("stem", "s1", "s2", "s3", "s4", "s5", "s6")


def _check_exact(outputs: list[str], trimmed: Path) -> float:
    """Largest |full - trimmed| over the outputs on random inputs of several sizes."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    full = ort.InferenceSession(str(SOURCE), opts, providers=["CPUExecutionProvider"])
    part = ort.InferenceSession(str(trimmed), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for shape in ((1, 3, 224, 224), (4, 3, 256, 256), (2, 3, 97, 131)):
        x = rng.normal(0, 1, shape).astype(np.float32)
        a = full.run(outputs, {"image": x})
        b = part.run(outputs, {"image": x})
        worst = max(worst, max(float(np.abs(u - v).max()) for u, v in zip(a, b)))
    return worst


def build() -> dict:
    import onnx
    from onnx.utils import Extractor

    outputs = [f"{s}_{k}" for s in STAGES for k in ("mean", "std")]
    model = onnx.load(str(SOURCE))
    sub = Extractor(model).extract_model(["image"], outputs)
    sub.producer_name = "deepfeat scripts/trim_backbone.py"  # as recorded in the shipped files
    # Extractor drops the symbolic names of the dynamic axes: put the source's back
    for src, dst in zip(model.graph.input, sub.graph.input):
        dst.type.CopyFrom(src.type)
    by_name = {o.name: o for o in model.graph.output}
    for dst in sub.graph.output:
        dst.type.CopyFrom(by_name[dst.name].type)
    onnx.checker.check_model(sub)
    out = BACKBONES / OUT_NAME
    out.write_bytes(sub.SerializeToString())
    worst = _check_exact(outputs, out)
    if worst != 0.0:
        raise SystemExit(f"trimmed graph differs from the full one by up to {worst:g}")
    return record_variant(
        "mid",
        out,
        precision="fp32",
        outputs=outputs,
        nodes=len(sub.graph.node),
        nodes_full=len(model.graph.node),
        method="onnx.utils.Extractor on the fp32 file: the sub-graph from 'image' to the "
        "stem … s6 mean/std outputs (same nodes and weights; s7 and the head removed)",
        exact="outputs equal the full graph's bit for bit (max |diff| 0 on random inputs)",
        onnx=onnx.__version__,
        script="scripts/trim_backbone.py",  # as recorded in the shipped files
    )


if __name__ == "__main__":
    print(json.dumps(build(), indent=2))
