"""Calibration maps compared out-of-sample: none, sigmoid, isotonic, smooth (issue 18).

For every feature table given (a parquet written by ``deepfeat extract``), grouped outer
folds: a ``DeepfakeDetector`` with each calibration is fitted on the other folds (its
calibration map learnt on its own inner validation fold) and scored on the outer test
fold, which no map has seen. Reported per map: ECE, Brier, number of distinct
probabilities, ROC AUC (mean ± std over folds). ``meta_sidecar_*`` columns are dropped
(a default model uses only what the image file gives).

    python scripts/benchmarks/run.py calibration /tmp/dfdc.parquet /tmp/k140.parquet --out cal.json

As a per-topic section of ``scripts/benchmarks/run.py`` (:func:`run`), the tables are the
default extractor's features of the dev sets in ``../shared/data``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from deepfeat import DeepfakeDetector, grouped_splits
from deepfeat._schema import GROUPS, feature_group
from deepfeat.evaluation import metrics_from_scores

#: The document this topic regenerates: a section of it (the ``overview`` topic writes
#: the page; ``run.py calibration`` prints the section).
DOCUMENT = "docs/benchmarks.md"
#: One line for ``run.py --list``.
SUMMARY = "calibration maps compared out-of-sample (also docs/calibration.json from given tables)"

KINDS = (None, "sigmoid", "isotonic", "smooth")
KEYS = ("ece", "brier", "n_distinct_proba", "roc_auc")


def compare(path_or_table: Path | pd.DataFrame, folds: int, seed: int) -> dict:
    """Every calibration map on one feature table (a parquet path or a DataFrame)."""
    if isinstance(path_or_table, pd.DataFrame):
        table, name = path_or_table, "table"
    else:
        table, name = pd.read_parquet(path_or_table), Path(path_or_table).stem
    cols = [
        c
        for c in table.columns
        if feature_group(str(c)) in GROUPS and not str(c).startswith("meta_sidecar_")
    ]
    X, y = table[cols], table["label"].to_numpy().astype(int)
    g = table["group"].astype(str).to_numpy() if "group" in table else np.arange(len(y))
    per_kind: dict[str, list[dict]] = {str(k): [] for k in KINDS}
    for k, (train, test) in enumerate(grouped_splits(y, g, n_splits=folds, random_state=seed)):
        for kind in KINDS:
            t0 = time.perf_counter()
            det = DeepfakeDetector(calibration=kind, audit=False, random_state=seed)
            det.fit(X.iloc[train], y[train], groups=g[train])
            m = metrics_from_scores(y[test], det.predict_proba(X.iloc[test])[:, 1])
            per_kind[str(kind)].append({key: m[key] for key in KEYS} | {"n": m["n"]})
            print(
                f"{name} fold {k} {kind!s:<8} ece {m['ece']:.4f} brier {m['brier']:.4f} "
                f"distinct {m['n_distinct_proba']:>4} auc {m['roc_auc']:.3f} "
                f"({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    summary = {
        kind: {
            key: {
                "mean": float(np.mean([r[key] for r in rows])),
                "std": float(np.std([r[key] for r in rows])),
            }
            for key in KEYS
        }
        for kind, rows in per_kind.items()
    }
    return {"n": len(y), "folds": folds, "per_fold": per_kind, "summary": summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tables", nargs="+", type=Path, help="feature parquet files")
    parser.add_argument("--folds", type=int, default=5, help="grouped outer folds (5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args(argv)
    results = {p.stem: compare(p, args.folds, args.seed) for p in args.tables}
    for name, res in results.items():
        print(f"{name} ({res['n']} images, grouped {res['folds']}-fold CV, mean ± std):")
        print(f"  {'calibration':<12}{'ECE':>16}{'Brier':>16}{'distinct p':>16}{'ROC AUC':>16}")
        for kind, row in res["summary"].items():
            print(
                f"  {kind:<12}"
                + "".join(
                    f"{row[k]['mean']:>9.4f} ± {row[k]['std']:.4f}"
                    if k != "n_distinct_proba"
                    else f"{row[k]['mean']:>10.0f} ± {row[k]['std']:>3.0f}"
                    for k in KEYS
                )
            )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


TITLE = "Calibration maps out-of-sample (issue 18)"
#: The default calibration cites these numbers: measure them on the whole dev sets.
FULL_IN_FULL_RUN = True


def run(quick: bool = False) -> dict:
    """Per-topic entry of ``scripts/benchmarks/run.py``: the comparison on the dev sets."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _bench_common as bc

    from deepfeat import ImageFeatures
    from deepfeat.features._cache import extract_table

    sets = bc.load_sets(quick)
    if not sets:
        return {"title": TITLE, "markdown": "*Skipped: dev data absent.*", "results": {}}
    folds = 3 if quick else 5
    ext = ImageFeatures().fit()
    results, lines = {}, []
    for name, df in sets.items():
        feats, _ = extract_table(df[["path"]], ext, cache_dir=bc.CACHE_ROOT / "calibration")
        table = pd.concat([df[["label", "group"]].reset_index(drop=True), feats], axis=1)
        res = compare(table.dropna(subset=list(feats.columns), how="all"), folds, 0)
        results[name] = res
        lines += [
            f"**{name}** ({res['n']} images, grouped {res['folds']}-fold CV, mean ± std; "
            "default extractor)",
            "",
            "| calibration | ECE | Brier | distinct p | ROC AUC |",
            "|---|---|---|---|---|",
        ]
        for kind, row in res["summary"].items():
            cells = [
                f"{row[k]['mean']:.4f} ± {row[k]['std']:.4f}"
                if k != "n_distinct_proba"
                else f"{row[k]['mean']:.0f} ± {row[k]['std']:.0f}"
                for k in KEYS
            ]
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
        lines.append("")
    return {"title": TITLE, "markdown": "\n".join(lines), "results": results}
