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
    import pandas as pd

    from ._video import integer_columns, split_inputs, video_rows

    det = configure_model(load_model(args.model), args)
    set_threshold(det, args)
    specs, videos = split_inputs(args.inputs)
    parts = [prediction_table(det, prediction_input(det, specs), args.top)] if specs else []
    if videos:
        parts.append(video_rows(det, videos, args))
    out = integer_columns(pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0])
    if videos and "kind" in out.columns:
        out["kind"] = out["kind"].fillna("image")
    failed = out["probability_fake"].isna().to_numpy()
    warn_out_of_domain(det, out[out["kind"].ne("frame")] if "kind" in out.columns else out)
    if not args.out and (len(out) == 1 or (len(videos) == 1 and not specs)):
        rows = [json_row(r, det.threshold) for _, r in out.iterrows()]
        row = {k: v for k, v in rows[0].items() if not (k == "frame" and v is None)}
        if len(rows) > 1:  # --per-frame: the frames of the one video
            keep = ("path", "probability_fake")
            row["frames"] = [
                {k: v for k, v in r.items() if (v is not None or k in keep) and k != "threshold"}
                for r in rows[1:]
            ]
        print(json.dumps(row, indent=2, default=float))
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
    out["domain_score"] = ex["domain_score"].to_numpy(dtype=float)
    out["in_domain"] = ex["in_domain"].to_numpy()
    out["domain_reasons"] = [domain_text(r) for r in ex["domain_reasons"]]
    out.attrs["features"] = feats
    return out


def domain_text(deviations: list) -> str:
    """``feature z`` pairs of an out-of-domain row, as one string."""
    return "; ".join(f"{name} z={z:+.1f}" for name, z in deviations)


def warn_out_of_domain(det, out) -> None:
    """One line on stderr per out-of-domain input (the first five), then a count."""
    if getattr(det, "domain_", None) is None:
        print(
            "note: this model has no out-of-domain check (trained with --domain-fpr 0 or "
            "by deepfeat before 0.3): verdicts on unfamiliar images are not flagged",
            file=sys.stderr,
        )
        return
    flagged = out[out["in_domain"].eq(False).fillna(False).to_numpy(dtype=bool)]
    for row in flagged.head(5).itertuples():
        why = f": unlike the training images in {row.domain_reasons}" if row.domain_reasons else ""
        print(
            f"WARNING: {row.path} is out of domain (domain score {row.domain_score:.1f} > 1)"
            f"{why}; this verdict cannot be trusted",
            file=sys.stderr,
        )
    if len(flagged) > 5:
        print(
            f"WARNING: … and {len(flagged) - 5} more out-of-domain inputs "
            f"({len(flagged)} of {len(out)}; see the in_domain column)",
            file=sys.stderr,
        )


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
    from ..datasets._load import resolve_input
    from ..report._write import write_report

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
