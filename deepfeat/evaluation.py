"""Honest evaluation of a detector: ``evaluate`` and per-group ``ablation``.

Splits, metrics and the leakage audit live in :mod:`deepfeat.metrics` (below the detector)
and are re-exported here.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from ._schema import GROUPS, feature_group
from .metrics import (
    LEAK_AUC,
    as_groups,
    expected_calibration_error,
    grouped_splits,
    leakage_report,
    metrics_from_scores,
    single_feature_auc,
    tpr_at_fpr,
)

logger = logging.getLogger(__name__)

#: evaluate and ablation, plus the splits, metrics and leakage audit of deepfeat.metrics
__all__ = [
    "LEAK_AUC",
    "ablation",
    "evaluate",
    "expected_calibration_error",
    "grouped_splits",
    "leakage_report",
    "metrics_from_scores",
    "single_feature_auc",
    "tpr_at_fpr",
]


def evaluate(detector: Any, X: Any, y: Any = None, groups: Any = None) -> dict[str, Any]:
    """Score a fitted detector on held-out data.

    Parameters
    ----------
    detector : fitted DeepfakeDetector (or any classifier with ``predict_proba``)
    X : paths, dataset DataFrame or feature DataFrame
    y : array-like, optional
        Labels; taken from a dataset DataFrame's ``label`` column when omitted.
    groups : ignored
        Accepted for symmetry with :func:`ablation`; evaluation is per image.

    Returns
    -------
    dict
        See :func:`metrics_from_scores`.

    Examples
    --------
    >>> import tempfile
    >>> from deepfeat import DeepfakeDetector, load_dataset, make_demo_dataset
    >>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=40))
    >>> det = DeepfakeDetector(feature_groups=("fft",), n_estimators=20).fit(df)
    >>> sorted(evaluate(det, df))[:3]
    ['average_precision', 'balanced_accuracy', 'brier']
    """
    if y is None:
        if isinstance(X, pd.DataFrame) and "label" in X.columns:
            y = X["label"].to_numpy()
        else:
            raise ValueError("evaluate needs labels: pass y or a DataFrame with a 'label' column")
    proba = detector.predict_proba(X)[:, 1]
    threshold = getattr(detector, "threshold", 0.5)
    return metrics_from_scores(y, proba, threshold=threshold)


class _FirstOnly(logging.Filter):
    """Pass the first record of each warning template; count every one."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.seen: Counter[str] = Counter()
        self.first: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = str(record.msg)
        with self.lock:
            self.seen[key] += 1
            if self.seen[key] > 1:
                return False
            self.first[key] = record.getMessage()
        return True


@contextlib.contextmanager
def _each_warning_once(name: str) -> Iterator[None]:
    """Within the block, log each warning template of logger ``name`` once, then a count.

    Cross-validation fits one model per fold and feature subset; a warning that holds for
    all of them (e.g. too few samples for early stopping) is worth one line, not one per
    fit. The filter sits on the shared logger, so warnings of the same template that other
    threads log meanwhile are counted too.
    """
    log = logging.getLogger(name)
    once = _FirstOnly()
    log.addFilter(once)
    try:
        yield
    finally:
        log.removeFilter(once)
        for key, count in once.seen.items():
            if count > 1:
                logger.warning(
                    "the warning %r was logged %d times; shown once", once.first[key][:80], count
                )


def _subsets(groups_present: Sequence[str]) -> list[tuple[str, ...]]:
    """Each group alone, each pair (when there are three), and all groups together."""
    present = [g for g in GROUPS if g in groups_present]
    subsets: list[tuple[str, ...]] = [(g,) for g in present]
    if len(present) > 2:
        subsets += list(itertools.combinations(present, 2))
    if len(present) > 1:
        subsets.append(tuple(present))
    return subsets


def ablation(
    X: pd.DataFrame,
    y: Any,
    groups: Any = None,
    *,
    cv: int = 5,
    estimator: Any = None,
    subsets: Sequence[Sequence[str]] | None = None,
    random_state: int | None = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Grouped cross-validated metrics for each feature group alone, each pair, and all.

    Parameters
    ----------
    X : pandas.DataFrame
        Extracted features (columns ``cnn_*``, ``fft_*``, ``meta_*``, e.g. from
        :class:`~deepfeat.ImageFeatures` with ``set_output(transform="pandas")``).
    y : array-like of {0, 1}
    groups : array-like, optional
        Groups for the splits (a fake and its source never straddle train and test).
    cv : int, default=5
        Number of grouped folds.
    estimator : classifier, optional
        Defaults to ``DeepfakeDetector()`` (features already extracted, so it trains only).
    subsets : sequence of sequences of group names, optional
        Default: every single group, every pair, and all groups.
    random_state : int or None, default=0
    progress : bool, default=False
        A tqdm bar over the (subset, fold) fits; each subset's result is also logged.

    Returns
    -------
    pandas.DataFrame
        One row per (subset, fold) with the metrics of :func:`metrics_from_scores`;
        ``df.attrs["summary"]`` holds mean and std per subset, ``df.attrs["leakage"]`` the
        :func:`leakage_report` warnings.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 80)
    >>> X = pd.DataFrame({"fft_000": y + rng.normal(0, 0.5, 80), "meta_x": rng.normal(size=80)})
    >>> from deepfeat import DeepfakeDetector
    >>> res = ablation(X, y, cv=3, estimator=DeepfakeDetector(n_estimators=30))
    >>> list(res.attrs["summary"].index)
    ['fft', 'meta', 'fft+meta']
    """
    from .detector._estimator import DeepfakeDetector

    if not isinstance(X, pd.DataFrame):
        raise TypeError("ablation needs a feature DataFrame (columns cnn_*, fft_*, meta_*)")
    y = np.asarray(y).astype(int)
    g = as_groups(groups, len(y))
    col_groups = {c: feature_group(c) for c in X.columns}
    present = sorted(set(col_groups.values()), key=lambda s: GROUPS.index(s) if s in GROUPS else 9)
    subsets = [tuple(s) for s in subsets] if subsets is not None else _subsets(present)
    base = estimator if estimator is not None else DeepfakeDetector(random_state=random_state)
    splits = list(grouped_splits(y, g, n_splits=cv, random_state=random_state))
    rows = []
    for subset in subsets:
        if not any(col_groups[c] in subset for c in X.columns):
            raise ValueError(f"no columns for feature groups {subset}")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(subsets) * len(splits), desc="ablation", unit="fit")
    with _each_warning_once("deepfeat.detector"):
        for subset in subsets:
            cols = [c for c in X.columns if col_groups[c] in subset]
            name = "+".join(subset)
            for fold, (train, test) in enumerate(splits):
                if bar is not None:
                    bar.set_postfix_str(f"{name} fold {fold}")
                est = clone(base)
                if "audit" in est.get_params():
                    est.set_params(audit=False)  # the audit runs once below, not per fold
                est.fit(X.iloc[train][cols], y[train], groups=g[train])
                proba = est.predict_proba(X.iloc[test][cols])[:, 1]
                m = metrics_from_scores(y[test], proba, getattr(est, "threshold", 0.5))
                rows.append({"subset": name, "fold": fold, **m})
                if bar is not None:
                    bar.update(1)
            aucs = [r["roc_auc"] for r in rows if r["subset"] == name]
            logger.info(
                "ablation %s: ROC AUC %.3f ± %.3f over %d grouped folds",
                name,
                np.mean(aucs),
                np.std(aucs),
                len(aucs),
            )
    if bar is not None:
        bar.close()
    res = pd.DataFrame(rows)
    numeric = [
        "roc_auc",
        "average_precision",
        "balanced_accuracy",
        "tpr_at_1pct_fpr",
        "tpr_at_5pct_fpr",
        "brier",
        "ece",
    ]
    summary = res.groupby("subset", sort=False)[numeric].agg(["mean", "std"])
    res.attrs["summary"] = summary
    report = leakage_report(X, y, g)
    res.attrs["leakage"] = report[report["flag"]].reset_index(drop=True)
    return res
