"""The stacked linear probe: a logistic regression on the CNN block whose grouped
out-of-fold score becomes one column (``cnn_probe``) for the trees.

Prediction is plain numpy, so the fitted probe is stored as numbers in the model card.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .._schema import ModelFileError

logger = logging.getLogger(__name__)

__all__ = ["PROBE_COLUMN", "LinearProbe", "model_matrix", "stacked_probe"]

PROBE_COLUMN = "cnn_probe"


class LinearProbe:
    """Standardised, L2-regularised logistic regression on the CNN block (a "linear probe").

    Prediction is plain numpy (median-impute, standardise, dot product), so the fitted probe
    is saved as numbers in the JSON card, never pickled.
    """

    def __init__(self, columns, median, mean, scale, coef, intercept) -> None:
        self.columns = list(columns)
        self.median = np.asarray(median, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, columns: list[str], C: float) -> LinearProbe:
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            finite = np.isfinite(X)
            counts = finite.sum(axis=0)
            sums = np.where(finite, X, 0.0).sum(axis=0)
            median = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)  # mean-impute
        filled = np.where(finite, X, median)
        mean = filled.mean(axis=0)
        scale = filled.std(axis=0)
        scale[scale == 0] = 1.0
        lr = LogisticRegression(C=C, class_weight="balanced", max_iter=3000)
        lr.fit((filled - mean) / scale, y)
        return cls(columns, median, mean, scale, lr.coef_[0], lr.intercept_[0])

    def decision(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        filled = np.where(np.isfinite(X), X, self.median)
        return ((filled - self.mean) / self.scale) @ self.coef + self.intercept

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "impute": self.median.tolist(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearProbe:
        try:
            probe = cls(
                data["columns"],
                data["impute"],
                data["mean"],
                data["scale"],
                data["coef"],
                data["intercept"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"card: malformed linear probe: {exc}") from exc
        n = len(probe.columns)
        if not all(len(v) == n for v in (probe.median, probe.mean, probe.scale, probe.coef)):
            raise ModelFileError("card: linear probe vectors do not match its columns")
        return probe


def stacked_probe(
    block: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    columns: list[str],
    C: float,
    random_state: Any = None,
) -> tuple[LinearProbe, np.ndarray]:
    """Fit the probe on ``block`` (the CNN columns) and its grouped out-of-fold scores.

    Each row's score comes from a probe fitted on the other grouped folds (up to 5), so the
    trees never see a score fitted on the row itself; where the groups are too few for that,
    the in-sample score of the final probe is used (logged).

    Returns
    -------
    (LinearProbe, numpy.ndarray)
        The probe fitted on all rows, and the out-of-fold score of every row.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.zeros(20, int), np.ones(20, int)]
    >>> X = rng.normal(size=(40, 3)) + y[:, None]
    >>> probe, oof = stacked_probe(X, y, np.arange(40).astype(str), ["a", "b", "c"], C=1.0)
    >>> oof.shape, probe.columns
    ((40,), ['a', 'b', 'c'])
    """
    from ..metrics import grouped_splits

    oof = np.full(len(y), np.nan)
    n_splits = int(min(5, len(np.unique(groups)), np.bincount(y, minlength=2).min()))
    if n_splits >= 2:
        for train, test in grouped_splits(y, groups, n_splits=n_splits, random_state=random_state):
            if len(np.unique(y[train])) < 2:
                continue
            oof[test] = LinearProbe.fit(block[train], y[train], columns, C).decision(block[test])
    if np.isnan(oof).any():
        logger.warning("linear probe: too few groups for out-of-fold scores; using in-sample")
    probe = LinearProbe.fit(block, y, columns, C)
    missing = np.isnan(oof)
    oof[missing] = probe.decision(block[missing])
    return probe, oof


def model_matrix(
    M: np.ndarray, columns: Any, model_columns: Any, probe: LinearProbe | None
) -> np.ndarray:
    """Feature matrix (``columns``) → the matrix the trees score (``model_columns``)."""
    if probe is None:
        return M
    where = {c: i for i, c in enumerate(columns)}  # (list.index per column: 50 ms a call)
    keep = [where[c] for c in list(model_columns)[:-1]]
    probe_idx = [where[c] for c in probe.columns]
    score = probe.decision(M[:, probe_idx]).astype(np.float32)
    return np.column_stack([M[:, keep], score])
