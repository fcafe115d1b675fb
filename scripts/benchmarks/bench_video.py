"""Benchmark videos: which aggregation per video, and the cost of decode + face crop + features.

Two parts, written to ``docs/benchmarks_video.md`` (and ``docs/benchmarks_video.json``):

**Aggregation** (the default of :func:`deepfeat.predict_video`). ``../shared/data/dfdc_faces``
has one face crop per DFDC video, not several, so clips are made from each crop: F frames
of the crop re-framed the way consecutive detections of one face differ (shift ±6 px, scale
±6 %, rotation ±3°, brightness ±5 %; ``mild``) and, in a second set, half of the frames also
blurred or down-and-up-scaled the way motion and compression damage frames (``hard``). Each
frame is written with the layout's JPEG encoding. One grouped split (a fake and its source
video on the same side; train 2/3, test 1/3): the detector (default settings) is trained on
the *original* crops of the training videos and scores every frame of the test clips; the
per-video ROC AUC of each aggregation is reported with a paired bootstrap (over test
videos) of its difference to ``mean``. Caveat: real frames of one video differ more (pose,
expression, occlusion), so these clips favour no aggregation in particular and understate
differences between them.

**Cost and memory.** Clips of a DFDC face pasted into a scene (``mp4v``), in a child
process per measurement so that peak RSS is that of the measurement alone: decode only
(:func:`deepfeat.video._io.read_frames`), decode + MTCNN face crop
(:func:`deepfeat.video._faces.face_frames`) and the whole ``predict_video`` (+ features and
scoring), 16 frames per video; then peak RSS against the number of videos and the clip
length, to show it stays flat.

Usage::

    .venv/bin/python scripts/benchmarks/run.py video            # full (~15 min on 2 cores)
    .venv/bin/python scripts/benchmarks/run.py video --quick    # small, a few minutes

``run(quick)`` returns ``{"title", "markdown", "results"}`` for the benchmark driver.
Caches and clips go to ``/tmp/deepfeat-bench/video`` (``DEEPFEAT_BENCH_CACHE``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from _bench_base import command
from _bench_video_cost import CACHE, SHARED_DATA, _child, cost

#: The document this topic regenerates.
DOCUMENT = "docs/benchmarks_video.md"
#: One line for ``run.py --list``.
SUMMARY = "aggregation per video, and the cost of decode + face crop + features"

logger = logging.getLogger("bench_video")

REPO = Path(__file__).resolve().parents[2]
RUNNER_PATH = Path(__file__).with_name("run.py")
DOC = REPO / "docs" / "benchmarks_video.md"
FRAMES = 8
HOWS = ("mean", "logit", "topk")


# ----------------------------------------------------------------------------- clips
def clip_frames(crop: np.ndarray, n: int, rng: np.random.Generator, hard: bool) -> list:
    """``n`` frames of one face crop, re-framed (and, ``hard``, half of them damaged)."""
    import cv2

    h, w = crop.shape[:2]
    out = []
    for _ in range(n):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-3, 3), rng.uniform(0.94, 1.06))
        m[:, 2] += rng.uniform(-6, 6, size=2)
        frame = cv2.warpAffine(crop, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        frame = np.clip(frame * rng.uniform(0.95, 1.05), 0, 255).astype(np.uint8)
        if hard and rng.random() < 0.5:
            if rng.random() < 0.5:
                k = int(rng.choice([3, 5, 7]))
                frame = cv2.GaussianBlur(frame, (k, k), 0)
            else:
                s = rng.uniform(0.35, 0.6)
                small = cv2.resize(frame, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
                frame = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        out.append(frame)
    return out


def write_clips(test, variant: str, n: int) -> Any:
    """Frames of every test video as JPEG files (the layout's encoding); their table."""
    import pandas as pd

    from deepfeat import load_image
    from deepfeat.video._faces import write_jpeg

    folder = CACHE / "clips" / variant
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, rec in enumerate(test.to_dict("records")):
        stem = Path(rec["path"]).stem
        files = [folder / f"{stem}_{t}.jpg" for t in range(n)]
        if not all(f.is_file() for f in files):
            rng = np.random.default_rng([i, variant == "hard"])
            for f, frame in zip(
                files, clip_frames(load_image(rec["path"]), n, rng, variant == "hard")
            ):
                write_jpeg(frame, f)
        rows += [{"path": str(f), "video": stem, "label": rec["label"]} for f in files]
    return pd.DataFrame(rows)


def _auc(y, s) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def aggregation(quick: bool) -> dict[str, Any]:
    from deepfeat import (
        DeepfakeDetector,
        ImageFeatures,
        aggregate_scores,
        grouped_splits,
        load_dataset,
    )
    from deepfeat.features._cache import extract_table

    df = load_dataset(SHARED_DATA / "dfdc_faces")
    train, test = next(
        grouped_splits(df["label"].to_numpy(), df["group"].to_numpy(), n_splits=3, random_state=0)
    )
    train_df, test_df = df.iloc[train], df.iloc[test]
    if quick:
        train_df = train_df.sample(600, random_state=0)
        test_df = test_df.sample(150, random_state=0)
    extractor = ImageFeatures().fit(train_df, train_df["label"])
    cache = CACHE / "features"
    t0 = time.perf_counter()
    feats, _ = extract_table(train_df, extractor, cache_dir=cache)
    det = DeepfakeDetector(features=extractor, random_state=0, audit=False)
    det.fit(feats, train_df["label"].to_numpy(), groups=train_df["group"].to_numpy())
    train_s = time.perf_counter() - t0
    results: dict[str, Any] = {
        "n_train": len(train_df),
        "n_test_videos": len(test_df),
        "test_fake_share": float(test_df["label"].mean()),
        "frames": FRAMES,
        "train_seconds": round(train_s, 1),
        "variants": {},
    }
    rng = np.random.default_rng(0)
    n_boot = 300 if quick else 1000
    for variant in ("mild", "hard"):
        frames = write_clips(test_df, variant, FRAMES)
        ff, _ = extract_table(frames, extractor, cache_dir=cache)
        frames["p"] = det.predict_proba(ff)[:, 1]
        per = frames.groupby("video", sort=False)
        labels = per["label"].first().to_numpy()
        scores = {
            how: per["p"].apply(lambda p, h=how: aggregate_scores(p.to_numpy(), h)).to_numpy()
            for how in HOWS
        }
        scores["one frame"] = per["p"].first().to_numpy()
        orig = det.predict_proba(extract_table(test_df, extractor, cache_dir=cache)[0])[:, 1]
        res = {
            "frame_auc": _auc(frames["label"], frames["p"]),
            "original_crop_auc": _auc(test_df["label"], orig),
            "video_auc": {k: _auc(labels, s) for k, s in scores.items()},
        }
        boot = {k: [] for k in scores if k != "mean"}
        n = len(labels)
        for _ in range(n_boot):
            idx = rng.integers(0, n, n)
            if labels[idx].min() == labels[idx].max():
                continue
            base = _auc(labels[idx], scores["mean"][idx])
            for k in boot:
                boot[k].append(_auc(labels[idx], scores[k][idx]) - base)
        res["diff_vs_mean_ci95"] = {
            k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
            for k, v in boot.items()
        }
        results["variants"][variant] = res
    return results


# ----------------------------------------------------------------------------- report
def _markdown(res: dict[str, Any]) -> str:
    lines = [f"Machine: {res['machine']}. Run: `{res['command']}` ({res['minutes']:.1f} min).", ""]
    agg = res.get("aggregation")
    if agg:
        lines += [
            "### Aggregation per video",
            "",
            f"DFDC face crops, one grouped split: detector (default settings) trained on "
            f"{agg['n_train']} original crops; {agg['n_test_videos']} test videos "
            f"({agg['test_fake_share']:.0%} fake), each a clip of {agg['frames']} frames made "
            "from its crop (see the script's docstring: `mild` re-framing, `hard` = half the "
            "frames also blurred or down-scaled). Per-video ROC AUC; the interval is a paired "
            "bootstrap 95 % interval of the difference to `mean`.",
            "",
            "| clips | original crop | one frame | mean | logit | topk (25 %) | logit − mean "
            "| topk − mean |",
            "|---|---:|---:|---:|---:|---:|---|---|",
        ]
        for variant, r in agg["variants"].items():
            a, ci = r["video_auc"], r["diff_vs_mean_ci95"]
            lines.append(
                f"| {variant} | {r['original_crop_auc']:.3f} | {a['one frame']:.3f} "
                f"| {a['mean']:.3f} "
                f"| {a['logit']:.3f} | {a['topk']:.3f} | {a['logit'] - a['mean']:+.4f} "
                f"[{ci['logit'][0]:+.4f}, {ci['logit'][1]:+.4f}] | {a['topk'] - a['mean']:+.4f} "
                f"[{ci['topk'][0]:+.4f}, {ci['topk'][1]:+.4f}] |"
            )
        lines += ["", res.get("verdict", ""), ""]
    cost_ = res.get("cost")
    if cost_:
        lines += [
            "### Cost: decode, face crop, features",
            "",
            "16 frames sampled per video (mp4v clips of a DFDC face in a scene), each "
            "measurement in a fresh child process after one warm-up video; frames/s counts "
            "sampled frames (wall clock; CPU seconds beside it, the machine is shared).",
            "",
            "| clip | stage | frames | s | frames/s | CPU s | peak RSS MiB |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for name, r in cost_["speed"].items():
            clip, stage = name.split(" ")
            stage = {
                "decode": "decode",
                "crop": "decode + face crop",
                "predict": "decode + crop + features + score",
            }[stage]
            lines.append(
                f"| {clip} | {stage} | {r['frames']} | {r['seconds']:.2f} | "
                f"{r['frames'] / r['seconds']:.1f} | {r['cpu_seconds']:.2f} "
                f"| {r['peak_rss_mb']:.0f} |"
            )
        lines += [
            "",
            "Peak memory of `predict_video` (whole process, model loaded) against the number "
            "of videos and the clip length (360p):",
            "",
            "| input | frames scored | s | peak RSS MiB |",
            "|---|---:|---:|---:|",
        ]
        for name, r in cost_["memory"].items():
            lines.append(
                f"| {name} | {r['frames_ok']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def run(quick: bool = False) -> dict[str, Any]:
    """Both parts; the model of the aggregation part is saved and used for the cost part."""
    import _bench_common as bc

    from deepfeat import DeepfakeDetector, ImageFeatures, load_dataset

    t0 = time.perf_counter()
    res: dict[str, Any] = {
        "machine": f"{bc.cpu_model()}, {os.cpu_count()} cores, load {bc.load_average()[0]}",
        "command": bc.command("video", ["--quick"] if quick else []),
        "quick": quick,
    }
    if not (SHARED_DATA / "dfdc_faces").is_dir():
        res["minutes"] = 0.0
        return {"title": "Videos", "markdown": f"No data under {SHARED_DATA}.\n", "results": res}
    res["aggregation"] = aggregation(quick)
    a = {v: r["video_auc"] for v, r in res["aggregation"]["variants"].items()}
    best = {v: max(HOWS, key=lambda h, v=v: a[v][h]) for v in a}
    res["verdict"] = (
        "Best per clip set: " + ", ".join(f"{v} → `{b}`" for v, b in best.items()) + "."
    )
    model = CACHE / ("model-quick" if quick else "model")
    if not (model / "card.json").is_file():
        df = load_dataset(SHARED_DATA / "dfdc_faces").sample(400 if quick else 1200, random_state=0)
        ext = ImageFeatures().fit(df, df["label"])
        DeepfakeDetector(features=ext, random_state=0, audit=False).fit(
            df, df["label"], groups=df["group"]
        ).save(model)
    res["cost"] = cost(quick, model)
    res["minutes"] = (time.perf_counter() - t0) / 60
    return {
        "title": "Videos: aggregation per video, cost and memory",
        "markdown": _markdown(res),
        "results": res,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small subsets")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = run(quick=args.quick)
    text = f"# {out['title']}\n\nWritten by `{command('video')}`.\n\n{out['markdown']}"
    print(text)
    if not args.no_write:
        DOC.write_text(text)
        DOC.with_suffix(".json").write_text(json.dumps(out["results"], indent=2, default=float))
