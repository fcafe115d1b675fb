"""``deepfeat demo`` and ``deepfeat extract``."""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..features._table import stream_features
from ._common import (
    EXIT_NOTHING_USABLE,
    EXIT_OK,
    UserError,
    make_extractor,
    note_duplicates,
    own_output,
    print_metrics,
    progress_on,
    summary_line,
    write_failures,
)

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def cmd_demo(args: argparse.Namespace) -> int:
    """Synthetic data → features → grouped train/test → detector → metrics → ablation."""
    import numpy as np

    from ..datasets import load_dataset, make_demo_dataset
    from ..detector._estimator import DeepfakeDetector
    from ..evaluation import ablation, evaluate, grouped_splits
    from ..features._cache import extract_table
    from ..features._combined import ImageFeatures

    if args.n_images < 40:
        raise UserError("the demo needs --n-images of at least 40 (for grouped folds)")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="deepfeat-demo-"))
    t0 = time.perf_counter()
    root = make_demo_dataset(out / "data", n_images=args.n_images, random_state=args.seed)
    df = load_dataset(root)
    counts = df["label"].value_counts().reindex([0, 1], fill_value=0)
    print(
        f"1. demo data: {root}  ({len(df)} images: {counts[0]} real, {counts[1]} fake, "
        f"{df['group'].nunique()} source groups; synthetic, NOT a benchmark)"
    )

    extractor = ImageFeatures(groups=args.groups).fit(df, df["label"])
    t1 = time.perf_counter()
    feats, fails = extract_table(df, extractor, progress=False)
    rate = len(df) / (time.perf_counter() - t1)
    print(
        f"2. features: {feats.shape[1]} columns "
        + ", ".join(
            f"{g} {sum(c.startswith(g + '_') for c in feats.columns)}"
            for g in extractor.transformers_
        )
        + f"; {rate:.0f} img/s; {len(fails)} failures"
    )

    y, groups = df["label"].to_numpy(), df["group"].to_numpy()
    train, test = next(grouped_splits(y, groups, n_splits=4, random_state=args.seed))
    det = DeepfakeDetector(
        feature_groups=args.groups, features=extractor, random_state=args.seed, audit=False
    )
    det.fit(feats.iloc[train], y[train], groups=groups[train])
    print(
        f"3. trained XGBoost on {len(train)} images ({det.best_iteration_} trees, "
        f"scale_pos_weight {det.scale_pos_weight_:.3f}); test: {len(test)} images from "
        f"{len(set(groups[test]))} groups never seen in training"
    )
    metrics = evaluate(det, feats.iloc[test], y[test])
    print_metrics(metrics, "4. held-out metrics:")
    model_dir = out / "model"
    if model_dir.exists():
        import shutil

        shutil.rmtree(model_dir)
    det.save(model_dir)
    print(f"   model saved to {model_dir}")

    n_folds = int(min(3, len(np.unique(groups))))
    res = ablation(
        feats,
        y,
        groups,
        cv=n_folds,
        random_state=args.seed,
        estimator=DeepfakeDetector(n_estimators=200, audit=False, random_state=args.seed),
    )
    summary = res.attrs["summary"]
    print(f"5. ablation, grouped {n_folds}-fold CV (ROC AUC, balanced accuracy; mean ± std):")
    for name, row in summary.iterrows():
        print(
            f"   {name:<14}{row[('roc_auc', 'mean')]:.3f} ± {row[('roc_auc', 'std')]:.3f}   "
            f"{row[('balanced_accuracy', 'mean')]:.3f} ± {row[('balanced_accuracy', 'std')]:.3f}"
        )
    print(
        "   group gain share: "
        + ", ".join(f"{g} {v:.0%}" for g, v in det.group_importances_.items())
    )
    if len(res.attrs["leakage"]):
        print(
            f"   leakage audit: {len(res.attrs['leakage'])} single features separate the "
            "classes almost perfectly (expected on this synthetic set)"
        )
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


def cmd_extract(args: argparse.Namespace) -> int:
    from ..datasets._load import resolve_input
    from ..features._work import start_workers

    if not (getattr(args, "scheduler", None) or getattr(args, "dask_local", None)):
        # the worker processes start and import while this one imports the rest
        start_workers(args.jobs)
    from ._dask import dask_requested, run_extract_dask

    if dask_requested(args):
        return run_extract_dask(args, resolve_input(args.input))

    data = resolve_input(args.input)
    duplicates = data.attrs.get("duplicates")
    data = data.reset_index(drop=True)
    data.attrs["duplicates"] = duplicates
    note_duplicates(data)
    out = Path(args.out)
    cache = None if args.no_cache else Path(args.cache or f"{out}.cache")
    extractor = make_extractor(args, data)
    t0 = time.perf_counter()
    with own_output(out):  # a second run on this --out is refused at once
        n_rows, n_features, counts, failed_rows, fails = stream_features(
            data,
            extractor,
            out,
            cache=cache,
            progress=progress_on(args),
            chunk_size=args.chunk_size,
        )
    seconds = time.perf_counter() - t0
    where = write_failures(out, fails)
    print(f"wrote {out} ({n_rows} rows, {n_features} features); {where}")
    print(summary_line(len(data), fails, failed_rows, seconds, counts["computed"]))
    print(
        f"{counts['extracted']} extracted, {counts['cached']} reused from cache, "
        f"{failed_rows} failed"
    )
    return EXIT_NOTHING_USABLE if n_rows == 0 else EXIT_OK
