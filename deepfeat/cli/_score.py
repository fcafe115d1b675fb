"""``deepfeat predict``, ``evaluate``, ``ablation`` and ``report``: scoring with a saved model."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..features._table import read_features
from ._common import (
    EXIT_NOTHING_USABLE,
    EXIT_OK,
    UserError,
    configure_model,
    load_model,
    note_duplicates,
    prediction_input,
    print_metrics,
    progress_on,
    reason_text,
    set_threshold,
    stage_line,
)

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def cmd_predict(args: argparse.Namespace) -> int:
    det = configure_model(load_model(args.model), args)
    set_threshold(det, args)
    data = prediction_input(det, args.inputs)
    out = prediction_table(det, data, top=args.top)
    failed = out["label"].eq("").to_numpy()
    if len(out) == 1 and not args.out:
        print(json.dumps(json_row(out.iloc[0], det.threshold), indent=2, default=float))
    else:
        target = args.out or "-"
        if target == "-":
            out.to_csv(sys.stdout, index=False)
        else:
            out.to_csv(target, index=False)
            print(f"wrote {target}: {int((~failed).sum())} predictions, {int(failed.sum())} failed")
    return EXIT_NOTHING_USABLE if failed.all() else EXIT_OK


def prediction_table(det, data, top: int = 3):
    """``deepfeat predict``'s rows for ``data`` (a dataset frame with ``path``): one per
    input, with ``probability_fake``, ``label`` ("" when it failed), ``contrib_*``,
    ``top_reasons`` and ``error``; ``attrs["features"]`` keeps the extracted table.
    Shared with ``deepfeat serve``."""
    import numpy as np

    feats = det.extract(data)  # extracted once, then explained
    fails = det.extraction_failures_
    feats.attrs.clear()  # pandas deep-copies attrs on every column access: 1 s on 1200 columns
    ex = det.explain(feats, top=top)
    failed = feats.isna().all(axis=1).to_numpy()
    proba = np.where(failed, np.nan, ex["proba"].to_numpy(dtype=float))
    label = np.where(failed, "", np.where(proba >= det.threshold, "fake", "real"))
    out = data[["path"]].copy()
    out["probability_fake"] = proba
    out["label"] = label
    for col in [c for c in ex.columns if c.startswith("contrib_")]:
        out[col] = np.where(failed, np.nan, ex[col].to_numpy(dtype=float))  # no score, no why
    out["top_reasons"] = [
        reason_text(r) if not f else "" for r, f in zip(ex["top_features"], failed)
    ]
    reasons = {r["path"]: f"{r['stage']}: {r['reason']}" for r in fails.to_dict("records")}
    out["error"] = [reasons.get(p, "") if f else "" for p, f in zip(out["path"], failed)]
    out.attrs["features"] = feats
    return out


def json_row(row, threshold: float) -> dict:
    """One row of :func:`prediction_table` as JSON-ready values (NaN → None), plus the
    threshold it was labelled with."""
    import numpy as np
    import pandas as pd

    out = {}
    for k, v in row.to_dict().items():
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v
    out["threshold"] = float(threshold)
    return out


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate

    det = configure_model(load_model(args.model), args)
    spec = Path(args.input)
    if spec.suffix == ".parquet" and spec.is_file():
        data, _ = read_features(spec)
    else:
        data = prediction_input(det, [args.input])
    if "label" not in data.columns:
        raise UserError(f"{args.input}: evaluation needs labels")
    t0 = time.perf_counter()
    metrics = evaluate(det, data, data["label"].to_numpy())
    stage_line(f"scored {metrics['n']} images in {time.perf_counter() - t0:.1f} s")
    print_metrics(metrics, f"held-out metrics on {args.input}:")
    if args.out:
        Path(args.out).write_text(json.dumps(metrics, indent=2))
        print(f"wrote {args.out}")
    return EXIT_OK


def cmd_ablation(args: argparse.Namespace) -> int:
    from .._schema import GROUPS, feature_group
    from ..evaluation import ablation
    from ._train import training_table

    table, _ = training_table(args)
    cols = [c for c in table.columns if feature_group(str(c)) in GROUPS and c not in ("group",)]
    cols = [c for c in cols if str(c) not in ("label", "path")]
    t0 = time.perf_counter()
    res = ablation(
        table[cols],
        table["label"].to_numpy(),
        table.get("group"),
        cv=args.cv,
        random_state=args.seed,
        progress=progress_on(args),
    )
    summary = res.attrs["summary"]
    stage_line(
        f"ablation: {len(summary)} feature subsets × {args.cv} grouped folds on {len(table)} "
        f"images in {time.perf_counter() - t0:.1f} s"
    )
    n_flag = len(res.attrs["leakage"])
    stage_line(
        "leakage audit: nothing flagged"
        if not n_flag
        else f"leakage audit: {n_flag} feature(s) alone separate the classes (warnings below)"
    )
    print(f"grouped {args.cv}-fold CV (mean ± std over folds):")
    print(f"{'features':<16}{'ROC AUC':>16}{'avg precision':>18}{'balanced acc':>18}")
    for name, row in summary.iterrows():
        print(
            f"{name:<16}"
            f"{row[('roc_auc', 'mean')]:>9.3f} ± {row[('roc_auc', 'std')]:.3f}"
            f"{row[('average_precision', 'mean')]:>11.3f} ± {row[('average_precision', 'std')]:.3f}"
            f"{row[('balanced_accuracy', 'mean')]:>11.3f} ± {row[('balanced_accuracy', 'std')]:.3f}"
        )
    for text in res.attrs["leakage"]["explanation"][:10]:
        print(f"LEAKAGE WARNING: {text}", file=sys.stderr)
    if args.out:
        res.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from ..datasets import resolve_input
    from ..report import write_report

    spec = Path(args.input)
    if spec.suffix == ".parquet" and spec.is_file():
        data = str(spec)  # the table 'extract' wrote: read, nothing is re-extracted
        stage_line(f"features: read from {spec} (not re-extracted)")
        labelled = "label" in parquet_columns(spec)
    else:
        data = resolve_input(args.input)
        note_duplicates(data)
        labelled = "label" in data.columns
    if not labelled:
        stage_line("no labels: the figures that need them (classes, metrics, curves) are left out")
    det = configure_model(load_model(args.model), args) if args.model else None
    training = {"yes": True, "no": False, None: None}[args.training_data]
    page = write_report(
        data, args.out, detector=det, training_data=training, progress=progress_on(args)
    )
    stage_line(f"wrote {page}")
    return EXIT_OK


def parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)
