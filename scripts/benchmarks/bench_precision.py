"""Benchmark: the int8 backbone against fp32, for speed and for AUC (issue 21's rule).

Speed: raw ``session.run`` on the same ready 224×224 tensors (real DFDC crops, batch 32, two
intra-op threads), trials alternating between the fp32 graph with all its outputs (the
"full-graph backbone"), the fp32 graph asked only for the default mid-level outputs, and
the int8 graph; best trial each, ratios against the full fp32 graph.

AUC: the default extractor with ``CNNEmbedder(precision=...)`` on ``dfdc_faces`` and
``k140_faces`` (``../shared/data``), then ``DeepfakeDetector()`` with defaults: grouped
3-fold AUC in each source and cross-source (train on one source, score the other). The rule
of issue 21: adopt int8 as the default only if no AUC moves by more than 0.005.

Writes ``docs/benchmarks_precision.md`` and ``.json``. Usage::

    python scripts/benchmarks/run.py precision            # full (all images)
    python scripts/benchmarks/run.py precision --quick  # 200 images per source, 2 speed trials
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

#: The document this topic regenerates.
DOCUMENT = "docs/benchmarks_precision.md"
#: One line for ``run.py --list``.
SUMMARY = "the int8 backbone against fp32, speed and AUC"

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))
SOURCES = ("dfdc_faces", "k140_faces")
PRECISIONS = ("fp32", "int8")


def speed(n_trials: int) -> list[dict]:
    from deepfeat import CNNEmbedder, load_dataset, load_image
    from deepfeat._onnx import cpu_session
    from deepfeat.features._backbone import _verified_backbone

    emb = CNNEmbedder().fit()
    spec = emb._get_spec()
    df = load_dataset(SHARED / "dfdc_faces")
    imgs = [load_image(p) for p in df["path"].iloc[:32]]
    x = spec.tensor([spec.prepare(im) for im in imgs])
    fp32 = cpu_session(_verified_backbone("efficientnet_lite0", "fp32"), 2)
    int8 = cpu_session(_verified_backbone("efficientnet_lite0", "int8"), 2)
    every = [o.name for o in fp32.get_outputs()]
    runs = {
        "fp32, all outputs (full graph)": (fp32, every),
        "fp32, default outputs": (fp32, spec.output_names),
        "int8, default outputs": (int8, spec.output_names),
    }
    for s, names in runs.values():
        s.run(names, {spec.input_name: x})
    best = {k: float("inf") for k in runs}
    for _ in range(n_trials):
        for k, (s, names) in runs.items():
            t0 = time.perf_counter()
            s.run(names, {spec.input_name: x})
            best[k] = min(best[k], time.perf_counter() - t0)
    base = best["fp32, all outputs (full graph)"]
    return [
        {
            "run": k,
            "img_per_s": round(len(imgs) / v, 1),
            "ms_per_img": round(1000 * v / len(imgs), 2),
            "vs_fp32_full": round(base / v, 3),
        }
        for k, v in best.items()
    ]


def auc(limit: int | None) -> dict:
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from deepfeat import CNNEmbedder, DeepfakeDetector, ImageFeatures, grouped_splits, load_dataset
    from deepfeat.features._cache import extract_table

    data = {}
    for src in SOURCES:
        df = load_dataset(SHARED / src)
        if limit:
            df = df.groupby("label", group_keys=False).head(limit // 2).reset_index(drop=True)
        data[src] = df
    out: dict = {}
    for precision in PRECISIONS:
        ext = ImageFeatures(cnn=CNNEmbedder(precision=precision))
        tables = {}
        for src, df in data.items():
            ext.fit(df, df["label"])
            feats, _ = extract_table(df, ext, cache_dir=Path("/tmp/deepfeat-bench-precision"))
            tables[src] = pd.concat([df.reset_index(drop=True), feats], axis=1)
        res = {}
        with threadpool_limits(1, "blas"):
            for src, t in tables.items():
                y, g = t["label"].to_numpy(), t["group"].to_numpy()
                aucs = []
                for tr, te in grouped_splits(y, g, n_splits=3, random_state=0):
                    det = DeepfakeDetector(n_jobs=1, audit=False).fit(t.iloc[tr])
                    aucs.append(roc_auc_score(y[te], det.predict_proba(t.iloc[te])[:, 1]))
                res[f"{src} (grouped 3-fold)"] = round(float(np.mean(aucs)), 4)
            for a, b in (SOURCES, SOURCES[::-1]):
                det = DeepfakeDetector(n_jobs=1, audit=False).fit(tables[a])
                p = det.predict_proba(tables[b])[:, 1]
                res[f"{a} → {b}"] = round(float(roc_auc_score(tables[b]["label"], p)), 4)
        out[precision] = res
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = speed(2 if args.quick else 6)
    aucs = auc(200 if args.quick else None)
    load = os.getloadavg()[0]
    lines = [
        "# int8 vs fp32 backbone (issue 21)",
        "",
        f"`python scripts/benchmarks/run.py precision{' --quick' if args.quick else ''}`; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load:.1f} at the end, {time.perf_counter() - t0:.0f} s.",
        "",
        "## Speed: raw `session.run`, 32 real 224×224 crops, 2 threads, best of alternating trials",
        "",
        "| graph | img/s | ms/img | × fp32 full graph |",
        "|---|---:|---:|---:|",
        *[
            f"| {r['run']} | {r['img_per_s']} | {r['ms_per_img']} | {r['vs_fp32_full']} |"
            for r in rows
        ],
        "",
        "## ROC AUC with the default extractor and detector",
        "",
        "| setting | fp32 | int8 | int8 − fp32 |",
        "|---|---:|---:|---:|",
    ]
    deltas = []
    for key in aucs["fp32"]:
        d = aucs["int8"][key] - aucs["fp32"][key]
        deltas.append(abs(d))
        lines.append(f"| {key} | {aucs['fp32'][key]:.4f} | {aucs['int8'][key]:.4f} | {d:+.4f} |")
    faster = rows[2]["vs_fp32_full"] > rows[0]["vs_fp32_full"]
    rule = max(deltas) <= 0.005
    lines += [
        "",
        f"Rule (adopt int8 only if every AUC moves by at most 0.005): largest move "
        f"{max(deltas):.4f} → {'met' if rule else 'not met'}; int8 "
        f"{'faster' if faster else 'slower'} than the fp32 full graph. Default: "
        f"{'int8' if rule and faster else 'fp32'}.",
        "",
    ]
    (REPO / "docs" / "benchmarks_precision.md").write_text("\n".join(lines))
    (REPO / "docs" / "benchmarks_precision.json").write_text(
        json.dumps({"speed": rows, "auc": aucs, "quick": args.quick}, indent=2) + "\n"
    )
    print("\n".join(lines))
