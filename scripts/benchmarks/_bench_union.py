"""Issue 12's union experiment: one model trained on both dev sets (per-source
standardisation, source weights) against one per set."""

from __future__ import annotations

import warnings
from typing import Any

import _bench_common as bc
import numpy as np
import pandas as pd
from _bench_setup import Ctx, Feat, md_table


def _standardise_per_source(X: pd.DataFrame, sources: np.ndarray) -> pd.DataFrame:
    """z-score every column within each source (label-free statistics of that source)."""
    out = X.to_numpy(dtype=np.float64).copy()
    for s in np.unique(sources):
        rows = sources == s
        block = out[rows]
        with warnings.catch_warnings():  # all-NaN columns → mean 0, std 1 below
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(block, axis=0)
            std = np.nanstd(block, axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        out[rows] = (block - mean) / std
    return pd.DataFrame(out.astype(np.float32), columns=X.columns)


def _source_weights(df: pd.DataFrame) -> np.ndarray:
    counts = df.groupby(["source", "label"])["path"].transform("size").to_numpy(dtype=float)
    w = 1.0 / counts
    return w * len(w) / w.sum()


def _experiment_union(ctx: Ctx, feat: Feat) -> tuple[str, dict[str, Any]]:
    from deepfeat import grouped_splits

    names = list(ctx.sets)
    df = pd.concat([ctx.sets[n] for n in names], ignore_index=True)
    df["group"] = df["source"] + ":" + df["group"]
    X = pd.concat([ctx.table(n, feat) for n in names], ignore_index=True)
    Xs = _standardise_per_source(X, df["source"].to_numpy())
    cnn_cols = [c for c in X.columns if c.startswith("cnn_")]
    y, g = df["label"].to_numpy(), df["group"].to_numpy()
    strat = y * 2 + (df["source"].to_numpy() == names[1])  # both sources in every fold
    splits = list(grouped_splits(strat, g, n_splits=ctx.n_folds))
    w_src = _source_weights(df)
    variants = {
        "union, stacked probe": (X, None, "stack", X.columns),
        "union + per-source standardisation, stacked probe": (Xs, None, "stack", X.columns),
        "union + source-balanced weights, stacked probe": (X, w_src, "stack", X.columns),
        "union + both, stacked probe": (Xs, w_src, "stack", X.columns),
        "union, linear probe (CNN)": (X, None, "lr", cnn_cols),
        "union + per-source standardisation, linear probe": (Xs, None, "lr", cnn_cols),
        "union + source-balanced weights, linear probe": (X, w_src, "lr", cnn_cols),
        "union + both, linear probe": (Xs, w_src, "lr", cnn_cols),
    }
    makers = {"stack": bc.StackedProbe, "lr": lambda: bc.LinearProbe(0.02)}
    rows, results = [], {}
    for label, (table, weights, kind, cols) in variants.items():
        per_source = {n: [] for n in names}
        pooled = []
        for tr, te in splits:
            model = makers[kind]()
            model.fit(
                table.iloc[tr][cols].reset_index(drop=True),
                y[tr],
                g[tr],
                None if weights is None else weights[tr],
            )
            s = model.score(table.iloc[te][cols].reset_index(drop=True))
            pooled.append(bc.fold_metrics(y[te], s, model.threshold))
            src = df["source"].to_numpy()[te]
            for n in names:
                per_source[n].append(bc.fold_metrics(y[te][src == n], s[src == n], 0.5))
        res = {"pooled": bc.summarise(pooled)}
        res.update({n: bc.summarise(v) for n, v in per_source.items()})
        results[label] = res
        rows.append([label, bc.fmt(res["pooled"]), *[bc.fmt(res[n]) for n in names]])
    # cross-source with and without per-source standardisation
    cross_rows = []
    for train, test in ctx.directions():
        Xtr, Xte = ctx.table(train, feat), ctx.table(test, feat)
        dtr, dte = ctx.sets[train], ctx.sets[test]
        for kind, cols in (("stack", list(Xtr.columns)), ("lr", cnn_cols)):
            out = {}
            for std in (False, True):
                a, b = Xtr[cols], Xte[cols]
                if std:
                    a = _standardise_per_source(a, np.zeros(len(a)))
                    b = _standardise_per_source(b, np.zeros(len(b)))
                model = makers[kind]()
                model.fit(a, dtr["label"].to_numpy(), dtr["group"].to_numpy())
                out[std] = bc.fold_metrics(dte["label"].to_numpy(), model.score(b), 0.5)
            results[f"cross {train}->{test} {kind}"] = {
                "plain": out[False],
                "per_source_standardised": out[True],
            }
            cross_rows.append(
                [
                    f"{train} → {test}",
                    "stacked probe" if kind == "stack" else "linear probe (CNN)",
                    f"{out[False]['roc_auc']:.3f}",
                    f"{out[True]['roc_auc']:.3f}",
                    f"{out[True]['roc_auc'] - out[False]['roc_auc']:+.3f}",
                    f"{out[False]['balanced_accuracy']:.3f} → {out[True]['balanced_accuracy']:.3f}",
                ]
            )
    lines = [
        f"**5. Training on DFDC + k140 together** ({feat.label()}). Grouped {ctx.n_folds}-fold "
        "CV on the union (stratified by source × label, so both sources are in every fold); "
        "AUC on the pooled test fold and per source. Per-source standardisation z-scores "
        "every column with the label-free mean/std of its own source (at deployment: of "
        "the batch or of a reference set from the same source); source-balanced weights "
        "give every source × class cell the same total weight. `DeepfakeDetector.fit` has "
        "no `sample_weight`, so the stacked probe is re-implemented here with weights "
        "(grouped out-of-fold probe score of the CNN block, C = 0.02, + the other columns "
        "into XGBoost with the detector's hyper-parameters); the linear probe is C = 0.02 "
        "on the CNN block alone.",
        "",
        md_table(["training", "pooled AUC", *[f"{n} AUC" for n in names]], rows, "lrrr"),
        "",
        "Cross-source (train on one set, test on the other) without and with per-source "
        "standardisation (each set standardised with its own statistics):",
        "",
        md_table(
            ["train → test", "model", "plain AUC", "standardised AUC", "Δ", "bal. acc."],
            cross_rows,
            "llrrrl",
        ),
    ]
    return "\n".join(lines), results
