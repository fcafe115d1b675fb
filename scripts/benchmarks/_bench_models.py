"""The models the benchmarks compare, behind one interface (``_bench_base.Model``)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from _bench_base import XGB_JOBS, Model


class Detector(Model):
    """``DeepfakeDetector`` on a feature table (the library model)."""

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.name = "DeepfakeDetector(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"

    def fit(self, X, y, groups, weights=None):
        from deepfeat import DeepfakeDetector

        if weights is not None:
            raise ValueError("DeepfakeDetector.fit has no sample_weight; use WeightedXGB")
        params = {
            "audit": False,
            "random_state": 0,
            "n_jobs": XGB_JOBS,
            "linear_probe": False,  # explicit: the library default may change
            **self.params,
        }
        groups_used = tuple(sorted({c.split("_", 1)[0] for c in X.columns}))
        self.model_ = DeepfakeDetector(feature_groups=groups_used, **params).fit(
            X, y, groups=groups
        )
        return self

    def score(self, X):
        return self.model_.predict_proba(X)[:, 1]


def _impute_scale(X: np.ndarray, stats: tuple | None = None):
    X = np.asarray(X, dtype=np.float64)
    if stats is None:
        with warnings.catch_warnings():  # all-NaN columns (e.g. EXIF fields) → 0 below
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(np.where(np.isfinite(X), X, np.nan), axis=0)
        med = np.where(np.isfinite(med), med, 0.0)
        filled = np.where(np.isfinite(X), X, med)
        mean, std = filled.mean(axis=0), filled.std(axis=0)
        std[std == 0] = 1.0
        stats = (med, mean, std)
    med, mean, std = stats
    filled = np.where(np.isfinite(X), X, med)
    return (filled - mean) / std, stats


class LinearProbe(Model):
    """Standardised, L2 logistic regression (a linear probe, as UnivFD on CLIP features).

    ``C`` is a number, or a list of candidates chosen by grouped 3-fold CV on the training
    data only (AUC).
    """

    def __init__(self, C: float | Sequence[float] = 0.02, inner_folds: int = 3) -> None:
        self.C = C
        self.inner_folds = inner_folds
        self.name = f"linear probe (C={C})"

    @staticmethod
    def _lr(C: float):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, class_weight="balanced", max_iter=3000)

    def fit(self, X, y, groups, weights=None):
        Z, self.stats_ = _impute_scale(X.to_numpy())
        C = self.C
        if not isinstance(C, (int, float)):
            C = choose_C(Z, y, groups, list(C), self.inner_folds, prescaled=True)
        self.C_ = float(C)
        self.model_ = self._lr(self.C_).fit(Z, y, sample_weight=weights)
        return self

    def score(self, X):
        Z, _ = _impute_scale(X.to_numpy(), self.stats_)
        return self.model_.predict_proba(Z)[:, 1]


def choose_C(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    grid: Sequence[float],
    folds: int = 3,
    prescaled: bool = False,
) -> float:
    """The ``C`` of a standardised balanced logistic regression with the best grouped AUC.

    Runs only on the rows it is given (the training folds of an outer split).
    """
    from sklearn.metrics import roc_auc_score

    from deepfeat import grouped_splits

    aucs = {c: [] for c in grid}
    for tr, te in grouped_splits(y, groups, n_splits=folds, random_state=1):
        if prescaled:
            Ztr, Zte = X[tr], X[te]
        else:
            Ztr, stats = _impute_scale(X[tr])
            Zte, _ = _impute_scale(X[te], stats)
        for c in grid:
            lr = LinearProbe._lr(c).fit(Ztr, y[tr])
            aucs[c].append(roc_auc_score(y[te], lr.decision_function(Zte)))
    return max(grid, key=lambda c: (np.mean(aucs[c]), -c))


class ProbeDetector(Model):
    """``DeepfakeDetector(linear_probe=True)`` with ``probe_C`` chosen on the training folds."""

    def __init__(self, grid: Sequence[float] = (0.005, 0.01, 0.02, 0.05), **params: Any):
        self.grid = tuple(grid)
        self.params = params
        self.name = f"DeepfakeDetector(linear_probe=True, probe_C∈{self.grid})"

    def fit(self, X, y, groups, weights=None):
        cnn = [c for c in X.columns if c.startswith("cnn_")]
        if not cnn:  # nothing to probe: the plain detector
            self.C_ = None
            self.inner_ = Detector(**self.params).fit(X, y, groups)
            return self
        if len(self.grid) > 1:
            self.C_ = choose_C(X[cnn].to_numpy(), y, groups, self.grid)
        else:
            self.C_ = self.grid[0]
        self.inner_ = Detector(linear_probe=True, probe_C=self.C_, **self.params)
        self.inner_.fit(X, y, groups)
        return self

    def score(self, X):
        return self.inner_.score(X)


class DurallLR(Model):
    """Durall et al. (2020): ``LogisticRegression(solver="liblinear", max_iter=1000)``."""

    name = "Durall LR"

    def fit(self, X, y, groups, weights=None):
        from sklearn.linear_model import LogisticRegression

        Xn = np.nan_to_num(X.to_numpy(dtype=np.float64))
        self.model_ = LogisticRegression(solver="liblinear", max_iter=1000).fit(Xn, y)
        return self

    def score(self, X):
        return self.model_.predict_proba(np.nan_to_num(X.to_numpy(dtype=np.float64)))[:, 1]


class DurallSVM(Model):
    """Durall et al. (2020): ``SVC(C=6.37, kernel="rbf", gamma=0.86)`` on the raw spectra."""

    name = "Durall SVM"
    threshold = 0.0  # decision_function

    def fit(self, X, y, groups, weights=None):
        from sklearn.svm import SVC

        Xn = np.nan_to_num(X.to_numpy(dtype=np.float64))
        self.model_ = SVC(C=6.37, kernel="rbf", gamma=0.86).fit(Xn, y)
        return self

    def score(self, X):
        return self.model_.decision_function(np.nan_to_num(X.to_numpy(dtype=np.float64)))


class WeightedXGB(Model):
    """XGBoost with the detector's default hyper-parameters and explicit sample weights.

    Used only where ``DeepfakeDetector`` has no hook (per-sample weights for the
    source-balanced experiment); the tree count is chosen on a grouped 20 % hold-out as the
    detector does.
    """

    name = "XGBoost (detector defaults, sample weights)"

    def fit(self, X, y, groups, weights=None):
        from xgboost import XGBClassifier

        from deepfeat import DeepfakeDetector, grouped_splits

        d = DeepfakeDetector()
        w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
        # class balance inside the weights (scale_pos_weight equivalent)
        for label in (0, 1):
            w[y == label] *= 0.5 * w.sum() / w[y == label].sum()
        params = {
            "learning_rate": d.learning_rate,
            "max_depth": d.max_depth,
            "subsample": d.subsample,
            "colsample_bytree": d.colsample_bytree,
            "colsample_bynode": d.colsample_bynode,
            "max_bin": d.max_bin,
            "min_child_weight": d.min_child_weight,
            "reg_lambda": d.reg_lambda,
            "tree_method": "hist",
            "eval_metric": "logloss",
            "random_state": 0,
            "n_jobs": XGB_JOBS,
        }
        M = X.to_numpy(dtype=np.float32)
        tr, va = next(grouped_splits(y, groups, n_splits=5, random_state=0))
        es = XGBClassifier(n_estimators=d.n_estimators, early_stopping_rounds=40, **params)
        es.fit(M[tr], y[tr], sample_weight=w[tr], eval_set=[(M[va], y[va])], verbose=False)
        n_trees = int(es.best_iteration) + 1
        self.model_ = XGBClassifier(n_estimators=n_trees, **params).fit(M, y, sample_weight=w)
        return self

    def score(self, X):
        return self.model_.predict_proba(X.to_numpy(dtype=np.float32))[:, 1]


class StackedProbe(Model):
    """The detector's ``linear_probe=True`` stacking, re-implemented with sample weights.

    Grouped out-of-fold scores of a standardised balanced logistic regression (C=0.02) on
    the ``cnn_*`` block become one column next to the other groups, and ``WeightedXGB``
    learns on them; at scoring the probe fitted on all training rows is used.
    """

    name = "stacked probe + XGBoost (sample weights)"

    def __init__(self, C: float = 0.02) -> None:
        self.C = C

    def _probe(self, X, y, w):
        Z, stats = _impute_scale(X)
        lr = LinearProbe._lr(self.C).fit(Z, y, sample_weight=w)
        return lr, stats

    def fit(self, X, y, groups, weights=None):
        from deepfeat import grouped_splits

        self.cnn_ = [c for c in X.columns if c.startswith("cnn_")]
        self.rest_ = [c for c in X.columns if not c.startswith("cnn_")]
        block = X[self.cnn_].to_numpy()
        w = None if weights is None else np.asarray(weights, dtype=float)
        oof = np.full(len(y), np.nan)
        for tr, te in grouped_splits(y, groups, n_splits=5, random_state=0):
            lr, stats = self._probe(block[tr], y[tr], None if w is None else w[tr])
            oof[te] = lr.decision_function(_impute_scale(block[te], stats)[0])
        self.lr_, self.stats_ = self._probe(block, y, w)
        M = X[self.rest_].copy()
        M["cnn_probe"] = oof.astype(np.float32)
        self.xgb_ = WeightedXGB().fit(M, y, groups, weights)
        return self

    def score(self, X):
        M = X[self.rest_].copy()
        Z = _impute_scale(X[self.cnn_].to_numpy(), self.stats_)[0]
        M["cnn_probe"] = self.lr_.decision_function(Z).astype(np.float32)
        return self.xgb_.score(M)
