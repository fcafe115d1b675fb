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

from ._schema import feature_group

logger = logging.getLogger(__name__)

__all__ = [
    "LEAK_AUC",
    "as_groups",
    "expected_calibration_error",
    "grouped_splits",
    "leakage_report",
    "metrics_from_scores",
    "single_feature_auc",
    "tpr_at_fpr",
]

#: Single-feature AUC at or beyond which a feature is flagged as a probable shortcut.
LEAK_AUC = 0.98


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
