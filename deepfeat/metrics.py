"""Grouped splits, imbalance-aware metrics and the leakage audit (below the detector).

The detector uses these while it trains; :mod:`deepfeat.evaluation` builds ``evaluate`` and
``ablation`` on top of the detector.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from ._schema import GROUPS, feature_group

logger = logging.getLogger(__name__)

__all__ = [
    "LEAK_AUC",
    "as_groups",
    "expected_calibration_error",
    "grouped_splits",
    "leakage_report",
    "metrics_from_scores",
    "single_feature_auc",
    "source_report",
    "tpr_at_fpr",
]

#: Single-feature AUC at or beyond which a feature is flagged as a probable shortcut.
LEAK_AUC = 0.98
#: AUC (either way) at or beyond which a model's score is said to tell real images of two
#: sources apart (:func:`source_report`).
SOURCE_AUC = 0.75
#: Fewest rows of a source for it to enter :func:`source_report`.
SOURCE_MIN_ROWS = 10


def as_groups(groups: Any, n: int) -> np.ndarray:
    """Groups as a str array of length ``n`` (``None``: one group per sample).

    Examples
    --------
    >>> as_groups(None, 3).tolist()
    ['0', '1', '2']
    """
    if groups is None:
        return np.arange(n).astype(str)
    arr = np.asarray(groups).astype(str)
    if len(arr) != n:
        raise ValueError(f"groups has {len(arr)} entries for {n} samples")
    return arr


def grouped_splits(
    y: Any, groups: Any = None, *, n_splits: int = 5, random_state: int | None = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold splits that never put one group on both sides.

    Parameters
    ----------
    y : array-like of {0, 1}
    groups : array-like, optional
        Group of every sample (a fake and its source video share one). ``None``: one group
        per sample.
    n_splits : int, default=5
    random_state : int or None, default=0

    Yields
    ------
    train_index, test_index : numpy.ndarray

    Examples
    --------
    >>> y = [0, 1, 1, 0, 1, 1, 0, 1, 1, 0]
    >>> g = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]
    >>> for train, test in grouped_splits(y, g, n_splits=2):
    ...     assert not {g[i] for i in train} & {g[i] for i in test}
    """
    y = np.asarray(y)
    g = as_groups(groups, len(y))
    n_groups = len(np.unique(g))
    if n_groups < n_splits:
        raise ValueError(f"{n_groups} groups cannot make {n_splits} grouped folds")
    try:
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        splits = list(splitter.split(np.zeros(len(y)), y, g))
    except ValueError:
        splits = list(GroupKFold(n_splits=n_splits).split(np.zeros(len(y)), y, g))
    yield from splits


def tpr_at_fpr(y_true: Any, scores: Any, fpr: float) -> float:
    """True-positive rate (fakes caught) at a false-positive rate of at most ``fpr``."""
    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    fprs, tprs, _ = roc_curve(y_true, scores)
    ok = fprs <= fpr + 1e-12
    return float(tprs[ok].max()) if ok.any() else 0.0


def expected_calibration_error(y_true: Any, proba: Any, n_bins: int = 10) -> float:
    """Expected calibration error with equal-width probability bins (weighted by bin size)."""
    y_true = np.asarray(y_true, dtype=float)
    proba = np.asarray(proba, dtype=float)
    bins = np.clip((proba * n_bins).astype(int), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(y_true[mask].mean() - proba[mask].mean())
    return float(ece)


def metrics_from_scores(y_true: Any, proba: Any, threshold: float = 0.5) -> dict[str, Any]:
    """Imbalance-aware metrics of fake-probabilities against labels (0 real, 1 fake).

    Returns ROC AUC, average precision, balanced accuracy and the confusion matrix at
    ``threshold``, TPR at 1 % and 5 % FPR, Brier score, expected calibration error and the
    number of distinct probabilities (a step-shaped calibration map gives few), plus the
    counts. Plain accuracy is deliberately absent: on fake-heavy data it rewards
    predicting "fake" for everything.
    """
    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    ok = np.isfinite(proba)
    if not ok.all():
        logger.warning("%d samples without a score were left out of the metrics", (~ok).sum())
        y_true, proba = y_true[ok], proba[ok]
    pred = (proba >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    tn, fp, fn, tp = confusion_matrix(y_true, pred, labels=[0, 1]).ravel()
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)) if both else float("nan"),
        "average_precision": float(average_precision_score(y_true, proba))
        if both
        else float("nan"),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)) if both else float("nan"),
        "tpr_at_1pct_fpr": tpr_at_fpr(y_true, proba, 0.01),
        "tpr_at_5pct_fpr": tpr_at_fpr(y_true, proba, 0.05),
        "brier": float(brier_score_loss(y_true, proba)),
        "ece": expected_calibration_error(y_true, proba),
        "n_distinct_proba": int(np.unique(proba).size),
        "threshold": float(threshold),
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "n": len(y_true),
        "n_real": int((y_true == 0).sum()),
        "n_fake": int((y_true == 1).sum()),
    }


def leakage_report(features: pd.DataFrame, y: Any, groups: Any = None) -> pd.DataFrame:
    """Single-feature AUCs that reveal dataset shortcuts.

    For every feature column, the ROC AUC of the raw feature value as a fake-score (NaN
    treated as the lowest value); features with AUC ≥ 0.98 or ≤ 0.02 are flagged as a
    probable shortcut (the two classes differ in something that is not the manipulation:
    image size, JPEG tables, a sidecar column, a file-naming artefact …). A row for the
    metadata group as a whole (grouped 3-fold logistic regression) is added.

    Parameters
    ----------
    features : pandas.DataFrame
        Feature table (``cnn_*``, ``fft_*``, ``meta_*`` columns).
    y : array-like of {0, 1}
    groups : array-like, optional
        Used for the grouped folds of the metadata-group model.

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``group``, ``auc``, ``flag``, ``explanation``, sorted with the
        most separating features first.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> y = np.array([0, 0, 1, 1, 0, 1])
    >>> X = pd.DataFrame({"meta_container_width": [224, 224, 256, 256, 224, 256],
    ...                   "fft_000": [0.1, 0.5, 0.3, 0.2, 0.4, 0.6]})
    >>> row = leakage_report(X, y).iloc[0]
    >>> str(row["feature"]), bool(row["flag"])
    ('meta_container_width', True)
    """
    y = np.asarray(y).astype(int)
    both = len(np.unique(y)) == 2
    aucs = single_feature_auc(features, y) if both else np.full(features.shape[1], 0.5)
    report = pd.DataFrame(
        {
            "feature": list(features.columns),
            "group": [feature_group(str(c)) for c in features.columns],
            "auc": aucs,
        }
    )
    meta_cols = [c for c in features.columns if feature_group(c) == "meta"]
    if meta_cols and both:
        auc = _group_auc(features[meta_cols], y, groups)
        report = pd.concat(
            [
                report,
                pd.DataFrame([{"feature": "meta (whole group)", "group": "meta", "auc": auc}]),
            ],
            ignore_index=True,
        )
    strength = (report["auc"] - 0.5).abs()
    report["flag"] = (report["auc"] >= LEAK_AUC) | (report["auc"] <= 1 - LEAK_AUC)
    report["explanation"] = [
        _explain(f, a) if flag else ""
        for f, a, flag in zip(report.feature, report.auc, report.flag)
    ]
    report = report.assign(_s=strength).sort_values("_s", ascending=False, kind="stable")
    return report.drop(columns="_s").reset_index(drop=True)


def single_feature_auc(features: pd.DataFrame | np.ndarray, y: Any) -> np.ndarray:
    """ROC AUC of every column used alone as a fake-score, vectorised (Mann–Whitney U).

    NaN is ranked below every value; constant columns give 0.5.
    """
    from scipy.stats import rankdata

    values = np.asarray(features, dtype=np.float64)
    y = np.asarray(y).astype(int)
    values = np.where(np.isnan(values), -np.inf, values)
    ranks = rankdata(values, axis=0)  # average ranks for ties
    n_pos = int((y == 1).sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return np.full(values.shape[1], np.nan)
    u = ranks[y == 1].sum(axis=0) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def _group_auc(block: pd.DataFrame, y: np.ndarray, groups: Any) -> float:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    values = block.to_numpy(dtype=float)
    values = values[:, np.isfinite(values).sum(axis=0) > 1]
    values = values[:, np.nanstd(values, axis=0) > 0]
    if not values.shape[1]:
        return 0.5
    g = as_groups(groups, len(y))
    n_splits = min(3, len(np.unique(g)), int(np.bincount(y).min()))
    if n_splits < 2:
        return float("nan")
    scores = np.full(len(y), np.nan)
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=500),
    )
    for train, test in grouped_splits(y, g, n_splits=n_splits):
        if len(np.unique(y[train])) < 2:
            continue
        model.fit(values[train], y[train])
        scores[test] = model.predict_proba(values[test])[:, 1]
    ok = np.isfinite(scores)
    if len(np.unique(y[ok])) < 2:
        return float("nan")
    return float(roc_auc_score(y[ok], scores[ok]))


def _explain(feature: str, auc: float) -> str:
    direction = "higher" if auc >= 0.5 else "lower"
    text = (
        f"'{feature}' alone separates the classes (AUC {auc:.3f}): fakes have {direction} "
        "values almost always. "
    )
    if feature.startswith("meta"):
        text += (
            "A file property (size, format, JPEG tables, EXIF, sidecar column) differs between "
            "the real and fake sources; the model may learn the source, not the manipulation. "
            "Check that both classes come from the same pipeline, or drop the feature."
        )
    else:
        text += (
            "A single pixel statistic should not be this decisive on real data; check for "
            "resizing or re-encoding differences between the classes."
        )
    return text


def source_report(
    features: pd.DataFrame,
    source: Any,
    y: Any = None,
    groups: Any = None,
    scores: Any = None,
) -> pd.DataFrame:
    """How well the features, and a model's score, tell the *real* images of sources apart.

    A detector trained on fakes of one source and reals of another, or on sources that
    differ in size, JPEG settings or camera, can learn the source instead of the fake. Its
    own score then separates real images of one source from real images of another, which
    it never should: a real image is real wherever it comes from. This audit measures that
    per pair of sources, next to :func:`leakage_report`.

    Parameters
    ----------
    features : pandas.DataFrame
        Feature table (``cnn_*``, ``fft_*``, ``meta_*`` columns; others are ignored).
    source : array-like of str
        Source of each row (a dataset, a camera, a video collection …).
    y : array-like of {0, 1}, optional
        Labels: only real rows (0) are compared. Without labels every row is.
    groups : array-like, optional
        Groups for the grouped folds of the feature classifiers.
    scores : array-like of float, optional
        The model's P(fake) for the rows, ideally out-of-sample (the detector passes its
        held-out validation scores).

    Returns
    -------
    pandas.DataFrame
        One row per pair of sources with at least ``SOURCE_MIN_ROWS`` rows each:
        ``source_a``, ``source_b``, ``n_a``, ``n_b``, ``auc_features`` (grouped 3-fold
        logistic regression on every feature telling ``b`` from ``a``), ``auc_<group>``
        (the same per feature group), ``auc_score`` (the score as a "``b``" score),
        ``flag`` (``auc_score`` ≥ ``SOURCE_AUC`` or ≤ 1 − ``SOURCE_AUC``) and
        ``explanation``. Empty (same columns) with fewer than two such sources.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"fft_000": np.r_[rng.normal(0, 1, 30), rng.normal(3, 1, 30)]})
    >>> src = ["a"] * 30 + ["b"] * 30
    >>> rep = source_report(X, src, scores=X["fft_000"].to_numpy())
    >>> bool(rep.loc[0, "flag"]), bool(rep.loc[0, "auc_features"] > 0.9)
    (True, True)
    """
    source = np.asarray(source).astype(str)
    n = len(source)
    if len(features) != n:
        raise ValueError(f"source has {n} entries for {len(features)} rows")
    keep = np.ones(n, dtype=bool) if y is None else np.asarray(y).astype(int) == 0
    g = as_groups(groups, n)
    cols = [c for c in features.columns if feature_group(str(c)) in GROUPS]
    by_group: dict[str, list[str]] = {}
    for c in cols:
        by_group.setdefault(feature_group(str(c)), []).append(c)
    s = None if scores is None else np.asarray(scores, dtype=float)
    names, counts = np.unique(source[keep], return_counts=True)
    names = [str(a) for a, c in zip(names, counts) if c >= SOURCE_MIN_ROWS]
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            rows_ab = keep & np.isin(source, [a, b])
            target = (source[rows_ab] == b).astype(int)
            block = features.loc[rows_ab, cols].reset_index(drop=True)
            row: dict[str, Any] = {
                "source_a": a,
                "source_b": b,
                "n_a": int((target == 0).sum()),
                "n_b": int((target == 1).sum()),
                "auc_features": _group_auc(block, target, g[rows_ab]) if cols else np.nan,
            }
            for name, members in by_group.items():
                row[f"auc_{name}"] = _group_auc(block[members], target, g[rows_ab])
            row["auc_score"] = np.nan
            if s is not None:
                ok = np.isfinite(s[rows_ab])
                if len(np.unique(target[ok])) == 2:
                    row["auc_score"] = float(roc_auc_score(target[ok], s[rows_ab][ok]))
            rows.append(row)
    columns = ["source_a", "source_b", "n_a", "n_b", "auc_features"]
    columns += [f"auc_{g}" for g in by_group] + ["auc_score"]
    report = pd.DataFrame(rows, columns=columns)
    auc = report["auc_score"].astype(float)
    report["flag"] = (auc >= SOURCE_AUC) | (auc <= 1 - SOURCE_AUC)
    report["explanation"] = [_explain_source(r, y is not None) for r in report.to_dict("records")]
    return report


def _explain_source(row: dict[str, Any], reals: bool) -> str:
    what = "real images" if reals else "images"
    a, b, auc = row["source_a"], row["source_b"], row["auc_score"]
    if not row["flag"]:
        return ""
    more = b if auc >= 0.5 else a
    text = (
        f"The model's P(fake) tells {what} of '{a}' from {what} of '{b}' (AUC {auc:.2f}; "
        f"'{more}' scored more fake): it has learned something about the sources, not only "
        "about fakes. Its verdicts on images from a new source are not to be trusted."
    )
    feats = row.get("auc_features")
    if feats is not None and np.isfinite(feats) and max(feats, 1 - feats) >= LEAK_AUC:
        text += f" The features alone tell the two sources apart (AUC {feats:.2f})."
    return text
