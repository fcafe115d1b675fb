"""The one training recipe of :class:`~deepfeat.DeepfakeDetector`, over a small backend.

:func:`train` runs the recipe on rows that already have features: the stacked linear
probe, imbalance weights, the grouped validation fold, early stopping, calibration and its
out-of-sample quality, the refit, importances, the leakage audit and the training summary.
Where the rows live is the backend's business: :class:`LocalBackend` holds a numpy matrix;
the Dask backend (:mod:`deepfeat.distributed._train`) keeps them on a cluster. Only labels
and groups (one value per row) are ever needed on the client, plus the CNN columns when
the probe is on.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .._schema import GROUPS, feature_group
from ..metrics import grouped_splits, leakage_report, metrics_from_scores, source_report
from ._calibration import Calibrator, cross_fitted
from ._stacking import PROBE_COLUMN, stacked_probe

logger = logging.getLogger(__name__)

__all__ = [
    "FALLBACK_TREES",
    "MIN_VALIDATION_PER_CLASS",
    "Backend",
    "LocalBackend",
    "Stages",
    "holdout_split",
    "set_importances",
    "train",
    "validation_metrics",
    "xgb_params",
]

#: Below this many samples of the rarer class in the validation fold, early stopping and
#: calibration are skipped (their estimates would be noise) and FALLBACK_TREES are trained.
MIN_VALIDATION_PER_CLASS = 5
FALLBACK_TREES = 200
#: Tables smaller than this (rows × columns) train single-threaded when ``n_jobs=None``.
SMALL_TABLE_CELLS = 1_000_000
#: Most training rows the out-of-domain model learns from (a random sample above it).
DOMAIN_ROWS = 20_000


class Backend(Protocol):
    """Where the training rows (the usable rows, in order) live.

    ``rows`` arguments are sorted positions among those rows. A backend starts with the
    model matrix equal to the feature columns; :meth:`stack` replaces it.
    """

    #: rows × columns of the model matrix (decides XGBoost's threads for ``n_jobs=None``).
    n_cells: int
    #: rows the leakage audit may read (``None``: all).
    audit_rows: int | None

    def columns(self, names: list[str]) -> np.ndarray:
        """The values of feature columns ``names`` for every row (a local array)."""

    def stack(self, keep: list[str], score: np.ndarray) -> None:
        """Make the model matrix the columns ``keep`` plus ``score`` (one value per row)."""

    def fit(self, params: dict[str, Any], rows: np.ndarray, eval_rows: np.ndarray | None):
        """A local ``XGBClassifier`` trained on ``rows`` (early stopping on ``eval_rows``)."""

    def predict(self, model: Any, rows: np.ndarray) -> np.ndarray:
        """P(fake) of ``model`` for ``rows`` of the model matrix."""

    def features(self, rows: np.ndarray) -> pd.DataFrame:
        """The feature columns (not the model matrix) of ``rows``, for the audit."""


class LocalBackend:
    """The in-memory backend: a float32 matrix and its labels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(6, 2)).astype(np.float32)
    >>> backend = LocalBackend(X, ["a", "b"], np.r_[0, 1, 0, 1, 0, 1])
    >>> backend.columns(["b"]).shape
    (6, 1)
    """

    audit_rows = None

    def __init__(self, X: np.ndarray, columns: list[str], y: np.ndarray) -> None:
        self._features = X
        self._names = list(columns)
        self._matrix = X
        self._y = np.asarray(y)
        self.n_cells = X.shape[0] * X.shape[1]

    def columns(self, names: list[str]) -> np.ndarray:
        return self._features[:, [self._names.index(n) for n in names]]

    def stack(self, keep: list[str], score: np.ndarray) -> None:
        self._matrix = np.column_stack([self.columns(keep), score.astype(np.float32)])
        self.n_cells = self._matrix.shape[0] * self._matrix.shape[1]

    def fit(self, params: dict[str, Any], rows: np.ndarray, eval_rows: np.ndarray | None):
        from xgboost import XGBClassifier

        model = XGBClassifier(**params)
        if eval_rows is None:
            return model.fit(self._matrix[rows], self._y[rows], verbose=False)
        eval_set = [(self._matrix[eval_rows], self._y[eval_rows])]
        return model.fit(self._matrix[rows], self._y[rows], eval_set=eval_set, verbose=False)

    def predict(self, model: Any, rows: np.ndarray) -> np.ndarray:
        return model.predict_proba(self._matrix[rows])[:, 1]

    def features(self, rows: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(self._features[rows], columns=self._names)


class Stages:
    """One log line per training stage, kept for the summary (and a tqdm bar with ``progress``).

    The lines go to ``log``: the caller's logger (``deepfeat.detector`` for
    :meth:`DeepfakeDetector.fit`, ``deepfeat.distributed`` for ``fit_dask``), so that a
    user who follows the estimator's log sees them.
    """

    def __init__(self, progress: bool = False, log: logging.Logger | None = None) -> None:
        self.log = log or logger
        self.lines: list[str] = []
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=None, desc="train", unit="stage", leave=False)

    def __call__(self, name: str, text: str) -> None:
        self.log.info(text)
        self.lines.append(text)
        if self._bar is not None:
            self._bar.set_postfix_str(name)
            self._bar.update(1)

    def close(self) -> list[str]:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        return self.lines


def usable_rows(table: pd.DataFrame, y: np.ndarray, stage: Stages) -> np.ndarray:
    """Rows with at least one feature value; refuses a table left with no row or one class."""
    usable = ~np.isnan(table.to_numpy(dtype=np.float32)).all(axis=1)
    n_out = int((~usable).sum())
    if n_out:
        stage.log.warning("%d samples without any feature were left out of training", n_out)
    if not usable.any():
        raise ValueError(
            f"none of the {len(y)} samples has any feature value (every row is NaN): "
            "did every input fail extraction? (see extraction_failures_)"
        )
    if len(np.unique(y[usable])) < 2:
        raise ValueError(
            f"after leaving out {n_out} samples without any feature, only one "
            "class is left; need real (0) and fake (1) samples with features"
        )
    counts: dict[str, int] = {}
    for c in table.columns:
        group = feature_group(str(c))
        counts[group if group in GROUPS else "other"] = counts.get(group, 0) + 1
    stage(
        "features",
        f"features: {int(usable.sum())} usable samples × {table.shape[1]} columns ("
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + (f"; {n_out} without features left out)" if n_out else ")"),
    )
    return usable


def xgb_params(det: Any, n_estimators: int, early_stopping: int | None, n_cells: int = 0) -> dict:
    """The ``XGBClassifier`` parameters of detector ``det`` (one place for both backends).

    With ``n_jobs=None``, a table below ~1M cells trains on one thread (OpenMP start-up and,
    on a busy machine, spin-waiting dominate there); above it all cores help.
    """
    threads = det.n_jobs
    if threads is None:
        threads = 1 if n_cells < SMALL_TABLE_CELLS else None
    return {
        "n_estimators": n_estimators,
        "learning_rate": det.learning_rate,
        "max_depth": det.max_depth,
        "subsample": det.subsample,
        "colsample_bytree": det.colsample_bytree,
        "colsample_bynode": det.colsample_bynode,
        "max_bin": det.max_bin,
        "min_child_weight": det.min_child_weight,
        "reg_lambda": det.reg_lambda,
        "scale_pos_weight": det.scale_pos_weight_,
        "tree_method": "hist",
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "early_stopping_rounds": early_stopping,
        "n_jobs": threads,
        "random_state": 0 if det.random_state is None else det.random_state,
    }


def holdout_split(
    det: Any, y: np.ndarray, groups: np.ndarray, log: logging.Logger = logger
) -> tuple[np.ndarray, np.ndarray] | None:
    """The grouped, stratified validation fold (sorted indices), or None if too small."""
    n_splits = max(2, round(1.0 / float(det.validation_fraction)))
    holdout = None
    if len(np.unique(groups)) >= n_splits and np.bincount(y, minlength=2).min() >= n_splits:
        train_idx, val_idx = next(
            grouped_splits(y, groups, n_splits=n_splits, random_state=det.random_state)
        )
        minority = np.bincount(y[val_idx], minlength=2).min()
        if minority >= MIN_VALIDATION_PER_CLASS and len(np.unique(y[train_idx])) == 2:
            holdout = (np.sort(train_idx), np.sort(val_idx))
    if holdout is None:
        log.warning(
            "too few samples for a grouped validation fold (fewer than %d per class): "
            "no early stopping or calibration; training %d trees",
            MIN_VALIDATION_PER_CLASS,
            min(det.n_estimators, FALLBACK_TREES),
        )
    return holdout


def validation_metrics(det: Any, raw: np.ndarray, y: np.ndarray, g: np.ndarray) -> dict:
    """Metrics of the validation fold; calibration quality only where out-of-sample.

    Uncalibrated scores are out-of-sample on this fold as they are. A calibration map
    fitted on the fold would score itself (isotonic regression then reaches an ECE of 0),
    so the calibrated probabilities are cross-fitted over grouped parts of the fold
    (:func:`deepfeat.detector._calibration.cross_fitted`); when the fold is too small for that,
    Brier and ECE are left out. ``calibration_evaluation`` says which.
    """
    if det.calibration is None:
        metrics = metrics_from_scores(y, raw, det.threshold)
        metrics["calibration_evaluation"] = "uncalibrated scores, out-of-sample"
        return metrics
    proba, k = cross_fitted(det.calibration, raw, y, g, det.random_state)
    if proba is None:
        metrics = metrics_from_scores(y, raw, det.threshold)
        for key in ("brier", "ece", "n_distinct_proba"):
            metrics.pop(key)
        metrics["calibration_evaluation"] = (
            "not reported: the validation fold is too small to cross-fit the calibration"
        )
        return metrics
    metrics = metrics_from_scores(y, proba, det.threshold)
    metrics["calibration_evaluation"] = (
        f"{det.calibration} calibration cross-fitted over {k} grouped parts of the "
        "validation fold (each part calibrated by a map fitted on the others)"
    )
    return metrics


def _honest_validation(
    det: Any, raw: np.ndarray, y: np.ndarray, g: np.ndarray, origin: np.ndarray | None
) -> dict:
    """Validation metrics on the user's own images: synthesized rows left out.

    Pseudo-fakes are easy to tell from their reals, so counting them would flatter the
    metrics. They are left out whenever the original rows still hold both classes
    (``rows`` says which rows were scored).
    """
    synthetic = None if origin is None else origin != "original"
    if synthetic is None or not synthetic.any():
        return validation_metrics(det, raw, y, g)
    keep = ~synthetic
    if len(np.unique(y[keep])) == 2:
        metrics = validation_metrics(det, raw[keep], y[keep], g[keep])
        metrics["rows"] = (
            f"original images only ({int(synthetic.sum())} pseudo-fakes of the "
            "validation fold left out)"
        )
        return metrics
    metrics = validation_metrics(det, raw, y, g)
    metrics["rows"] = "all, pseudo-fakes included (the originals hold one class only)"
    return metrics


def _probe(det: Any, backend: Backend, y: np.ndarray, g: np.ndarray, stage: Stages) -> None:
    """Fit the optional CNN linear probe and stack its score into the backend's matrix."""
    names = [str(c) for c in det.columns_]
    cnn = [n for n in names if feature_group(n) == "cnn"]
    det.probe_ = None
    det.model_columns_ = np.asarray(names, dtype=object)
    if not det.linear_probe or not cnn:
        if det.linear_probe:
            stage.log.info("linear_probe: no cnn_* columns, nothing to stack")
        return
    det.probe_, oof = stacked_probe(backend.columns(cnn), y, g, cnn, det.probe_C, det.random_state)
    keep = [n for n in names if det.probe_keep_columns or n not in set(cnn)]
    det.model_columns_ = np.asarray([*keep, PROBE_COLUMN], dtype=object)
    backend.stack(keep, oof)
    stage(
        "probe",
        f"linear probe: {len(cnn)} cnn columns → {PROBE_COLUMN} (grouped out-of-fold scores)",
    )


def set_importances(det: Any) -> None:
    """``feature_importances_`` (normalised total gain) and ``group_importances_``."""
    booster = det.model_.get_booster()
    gain = booster.get_score(importance_type="total_gain")
    names = list(det.model_columns_)
    imp = np.zeros(len(names))
    for key, value in gain.items():
        idx = int(key[1:]) if key.startswith("f") and key[1:].isdigit() else names.index(key)
        imp[idx] = value
    total = imp.sum()
    det.feature_importances_ = imp / total if total > 0 else imp
    groups = (
        pd.Series(det.feature_importances_, index=names)
        .groupby(
            [feature_group(n) if feature_group(n) in GROUPS else "other" for n in names],
            sort=False,
        )
        .sum()
    )
    det.group_importances_ = groups.sort_values(ascending=False)


def _audit(det: Any, backend: Backend, y: np.ndarray, g: np.ndarray, stage: Stages) -> int:
    """The leakage audit on (a sample of) the training features; returns the rows read."""
    det.leakage_warnings_ = []
    if not det.audit:
        return 0
    pick = _sample(det, len(y), backend.audit_rows, stage, "leakage audit")
    report = leakage_report(backend.features(pick), y[pick], g[pick])
    det.leakage_warnings_ = list(report.loc[report["flag"], "explanation"])
    if det.leakage_warnings_:
        flagged = list(report.loc[report["flag"], "feature"])
        stage.log.warning(
            "leakage audit: %d feature(s) alone separate the classes (AUC >= 0.98 or "
            "<= 0.02), e.g. %s; see leakage_warnings_",
            len(flagged),
            ", ".join(flagged[:5]),
        )
    n_flag = len(det.leakage_warnings_)
    stage(
        "audit",
        "leakage audit: nothing flagged"
        if not n_flag
        else f"leakage audit: {n_flag} feature(s) alone separate the classes",
    )
    return len(pick)


def _sample(det: Any, n: int, limit: int | None, stage: Stages, what: str) -> np.ndarray:
    """Sorted row positions: all ``n``, or a seeded random sample of ``limit`` of them."""
    if limit is None or n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(det.random_state)
    stage.log.info("%s on a sample of %d of %d rows", what, limit, n)
    return np.sort(rng.choice(n, size=int(limit), replace=False))


def _domain(
    det: Any, backend: Backend, g: np.ndarray, source: np.ndarray | None, stage: Stages
) -> dict[str, Any]:
    """Fit the out-of-domain model (``domain_``) on (a sample of) the training features."""
    from ._domain import fit_domain

    det.domain_ = None
    if det.domain_fpr is None:
        return {}
    limit = DOMAIN_ROWS if backend.audit_rows is None else min(DOMAIN_ROWS, backend.audit_rows)
    pick = _sample(det, len(g), limit, stage, "out-of-domain model")
    if len(np.unique(g[pick])) < 2:
        stage.log.warning("out-of-domain model: fewer than 2 groups, left out")
        return {}
    names = [str(c) for c in det.columns_]
    det.domain_, held_out = fit_domain(
        backend.features(pick)[names].to_numpy(dtype=np.float64),
        names,
        g[pick],
        fpr=float(det.domain_fpr),
        source=None if source is None else source[pick],
        random_state=det.random_state,
    )
    flagged = {"all": float(np.mean(held_out > 1))}
    if source is not None:
        for name in np.unique(source[pick]):
            flagged[str(name)] = float(np.mean(held_out[source[pick] == name] > 1))
    stage(
        "domain",
        f"out-of-domain warning: threshold flags {flagged['all']:.1%} of {len(pick)} held-out "
        "training rows"
        + (
            " (" + ", ".join(f"{k} {v:.1%}" for k, v in flagged.items() if k != "all") + ")"
            if len(flagged) > 1
            else ""
        ),
    )
    return {"domain_held_out_flagged": flagged}


def _source_audit(
    det: Any,
    backend: Backend,
    y: np.ndarray,
    g: np.ndarray,
    source: np.ndarray | None,
    val: tuple[np.ndarray, np.ndarray] | None,
    stage: Stages,
) -> None:
    """The source audit on the validation fold (its out-of-sample scores), or all rows."""
    det.source_report_ = None
    det.source_warnings_ = []
    if source is None or len(np.unique(source)) < 2:
        return
    if val is not None:
        rows, scores = val
    else:
        rows = _sample(det, len(y), backend.audit_rows, stage, "source audit")
        scores = None
    report = source_report(backend.features(rows), source[rows], y[rows], g[rows], scores)
    det.source_report_ = report
    det.source_warnings_ = list(report.loc[report["flag"], "explanation"])
    where = "validation fold" if val is not None else "training rows, no held-out score"
    parts = [
        f"{r.source_a}/{r.source_b}: features {r.auc_features:.2f}, score {r.auc_score:.2f}"
        for r in report.itertuples()
    ]
    if det.source_warnings_:
        stage.log.warning(
            "source audit: the model's score tells real images of %d source pair(s) apart; "
            "see source_warnings_",
            len(det.source_warnings_),
        )
    stage(
        "sources",
        f"source audit (reals of the {where}, AUC telling sources apart): "
        + ("; ".join(parts) if parts else "too few reals per source"),
    )


def train(
    det: Any,
    backend: Backend,
    y: np.ndarray,
    g: np.ndarray,
    *,
    stage: Stages,
    origin: np.ndarray | None = None,
    source: np.ndarray | None = None,
    n_unusable: int = 0,
) -> dict[str, Any]:
    """Run the recipe on ``det`` (its ``columns_`` set) and return the training summary.

    Sets ``classes_``, ``probe_``, ``model_columns_``, ``scale_pos_weight_``,
    ``best_iteration_``, ``validation_metrics_``, ``calibrator_``, ``model_`` (a local
    ``XGBClassifier``), the importances, ``leakage_warnings_``, ``domain_`` and the
    source audit. ``y`` (0/1) and ``g`` (str) hold one value per row of the backend;
    ``origin`` marks synthesized rows, ``source`` names each row's source.
    """
    det.classes_ = np.array([0, 1])
    _probe(det, backend, y, g, stage)
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    spw = det.scale_pos_weight
    det.scale_pos_weight_ = n_real / n_fake if spw == "auto" else float(spw)

    def params(n_trees: int, early: int | None) -> dict[str, Any]:
        return xgb_params(det, n_trees, early, backend.n_cells)

    needs_holdout = det.early_stopping_rounds is not None or det.calibration is not None
    holdout = holdout_split(det, y, g, stage.log) if needs_holdout else None
    everything = np.arange(len(y))
    det.validation_metrics_ = {}
    det.calibrator_ = None
    val_scores = None
    if holdout is None:
        n_trees = min(det.n_estimators, FALLBACK_TREES) if needs_holdout else det.n_estimators
        model = backend.fit(params(n_trees, None), everything, None)
        det.best_iteration_ = n_trees
        stage("trees", f"trees: {n_trees} on all {len(y)} samples (no validation)")
    else:
        train_idx, val_idx = holdout
        model = backend.fit(params(det.n_estimators, det.early_stopping_rounds), train_idx, val_idx)
        best = getattr(model, "best_iteration", None)
        det.best_iteration_ = int(best) + 1 if best is not None else det.n_estimators
        stage(
            "trees",
            f"early stopping: {det.best_iteration_} trees on a grouped validation fold "
            f"of {len(val_idx)} samples ({len(np.unique(g[val_idx]))} groups)",
        )
        raw = backend.predict(model, val_idx)
        val_scores = (val_idx, raw)
        det.validation_metrics_ = _honest_validation(
            det, raw, y[val_idx], g[val_idx], None if origin is None else origin[val_idx]
        )
        if det.calibration is not None:
            det.calibrator_ = Calibrator.fit(det.calibration, raw, y[val_idx])
            stage(
                "calibration",
                f"calibration: {det.calibration}, fitted on the validation fold; "
                f"its quality: {det.validation_metrics_['calibration_evaluation']}",
            )
        if det.refit:
            model = backend.fit(params(det.best_iteration_, None), everything, None)
            stage("refit", f"refit: {det.best_iteration_} trees on all {len(y)}")
    det.model_ = model
    set_importances(det)
    audited = _audit(det, backend, y, g, stage)
    _source_audit(det, backend, y, g, source, val_scores, stage)
    domain = _domain(det, backend, g, source, stage)
    return {
        "n_samples": len(y),
        "n_real": n_real,
        "n_fake": n_fake,
        "n_groups": len(np.unique(g)),
        "n_unusable": n_unusable,
        "scale_pos_weight": det.scale_pos_weight_,
        "best_iteration": det.best_iteration_,
        "validation_samples": 0 if holdout is None else len(holdout[1]),
        **({"audit_rows": audited} if backend.audit_rows is not None else {}),
        **({"sources": sorted(set(source.tolist()))} if source is not None else {}),
        **domain,
    }
