"""Issue 6's detector training-time section of the overview (a 5000 x ~1400 table)."""

from __future__ import annotations

import time
import warnings
from typing import Any

import _bench_common as bc
import numpy as np
import pandas as pd
from _bench_setup import (
    LIBRARY_DEFAULT,
    Ctx,
    md_table,
)


# ---- issue 6: detector training time
def section_training(ctx: Ctx) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score
    from xgboost import XGBClassifier

    from deepfeat import DeepfakeDetector, grouped_splits

    feat = LIBRARY_DEFAULT.feat
    tables, labels, groups = [], [], []
    for name, df in ctx.sets.items():
        tables.append(ctx.table(name, feat))
        labels.append(df["label"].to_numpy())
        groups.append((name + ":" + df["group"]).to_numpy())
    base = pd.concat(tables, ignore_index=True)
    y0, g0 = np.concatenate(labels), np.concatenate(groups)
    n_rows = 1500 if ctx.quick else 5000
    rng = np.random.default_rng(0)
    idx = rng.choice(len(base), size=n_rows, replace=len(base) < n_rows)
    X = base.to_numpy(dtype=np.float32)[idx]
    with warnings.catch_warnings():  # all-NaN metadata columns
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(base.to_numpy(dtype=np.float64), axis=0)
    noisy = np.isfinite(sd) & (sd > 0) & (base.nunique().to_numpy() > 10)
    X[:, noisy] += (rng.normal(size=(n_rows, int(noisy.sum()))) * 0.05 * sd[noisy]).astype(
        np.float32
    )
    table = pd.DataFrame(X, columns=base.columns)
    y, g = y0[idx], g0[idx]
    tr, te = next(grouped_splits(y, g, n_splits=5, random_state=0))
    spw = float((y[tr] == 0).sum() / (y[tr] == 1).sum())
    rows, results = [], {}

    def naive(n_jobs):
        return XGBClassifier(
            n_estimators=300,
            max_depth=6,
            tree_method="hist",
            scale_pos_weight=spw,
            random_state=0,
            n_jobs=n_jobs,
        )

    candidates = {
        "DeepfakeDetector() defaults": lambda: DeepfakeDetector(random_state=0),
        "DeepfakeDetector(linear_probe=False)": lambda: DeepfakeDetector(
            random_state=0, linear_probe=False
        ),
        "naive XGBoost (300 trees, depth 6, lr 0.3)": lambda: naive(None),
        "DeepfakeDetector(linear_probe=False, n_jobs=1)": lambda: DeepfakeDetector(
            random_state=0, linear_probe=False, n_jobs=1
        ),
    }
    for label, make in candidates.items():
        model = make()
        t0 = time.perf_counter()
        if isinstance(model, DeepfakeDetector):
            model.fit(table.iloc[tr], y[tr], groups=g[tr])
            p = model.predict_proba(table.iloc[te])[:, 1]
            trees = model.best_iteration_
        else:
            model.fit(X[tr], y[tr])
            p = model.predict_proba(X[te])[:, 1]
            trees = 300
        secs = time.perf_counter() - t0
        auc = float(roc_auc_score(y[te], p))
        results[label] = {
            "train_seconds": round(secs, 2),
            "heldout_auc": auc,
            "trees": trees,
            "load_after": bc.load_average()[0],
        }
        rows.append([label, f"{secs:.1f}", trees, f"{auc:.3f}", results[label]["load_after"]])
    d = results["DeepfakeDetector() defaults"]
    x = results["DeepfakeDetector(linear_probe=False)"]
    n = results["naive XGBoost (300 trees, depth 6, lr 0.3)"]
    x1 = results["DeepfakeDetector(linear_probe=False, n_jobs=1)"]
    det = DeepfakeDetector()
    lines = [
        f"A {n_rows} × {X.shape[1]} table of real features (the v0.1 extractor: CNN head 1280 "
        "+ spectrum 64 + metadata 113 columns of DFDC and k140 together, rows resampled with "
        "replacement, 5 % of each column's std of Gaussian jitter on the continuous columns so "
        "that no two rows are identical); held-out = one grouped fold (a resampled row stays "
        f"on the side of its source image's group), {len(te)} rows. All with `scale_pos_weight "
        "= n_real / n_fake`. The detector's time includes its grouped early-stopping fold, the "
        "refit on all rows and the leakage audit. `DeepfakeDetector()` uses the defaults of "
        f"this checkout (`linear_probe={det.linear_probe}`, `n_jobs={det.n_jobs}`); "
        "`linear_probe=False` isolates the XGBoost hyper-parameters of issue 6 "
        f"(`n_estimators={det.n_estimators}` with early stopping, `learning_rate="
        f"{det.learning_rate}`, `max_depth={det.max_depth}`, `colsample_bytree/bynode="
        f"{det.colsample_bytree}/{det.colsample_bynode}`, `max_bin={det.max_bin}`).",
        "",
        md_table(["model", "train s", "trees", "held-out AUC", "1-min load after"], rows, "lrrrr"),
        "",
        f"XGBoost defaults vs the naive model: {x['train_seconds']:.1f} s vs "
        f"{n['train_seconds']:.1f} s ({n['train_seconds'] / max(x['train_seconds'], 1e-9):.1f}× "
        f"faster), held-out AUC {x['heldout_auc']:.3f} vs {n['heldout_auc']:.3f}; one thread: "
        f"{x1['train_seconds']:.1f} s. Target ≤ 15 s on 2 cores: "
        f"{'met' if min(x['train_seconds'], x1['train_seconds']) <= 15 else 'NOT met'}. "
        f"With the stacked probe (today's defaults): {d['train_seconds']:.1f} s, AUC "
        f"{d['heldout_auc']:.3f}. This table mixes the two sources, where one linear probe "
        "for both does worse than trees that can split on the source first (see item 5 of "
        "the experiments); within one source the probe wins (*In-domain*).",
    ]
    results["n_rows"], results["n_columns"] = n_rows, int(X.shape[1])
    return {
        "title": "Detector training time (issue 6)",
        "markdown": "\n".join(lines),
        "results": results,
    }
