"""``DeepfakeDetector``: imbalance-aware XGBoost on the combined features, with safe save/load."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import weakref
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ._calibration import CALIBRATIONS, DEFAULT_CALIBRATION
from ._card_schema import CARD_MAX_BYTES, CardError, parse_card
from ._io import open_regular
from ._schema import GROUPS, feature_group, is_feature_name
from ._version import __version__
from .evaluation import grouped_splits, leakage_report, metrics_from_scores
from .features._cache import model_sha256
from .features._combined import ImageFeatures

logger = logging.getLogger(__name__)

__all__ = ["DeepfakeDetector", "ModelFileError"]

CARD_NAME = "card.json"
MODEL_NAME = "model.ubj"
#: A user ONNX backbone saved with the model (the only other file a model folder may hold).
BACKBONE_NAME = "backbone.onnx"
#: Largest ``model.ubj`` read (bytes; a 600-tree model is about 1 MiB).
MODEL_MAX_BYTES = 256 * 1024 * 1024
_SIZE_LIMITS = {CARD_NAME: CARD_MAX_BYTES, MODEL_NAME: MODEL_MAX_BYTES}
CARD_FORMAT = "deepfeat-detector"
CARD_VERSION = 1
#: Below this many samples of the rarer class in the validation fold, early stopping and
#: calibration are skipped (their estimates would be noise) and FALLBACK_TREES are trained.
MIN_VALIDATION_PER_CLASS = 5
FALLBACK_TREES = 200
#: Tables smaller than this (rows × columns) train single-threaded when ``n_jobs=None``.
SMALL_TABLE_CELLS = 1_000_000
#: Per-thread extraction failures of each detector (see ``extraction_failures_``).
_THREAD_STATE = threading.local()


def _thread_failures() -> weakref.WeakKeyDictionary:
    if not hasattr(_THREAD_STATE, "failures"):
        _THREAD_STATE.failures = weakref.WeakKeyDictionary()
    return _THREAD_STATE.failures


class ModelFileError(ValueError):
    """A saved model is malformed, tampered with, or does not match this installation."""


#: Label names accepted besides 0/1 (compared case-insensitively, surrounding spaces ignored).
LABEL_NAMES = {"real": 0, "fake": 1}


def encode_labels(y: Any) -> np.ndarray:
    """Labels as int 0 (real) / 1 (fake).

    Accepted: the numbers 0 and 1 (int, float or bool), the strings ``"0"`` and ``"1"``, and
    the names ``"real"`` and ``"fake"`` in any case (``"REAL"``, ``"Fake"``). Anything else
    raises ``ValueError``: a label is never guessed from its sort order.

    Examples
    --------
    >>> encode_labels(["REAL", "fake", " Fake "]).tolist()
    [0, 1, 1]
    >>> encode_labels([0, 1.0, True]).tolist()
    [0, 1, 1]
    """
    arr = np.asarray(y)
    if arr.dtype.kind in "biuf":
        values = arr.astype(float)
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            raise ValueError(
                f"labels must be 0 (real) and 1 (fake), or 'real'/'fake'; got "
                f"{sorted(set(arr[bad].tolist()))[:5]}"
            )
        return values.astype(int)
    names = {**LABEL_NAMES, "0": 0, "1": 1}
    out = np.empty(arr.shape, dtype=int)
    unknown = set()
    for i, value in enumerate(arr.ravel()):
        key = str(value).strip().lower() if isinstance(value, (str, int, np.integer)) else None
        if isinstance(value, (bool, np.bool_)):
            key = str(int(value))
        if key not in names:
            unknown.add(repr(value))
            continue
        out.flat[i] = names[key]
    if unknown:
        raise ValueError(
            f"labels must be 0 (real) and 1 (fake), or 'real'/'fake' (any case); got "
            f"{sorted(unknown)[:5]}"
        )
    return out


def _group_counts(columns: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in columns:
        group = feature_group(str(c))
        counts[group if group in GROUPS else "other"] = counts.get(group, 0) + 1
    return counts


def _is_feature_column(name: Any) -> bool:
    return isinstance(name, str) and is_feature_name(name) and feature_group(name) in GROUPS


class _Calibrator:
    """Monotone map from raw probability to calibrated probability, JSON-serialisable.

    ``sigmoid``: Platt scaling on the log-odds (two numbers). ``isotonic``: the isotonic
    step function (coarse: as many distinct outputs as steps). ``smooth``: the isotonic fit
    made strictly increasing by joining the centres of its steps with straight lines (and
    continuing the first and last segment to 0 and 1 with the isotonic end values as
    bounds), so neighbouring scores keep their order instead of tying on a step.
    """

    def __init__(self, kind: str, params: dict[str, list[float] | float]) -> None:
        self.kind = kind
        self.params = params

    @classmethod
    def fit(cls, kind: str, proba: np.ndarray, y: np.ndarray) -> _Calibrator:
        proba = np.clip(np.asarray(proba, dtype=float), 1e-6, 1 - 1e-6)
        if kind in ("isotonic", "smooth"):
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(proba, y)
            x, v = iso.X_thresholds_, iso.y_thresholds_
            if kind == "smooth":
                x, v = _step_centres(x, v)
            return cls(kind, {"x": x.tolist(), "y": v.tolist()})
        from sklearn.linear_model import LogisticRegression

        logit = np.log(proba / (1 - proba)).reshape(-1, 1)
        lr = LogisticRegression(C=1e4).fit(logit, y)
        return cls(kind, {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])})

    def __call__(self, proba: np.ndarray) -> np.ndarray:
        proba = np.clip(np.asarray(proba, dtype=float), 1e-6, 1 - 1e-6)
        if self.kind in ("isotonic", "smooth"):
            return np.interp(proba, self.params["x"], self.params["y"])
        z = self.params["a"] * np.log(proba / (1 - proba)) + self.params["b"]
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.params}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Calibrator:
        kind = data.get("kind")
        if kind in ("isotonic", "smooth"):
            x, y = data.get("x"), data.get("y")
            if not (isinstance(x, list) and isinstance(y, list) and len(x) == len(y) and x):
                raise ModelFileError(f"card: malformed {kind} calibration map")
            return cls(kind, {"x": [float(v) for v in x], "y": [float(v) for v in y]})
        if kind == "sigmoid":
            return cls(kind, {"a": float(data["a"]), "b": float(data["b"])})
        raise ModelFileError(f"card: unknown calibration kind {kind!r}")


def _step_centres(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots of the piecewise-linear map through the centres of an isotonic step function.

    ``x, v`` are sklearn's ``X_thresholds_, y_thresholds_`` (each step appears as its two
    end points). Each step becomes one knot at its centre; the map starts at (0, first
    level) and ends at (1, last level), so it is increasing and continuous.
    """
    levels, start = np.unique(v, return_index=True)
    order = np.argsort(start)
    cx, cy = [], []
    for k in order:
        on = v == levels[k]
        cx.append(float((x[on].min() + x[on].max()) / 2))
        cy.append(float(levels[k]))
    cx, cy = np.asarray(cx), np.asarray(cy)
    keep = np.r_[True, np.diff(cx) > 0]
    cx, cy = cx[keep], cy[keep]
    return np.r_[0.0, cx, 1.0], np.r_[cy[0], cy, cy[-1]]


def _cross_fitted(
    kind: str, raw: np.ndarray, y: np.ndarray, groups: np.ndarray, random_state: Any
) -> tuple[np.ndarray | None, int]:
    """Out-of-sample calibrated probabilities of the validation fold (grouped cross-fitting).

    Each grouped part of the validation fold is calibrated by a map fitted on the other
    parts. Returns ``(None, 0)`` when the fold is too small for two parts with both classes.
    """
    n_splits = int(min(5, len(np.unique(groups)), np.bincount(y, minlength=2).min()))
    if n_splits < 2:
        return None, 0
    out = np.full(len(y), np.nan)
    for train, test in grouped_splits(y, groups, n_splits=n_splits, random_state=random_state):
        if len(np.unique(y[train])) < 2:
            return None, 0
        out[test] = _Calibrator.fit(kind, raw[train], y[train])(raw[test])
    return out, n_splits


PROBE_COLUMN = "cnn_probe"


class _LinearProbe:
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
    def fit(cls, X: np.ndarray, y: np.ndarray, columns: list[str], C: float) -> _LinearProbe:
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
    def from_json(cls, data: dict[str, Any]) -> _LinearProbe:
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


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _origin_counts(origin: np.ndarray | None, n_degraded: int | None) -> dict[str, int]:
    """Rows per ``origin`` (first-seen order), plus ``degraded`` when augmentation ran."""
    if origin is None:
        return {}
    counts = pd.Series(origin).value_counts(sort=False)
    out = {str(k): int(v) for k, v in counts.items()}
    if n_degraded is not None:
        out["degraded"] = n_degraded
    return out


class DeepfakeDetector(ClassifierMixin, BaseEstimator):
    """Real-vs-fake image classifier: combined features → imbalance-aware XGBoost.

    ``fit`` and the predict methods take image paths, a dataset DataFrame from
    :func:`deepfeat.load_dataset`, or an already extracted feature DataFrame (columns
    ``cnn_*``, ``fft_*``, ``meta_*``; then nothing is extracted). Labels: 0 real, 1 fake.

    Imbalance: by default ``scale_pos_weight = n_real / n_fake`` from the training labels, so
    both classes weigh the same in the loss (XGBoost's recommended ``sum(negative) /
    sum(positive)``). That maximises ranking quality (AUC) and balanced accuracy on skewed
    data like DFDC (83 % fake), but it shifts the raw probabilities away from the training
    prevalence, as XGBoost's documentation warns; the default ``calibration="sigmoid"``
    (fitted on a held-out grouped fold) maps them back to probabilities that mean what
    they say (``calibration=None`` keeps the raw ones).

    Training holds out one grouped, stratified fold (``validation_fraction``) for early
    stopping and calibration (no group is on both sides), then (``refit=True``) retrains on
    all the data with the number of trees early stopping chose; the calibration map learnt
    on the held-out fold is then applied to the refitted model.

    Parameters
    ----------
    groups : sequence of {"cnn", "fft", "meta"}, default=("cnn", "fft", "meta")
        Feature groups to use (for paths and datasets: to extract).
    features : ImageFeatures or None, default=None
        Extractor configuration; ``None`` builds ``ImageFeatures(groups=groups)``.
    sidecar : list of str or None, default=None
        Dataset columns (e.g. DFDC ``original_width``) to use as ``meta_sidecar_*``
        features, an explicit opt-in: by default the model uses only what can be computed
        from the image file itself. The columns are recorded in the model card
        (``sidecar_columns``), and every input to predict must then provide them.
    allow_missing_sidecar : bool, default=False
        At prediction, an input without the model's sidecar columns (plain paths, or a
        table lacking them) raises :class:`~deepfeat.features._meta.MissingSidecarError`;
        ``True`` scores it with NaN for those features instead (the scores then differ
        from what the same image would get with its sidecar values).
    n_estimators : int, default=600
        Maximum number of trees (early stopping usually stops far earlier).
    learning_rate : float, default=0.05
    max_depth : int, default=4
    subsample : float, default=0.8
    colsample_bytree : float, default=0.5
    colsample_bynode : float, default=0.5
        Column subsampling: with ~1400 dense columns it both regularises and speeds up the
        histogram search (see ``docs/benchmarks.md``).
    max_bin : int, default=64
    min_child_weight : float, default=1.0
    reg_lambda : float, default=1.0
    scale_pos_weight : "auto" or float, default="auto"
        ``"auto"``: ``n_real / n_fake`` of the training labels.
    early_stopping_rounds : int or None, default=40
    validation_fraction : float, default=0.2
        Share of groups held out for early stopping and calibration.
    calibration : {"sigmoid", "isotonic", "smooth"} or None, default="sigmoid"
        Map from raw score to probability, fitted on the held-out grouped fold (see
        ``docs/calibration.md``): ``"sigmoid"`` (Platt scaling, keeps the ranking and every
        distinct score), ``"isotonic"`` (a step function: few distinct probabilities, ties
        that cost ranking quality), ``"smooth"`` (isotonic with its steps joined by straight
        lines), ``None`` (raw XGBoost probabilities, shifted by ``scale_pos_weight``). The
        default was chosen by out-of-sample Brier score on DFDC and k140 (grouped 5-fold
        CV): sigmoid 0.180 / 0.099, isotonic 0.182 / 0.103, smooth 0.180 / 0.100, none
        0.194 / 0.097. ``validation_metrics_`` reports calibration quality only
        out-of-sample (cross-fitted within the validation fold).
    linear_probe : bool, default=True
        Stack a linear probe: a standardised logistic regression (``C=probe_C``, balanced
        class weights) on the ``cnn_*`` block, whose grouped out-of-fold score becomes one
        XGBoost input, ``cnn_probe``, next to the frequency and metadata columns. On a few
        thousand images a regularised linear model uses 1000+ dense embedding columns better
        than trees do; the out-of-fold scores keep the trees from trusting an overfitted
        probe. At prediction the probe fitted on all training data is used.
    probe_C : float, default=0.02
        Inverse L2 strength of the probe (chosen by grouped CV in ``docs/benchmarks.md``).
    probe_keep_columns : bool, default=False
        Also give the raw ``cnn_*`` columns to XGBoost (default: only the probe score).
    refit : bool, default=True
        Retrain on all data after early stopping.
    threshold : float, default=0.5
        Decision threshold on the (calibrated) fake probability used by ``predict``.
    audit : bool, default=True
        Run :func:`deepfeat.leakage_report` on the training features and keep its warnings
        in ``leakage_warnings_``.
    n_jobs : int or None, default=None
        Threads for XGBoost. ``None``: one thread for tables under 1M cells (faster there),
        all cores above.
    random_state : int or None, default=0
    progress : bool, default=False
        tqdm progress bars: feature extraction (in ``fit`` and the predict methods) and the
        training stages. Every stage is logged at INFO level either way (and kept in
        ``training_summary_["stages"]``).
    pseudo_fakes : None, True, or sequence of {"blend", "upsample"}, default=None
        Add synthesized fakes made from the training reals (:mod:`deepfeat.synthesis`):
        ``"blend"`` self-blended face swaps, ``"upsample"`` generator up-sampling traces.
        Each keeps the group of its real, so no split separates them. Needs image input
        (paths or a dataset DataFrame); with it, ``fit`` works on reals only (all labels
        0). Synthesized files go under ``cache_dir`` (or a temporary folder), never next to
        the data.
    augment : None, bool, float or dict, default=None
        Training-time degradations of either class (blur, JPEG, down-scaling; Wang et al.
        2020): ``True`` = probability 0.5, a float = that probability, or
        ``{"probability": p, "kinds": ["blur", "jpeg", "downscale"]}``. Image input only.
    cache_dir : path-like or None, default=None
        Feature cache (rows keyed by file content and extractor settings) used by ``fit``
        on images, and where synthesized images are kept for reuse (``synthesis/``).

    Attributes
    ----------
    model_ : xgboost.XGBClassifier
    features_ : ImageFeatures or None
        The fitted extractor (``None`` when trained on a feature table).
    columns_ : numpy.ndarray of str
        The feature columns the model uses, in order.
    feature_names_in_ : numpy.ndarray of str
        Same as ``columns_`` (absent for a numeric array without column names).
    n_features_in_ : int
    classes_ : numpy.ndarray, ``[0, 1]``
    scale_pos_weight_ : float
    best_iteration_ : int
    calibrator_ : callable or None
    model_columns_ : numpy.ndarray of str
        The columns XGBoost sees: ``columns_``, or with ``linear_probe`` the non-CNN columns
        plus ``cnn_probe``.
    probe_ : object or None
        The fitted linear probe (``linear_probe=True``).
    feature_importances_ : numpy.ndarray
        Normalised total gain per model column (aligned with ``model_columns_``).
    group_importances_ : pandas.Series
        Gain share per feature group.
    sidecar_columns_ : list of str
        The dataset columns used as ``meta_sidecar_*`` features (empty by default).
    leakage_warnings_ : list of str
    synthesis_failures_ : pandas.DataFrame
        ``path, stage, reason`` of training reals that ``pseudo_fakes`` / ``augment`` could
        not use (empty without synthesis).
    validation_metrics_ : dict
        Metrics of the early-stopped model on the held-out grouped fold (empty without a
        hold-out). That fold also chose the number of trees, so they are slightly optimistic.
        With a calibration, the probabilities behind ``brier`` and ``ece`` are cross-fitted
        within the fold (never scored by the map fitted on them), or left out when the fold
        is too small; ``calibration_evaluation`` says which.
    training_summary_ : dict

    Examples
    --------
    >>> import tempfile
    >>> from deepfeat import DeepfakeDetector, load_dataset, make_demo_dataset
    >>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=40))
    >>> det = DeepfakeDetector(groups=("fft", "meta"), n_estimators=50).fit(df)
    >>> det.predict_proba(df.path[:2]).shape
    (2, 2)
    """

    def __init__(
        self,
        groups: Any = GROUPS,
        *,
        features: ImageFeatures | None = None,
        sidecar: Any = None,
        allow_missing_sidecar: bool = False,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        colsample_bynode: float = 0.5,
        max_bin: int = 64,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        scale_pos_weight: Any = "auto",
        early_stopping_rounds: int | None = 40,
        validation_fraction: float = 0.2,
        calibration: str | None = DEFAULT_CALIBRATION,
        linear_probe: bool = True,
        probe_C: float = 0.02,
        probe_keep_columns: bool = False,
        refit: bool = True,
        threshold: float = 0.5,
        audit: bool = True,
        n_jobs: int | None = None,
        random_state: int | None = 0,
        progress: bool = False,
        pseudo_fakes: Any = None,
        augment: Any = None,
        cache_dir: Any = None,
    ) -> None:
        self.groups = groups
        self.features = features
        self.sidecar = sidecar
        self.allow_missing_sidecar = allow_missing_sidecar
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.colsample_bynode = colsample_bynode
        self.max_bin = max_bin
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.scale_pos_weight = scale_pos_weight
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.calibration = calibration
        self.linear_probe = linear_probe
        self.probe_C = probe_C
        self.probe_keep_columns = probe_keep_columns
        self.refit = refit
        self.threshold = threshold
        self.audit = audit
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress
        self.pseudo_fakes = pseudo_fakes
        self.augment = augment
        self.cache_dir = cache_dir

    # ------------------------------------------------------------------ input handling
    def _groups_tuple(self) -> tuple[str, ...]:
        groups = (self.groups,) if isinstance(self.groups, str) else tuple(self.groups)
        if not groups or any(g not in GROUPS for g in groups):
            raise ValueError(f"groups must be a non-empty subset of {GROUPS}, got {self.groups!r}")
        return groups

    def _sidecar_list(self) -> list[str] | str:
        sc = self.sidecar
        if sc is None:
            return []
        if isinstance(sc, str):
            return sc if sc == "auto" else [sc]
        return [str(c) for c in sc]

    def _table_columns(self, columns: list[str]) -> list[str]:
        """Feature-table columns to train on: ``meta_sidecar_*`` only when ``sidecar`` asks."""
        from .features._metadata import _sidecar_names

        wanted = self._sidecar_list()
        side = [c for c in columns if c.startswith("meta_sidecar_")]
        keep = side if wanted == "auto" else _sidecar_names(wanted)
        absent = [k for k in keep if k not in columns]
        if absent:
            raise ValueError(
                f"sidecar={self.sidecar!r}: the feature table has no {absent} columns "
                "(extract them with ImageFeatures(meta=MetadataFeatures(sidecar=[...])) or "
                "'deepfeat extract --sidecar COL')"
            )
        dropped = [c for c in side if c not in keep]
        if dropped:
            logger.info(
                "not using sidecar features %s (not computable from an image file; opt in "
                "with sidecar=[...])",
                dropped,
            )
        return [c for c in columns if not c.startswith("meta_sidecar_") or c in keep]

    @staticmethod
    def _input_kind(X: Any) -> str:
        if isinstance(X, pd.DataFrame):
            if any(_is_feature_column(c) for c in X.columns):
                return "features"
            if "path" in X.columns:
                return "dataset"
            return "matrix"  # a plain numeric table
        if isinstance(X, (str, Path, pd.Series)):
            return "images"
        if isinstance(X, np.ndarray) and X.size and isinstance(X.flat[0], (str, Path)):
            return "images"
        if hasattr(X, "toarray") or hasattr(X, "tocsr"):  # scipy sparse: validate_data refuses
            return "matrix"
        if isinstance(X, np.ndarray) and X.dtype.kind in "fiubcO" and X.ndim != 4:
            return "matrix"  # a numeric table (images go in a list)
        if not isinstance(X, np.ndarray) and hasattr(X, "__array__"):
            return "matrix"  # array-likes such as sklearn's _NotAnArray
        if isinstance(X, (list, tuple)) and X and isinstance(X[0], (list, tuple)):
            return "matrix"  # nested lists of numbers
        return "images"

    def _extract(self, X: Any, fit: bool, y: Any = None) -> pd.DataFrame:
        if fit:
            base = self.features if self.features is not None else ImageFeatures()
            extractor = (
                base.set_params(groups=self._groups_tuple())
                if self.features is None
                else _clone(base)
            )
            if self.progress:
                extractor.set_params(progress=True)
            if self.sidecar is not None:
                if "meta" not in self._groups_tuple():
                    raise ValueError("sidecar columns are meta features: add 'meta' to groups")
                from .features._meta import MetadataFeatures

                meta = extractor.meta if extractor.meta is not None else MetadataFeatures()
                extractor.set_params(meta=_clone(meta).set_params(sidecar=self._sidecar_list()))
            extractor.fit(X, y)
            self.features_ = extractor
        elif self.features_ is None:
            raise ValueError(
                "this detector was trained on a feature table: pass features, not images"
            )
        extractor = self.features_
        meta = extractor.transformers_.get("meta")
        if meta is not None and hasattr(meta, "allow_missing_sidecar"):
            meta.set_params(allow_missing_sidecar=bool(self.allow_missing_sidecar))
        if not fit:
            extractor.set_params(progress=bool(self.progress))
        if fit and self.cache_dir is not None:
            from .features._cache import extract_table

            cached, failures = extract_table(
                X, extractor, cache_dir=Path(self.cache_dir) / "features", progress=self.progress
            )
            values = cached.to_numpy(dtype=np.float32)
        else:
            values, failures = extractor.transform_with_failures(X)  # nothing shared is set
        bad = np.isinf(values)
        if bad.any():  # never expected; inf is treated as missing, like NaN
            logger.warning("%d infinite feature values treated as missing", int(bad.sum()))
            values[bad] = np.nan
        table = pd.DataFrame(values, columns=extractor.get_feature_names_out())
        self.extraction_failures_ = failures
        table.attrs["failures"] = failures
        return table

    @property
    def extraction_failures_(self) -> pd.DataFrame:
        """``path, stage, reason`` of the inputs that failed in this thread's last extraction.

        Kept per thread, so concurrent ``predict_proba`` calls on one detector never see
        each other's failures (the table returned by :meth:`extract` also carries them in
        ``attrs["failures"]``).
        """
        failures = _thread_failures().get(self)
        if failures is None:
            raise AttributeError("extraction_failures_: nothing extracted in this thread yet")
        return failures

    @extraction_failures_.setter
    def extraction_failures_(self, value: pd.DataFrame) -> None:
        _thread_failures()[self] = value

    def _features(self, X: Any, fit: bool, y: Any = None) -> pd.DataFrame:
        kind = self._input_kind(X)
        if kind == "features":
            cols = [c for c in X.columns if _is_feature_column(c)]
            _check_feature_table(X, cols)
            if fit:
                wanted = self._groups_tuple()
                cols = self._table_columns([c for c in cols if feature_group(c) in wanted])
                if not cols:
                    raise ValueError(f"no feature columns for groups {wanted}")
                self.features_ = self._prefitted_extractor(cols)
                return X[cols].astype(np.float32)
            missing = [c for c in self.columns_ if c not in X.columns]
            if missing:
                raise ValueError(
                    f"feature table lacks {len(missing)} training columns (first: {missing[:3]})"
                )
            return X[list(self.columns_)].astype(np.float32)
        if kind == "matrix":
            from sklearn.utils.validation import validate_data

            M = validate_data(self, X, reset=fit, dtype=np.float32, ensure_all_finite="allow-nan")
            if fit:
                self.features_ = None
            return pd.DataFrame(M, columns=[f"x{i}" for i in range(M.shape[1])])
        table = self._extract(X, fit, y)
        if fit:
            wanted = self._groups_tuple()
            return table[[c for c in table.columns if feature_group(c) in wanted]]
        return table[list(self.columns_)]

    def _prefitted_extractor(self, columns: list[str]) -> ImageFeatures | None:
        """A fitted ``features`` extractor that made these columns, kept for image input."""
        extractor = self.features
        if extractor is None or not hasattr(extractor, "transformers_"):
            return None
        names = set(extractor.get_feature_names_out())
        if not set(columns) <= names:
            raise ValueError("the feature table has columns the given extractor does not make")
        import copy

        extractor = copy.deepcopy(extractor)
        meta = extractor.transformers_.get("meta")
        if meta is not None and getattr(meta, "sidecar_columns_", None):
            from .features._metadata import _sidecar_names

            # keep only the sidecar columns the model uses: predicting must not ask for others
            used = [
                c
                for c, n in zip(meta.sidecar_columns_, _sidecar_names(meta.sidecar_columns_))
                if n in set(columns)
            ]
            meta.set_params(sidecar=used or None)
            meta.fit()
            if extractor.meta is not None:
                extractor.set_params(meta=_clone(meta))
            names_out: list[str] = []
            for tr in extractor.transformers_.values():
                names_out.extend(tr.get_feature_names_out())
            extractor.feature_names_out_ = np.asarray(names_out, dtype=object)
            extractor.n_features_out_ = len(names_out)
        return extractor

    @staticmethod
    def _labels_groups(X: Any, y: Any, groups: Any) -> tuple[Any, Any]:
        if isinstance(X, pd.DataFrame):
            if y is None and "label" in X.columns:
                y = X["label"].to_numpy()
            if groups is None and "group" in X.columns:
                groups = X["group"].to_numpy()
        if y is None:
            raise ValueError(
                "requires y to be passed, but the target y is None: pass labels or a dataset "
                "DataFrame with a 'label' column"
            )
        return y, groups

    def _threads(self) -> int | None:
        """XGBoost threads: ``n_jobs``, or for ``None`` one thread on small tables.

        Below ~1M cells a tree is built faster by one thread than by several (OpenMP
        start-up and, on a busy machine, spin-waiting dominate); above it all cores help.
        """
        if self.n_jobs is not None:
            return self.n_jobs
        cells = getattr(self, "_n_cells", 0)
        return 1 if cells < SMALL_TABLE_CELLS else None

    def _xgb(self, n_estimators: int, early_stopping: int | None):
        from xgboost import XGBClassifier

        return XGBClassifier(
            n_estimators=n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            colsample_bynode=self.colsample_bynode,
            max_bin=self.max_bin,
            min_child_weight=self.min_child_weight,
            reg_lambda=self.reg_lambda,
            scale_pos_weight=self.scale_pos_weight_,
            tree_method="hist",
            objective="binary:logistic",
            eval_metric="logloss",
            early_stopping_rounds=early_stopping,
            n_jobs=self._threads(),
            random_state=0 if self.random_state is None else self.random_state,
        )

    def _validate_params(self) -> None:
        from .synthesis import augment_spec, pseudo_fake_kinds

        self._groups_tuple()
        pseudo_fake_kinds(self.pseudo_fakes)
        augment_spec(self.augment)
        if self.calibration is not None and self.calibration not in CALIBRATIONS:
            raise ValueError(
                f"calibration must be None or one of {CALIBRATIONS}, got {self.calibration!r}"
            )
        if not 0.0 < float(self.validation_fraction) < 0.5:
            raise ValueError("validation_fraction must be in (0, 0.5)")
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        spw = self.scale_pos_weight
        if not (spw == "auto" or (isinstance(spw, (int, float)) and spw > 0)):
            raise ValueError("scale_pos_weight must be 'auto' or a positive number")

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None, groups: Any = None) -> DeepfakeDetector:
        """Extract features (unless given) and train the classifier.

        Parameters
        ----------
        X : image paths, dataset DataFrame, or feature DataFrame
        y : array-like of {0, 1} or {"real", "fake"}, optional
            Taken from ``X["label"]`` for a dataset/feature DataFrame that has it. Names are
            matched case-insensitively (``"REAL"``, ``"Fake"``); any other label raises
            ``ValueError`` (see :func:`encode_labels`). ``classes_`` is always ``[0, 1]``, so
            column 1 of :meth:`predict_proba` is P(fake).
        groups : array-like, optional
            Group per sample (``X["group"]`` by default): the internal validation split
            never separates a group.

        Returns
        -------
        self
        """
        from sklearn.utils import assert_all_finite
        from sklearn.utils.multiclass import check_classification_targets, type_of_target
        from sklearn.utils.validation import column_or_1d

        self._validate_params()
        y, groups = self._labels_groups(X, y, groups)
        y = column_or_1d(y, warn=True)
        if y.dtype.kind in "fc":
            assert_all_finite(y, input_name="y")
        check_classification_targets(y)
        if len(np.unique(y)) > 2:
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"{type_of_target(y)}; labels must be 0 (real) and 1 (fake)"
            )
        y = encode_labels(y)
        X, y, groups, synth_tmp = self._synthesise(X, y, groups)
        try:
            classes = np.unique(y)
            if len(classes) < 2:
                raise ValueError(
                    "training labels contain one class only; need real (0) and fake (1), "
                    "or pseudo_fakes= to synthesize fakes from the reals"
                )
            kind = self._input_kind(X)
            self._stages_open()
            table = self._features(X, fit=True, y=y)
        finally:
            if synth_tmp is not None:
                import shutil

                shutil.rmtree(synth_tmp, ignore_errors=True)
        if len(table) != len(y):
            raise ValueError(f"X has {len(table)} samples but y has {len(y)}")
        g = np.arange(len(y)).astype(str) if groups is None else np.asarray(groups).astype(str)
        usable = ~np.isnan(table.to_numpy()).all(axis=1)
        origin = self.__dict__.pop("_origin_rows", None)
        n_degraded = self.__dict__.pop("_n_degraded", None)
        origin_counts = _origin_counts(origin, n_degraded)
        if origin is not None:
            origin = origin[usable] if len(origin) == len(usable) else None
        if not usable.all():
            logger.warning(
                "%d samples without any feature were left out of training", (~usable).sum()
            )
        if not usable.any():
            raise ValueError(
                f"none of the {len(y)} samples has any feature value (every row is NaN): "
                "did every input fail extraction? (see extraction_failures_)"
            )
        if len(np.unique(y[usable])) < 2:
            raise ValueError(
                f"after leaving out {(~usable).sum()} samples without any feature, only one "
                "class is left; need real (0) and fake (1) samples with features"
            )
        Xv, yv, gv = table.to_numpy(dtype=np.float32)[usable], y[usable], g[usable]
        self._stage(
            "features",
            f"features: {len(yv)} usable samples × {table.shape[1]} columns ("
            + ", ".join(f"{k} {v}" for k, v in _group_counts(table.columns).items())
            + (f"; {int((~usable).sum())} without features left out)" if not usable.all() else ")"),
        )

        self.columns_ = np.asarray(table.columns, dtype=object)
        self.sidecar_columns_ = self._used_sidecar()
        if self.sidecar_columns_:
            logger.info("sidecar features (opted in): %s", self.sidecar_columns_)
        if kind != "matrix":  # validate_data sets these for numeric tables
            self.feature_names_in_ = self.columns_
            self.n_features_in_ = len(self.columns_)
        self.classes_ = np.array([0, 1])
        Xv = self._fit_probe(Xv, yv, gv)
        if self.probe_ is not None:
            self._stage(
                "probe",
                f"linear probe: {len(self.probe_.columns)} cnn columns → {PROBE_COLUMN} "
                "(grouped out-of-fold scores)",
            )
        self._n_cells = Xv.shape[0] * Xv.shape[1]
        n_real, n_fake = int((yv == 0).sum()), int((yv == 1).sum())
        self.scale_pos_weight_ = (
            n_real / n_fake if self.scale_pos_weight == "auto" else float(self.scale_pos_weight)
        )

        needs_holdout = self.early_stopping_rounds is not None or self.calibration is not None
        holdout = self._holdout(yv, gv) if needs_holdout else None

        self.validation_metrics_ = {}
        if holdout is None:
            n_trees = self.n_estimators
            if needs_holdout:
                n_trees = min(self.n_estimators, FALLBACK_TREES)
            model = self._xgb(n_trees, None).fit(Xv, yv, verbose=False)
            self.best_iteration_ = n_trees
            self.calibrator_ = None
            self._stage("trees", f"trees: {n_trees} on all {len(yv)} samples (no validation)")
        else:
            train_idx, val_idx = holdout
            model = self._xgb(self.n_estimators, self.early_stopping_rounds).fit(
                Xv[train_idx],
                yv[train_idx],
                eval_set=[(Xv[val_idx], yv[val_idx])],
                verbose=False,
            )
            best = getattr(model, "best_iteration", None)
            self.best_iteration_ = int(best) + 1 if best is not None else self.n_estimators
            self.calibrator_ = None
            self._stage(
                "trees",
                f"early stopping: {self.best_iteration_} trees on a grouped validation fold "
                f"of {len(val_idx)} samples ({len(np.unique(gv[val_idx]))} groups)",
            )
            raw = model.predict_proba(Xv[val_idx])[:, 1]
            self.validation_metrics_ = self._honest_validation(
                raw, yv[val_idx], gv[val_idx], None if origin is None else origin[val_idx]
            )
            if self.calibration is not None:
                self.calibrator_ = _Calibrator.fit(self.calibration, raw, yv[val_idx])
                self._stage(
                    "calibration",
                    f"calibration: {self.calibration}, fitted on the validation fold; "
                    f"its quality: {self.validation_metrics_['calibration_evaluation']}",
                )
            if self.refit:
                model = self._xgb(self.best_iteration_, None).fit(Xv, yv, verbose=False)
                self._stage("refit", f"refit: {self.best_iteration_} trees on all {len(yv)}")
        self.model_ = model
        self._set_importances()
        self._audit(table[usable] if self.audit else None, yv, gv)
        if self.audit:
            n_flag = len(self.leakage_warnings_)
            self._stage(
                "audit",
                "leakage audit: nothing flagged"
                if not n_flag
                else f"leakage audit: {n_flag} feature(s) alone separate the classes",
            )
        self.training_summary_ = self._summary(
            yv, gv, int((~usable).sum()), 0 if holdout is None else len(holdout[1])
        )
        if origin_counts:
            self.training_summary_["origin"] = origin_counts
        self.training_summary_["stages"] = self._stages_close()
        return self

    def _synthesise(self, X: Any, y: Any, groups: Any) -> tuple[Any, Any, Any, Path | None]:
        """Add pseudo-fakes / degradations (``pseudo_fakes``, ``augment``) to image input.

        Returns the (possibly expanded) dataset, labels, groups and a temporary folder to
        delete after extraction (``None`` when synthesized files live under ``cache_dir``).
        """
        from .features._base import as_items
        from .synthesis import augment_spec, expand_training_set, pseudo_fake_kinds

        for stale in ("_origin_rows", "_n_degraded"):  # from an earlier, interrupted fit
            self.__dict__.pop(stale, None)
        self.synthesis_failures_ = pd.DataFrame(columns=["path", "stage", "reason"])
        kinds = pseudo_fake_kinds(self.pseudo_fakes)
        p, _ = augment_spec(self.augment)
        if not kinds and p == 0:
            if isinstance(X, pd.DataFrame) and "origin" in X.columns:  # made by the CLI
                self._origin_rows = X["origin"].astype(str).to_numpy()
            return X, y, groups, None
        kind = self._input_kind(X)
        if kind not in ("images", "dataset"):
            raise ValueError(
                "pseudo_fakes and augment synthesize images, so fit needs image paths or a "
                "dataset DataFrame with a 'path' column, not a feature table"
            )
        if kind == "dataset":
            data = X.reset_index(drop=True).copy()
        else:
            items = as_items(X)
            if not all(isinstance(i, str) for i in items):
                raise ValueError("pseudo_fakes and augment need image files, not arrays")
            data = pd.DataFrame({"path": items})
        labels = np.asarray(y)
        if len(labels) != len(data):
            raise ValueError(f"X has {len(data)} samples but y has {len(labels)}")
        if labels.dtype.kind not in "iub" or not set(np.unique(labels).tolist()) <= {0, 1}:
            raise ValueError(
                "pseudo_fakes / augment need labels 0 (real) and 1 (fake), got "
                f"{np.unique(labels)[:5]}"
            )
        data["label"] = labels.astype(int)
        if groups is not None:
            data["group"] = np.asarray(groups).astype(str)
        elif "group" not in data.columns:
            data["group"] = data["path"].astype(str)
        tmp = None
        if self.cache_dir is not None:
            out_dir = Path(self.cache_dir) / "synthesis"
        else:
            import tempfile

            tmp = out_dir = Path(tempfile.mkdtemp(prefix="deepfeat-synth-"))
        seed = 0 if self.random_state is None else int(self.random_state)
        try:
            expanded, failures = expand_training_set(
                data,
                out_dir,
                pseudo_fakes=kinds,
                augment=self.augment,
                random_state=seed,
                progress=self.progress,
            )
        except BaseException:
            if tmp is not None:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.synthesis_failures_ = failures
        self._origin_rows = expanded["origin"].astype(str).to_numpy()
        if "degraded" in expanded.columns:
            self._n_degraded = int((expanded["degraded"] != "").sum())
        logger.info(
            "training set with synthesis: %s",
            _origin_counts(self._origin_rows, getattr(self, "_n_degraded", None)),
        )
        return expanded, expanded["label"].to_numpy(), expanded["group"].to_numpy(), tmp

    def _stages_open(self) -> None:
        self._stage_lines: list[str] = []
        self._stage_bar = None
        if self.progress:
            from tqdm.auto import tqdm

            self._stage_bar = tqdm(total=None, desc="train", unit="stage", leave=False)

    def _stage(self, name: str, text: str) -> None:
        """Log one training stage (and advance the progress bar)."""
        logger.info(text)
        self._stage_lines.append(text)
        if self._stage_bar is not None:
            self._stage_bar.set_postfix_str(name)
            self._stage_bar.update(1)

    def _stages_close(self) -> list[str]:
        if self._stage_bar is not None:
            self._stage_bar.close()
        lines = self._stage_lines
        del self._stage_lines, self._stage_bar
        return lines

    def _honest_validation(
        self, raw: np.ndarray, y: np.ndarray, g: np.ndarray, origin: np.ndarray | None
    ) -> dict:
        """Validation metrics on the user's own images: synthesized rows left out.

        Pseudo-fakes are easy to tell from their reals, so counting them would flatter the
        metrics. They are left out whenever the original rows still hold both classes
        (``rows`` says which rows were scored).
        """
        synthetic = None if origin is None else origin != "original"
        if synthetic is None or not synthetic.any():
            return self._validation_metrics(raw, y, g)
        keep = ~synthetic
        if len(np.unique(y[keep])) == 2:
            metrics = self._validation_metrics(raw[keep], y[keep], g[keep])
            metrics["rows"] = (
                f"original images only ({int(synthetic.sum())} pseudo-fakes of the "
                "validation fold left out)"
            )
            return metrics
        metrics = self._validation_metrics(raw, y, g)
        metrics["rows"] = "all, pseudo-fakes included (the originals hold one class only)"
        return metrics

    def _validation_metrics(self, raw: np.ndarray, y: np.ndarray, g: np.ndarray) -> dict:
        """Metrics of the validation fold; calibration quality only where out-of-sample.

        Uncalibrated scores are out-of-sample on this fold as they are. A calibration map
        fitted on the fold would score itself (isotonic regression then reaches an ECE of
        0), so the calibrated probabilities are cross-fitted over grouped parts of the fold
        (:func:`_cross_fitted`); when the fold is too small for that, Brier and ECE are left
        out. ``calibration_evaluation`` says which.
        """
        if self.calibration is None:
            metrics = metrics_from_scores(y, raw, self.threshold)
            metrics["calibration_evaluation"] = "uncalibrated scores, out-of-sample"
            return metrics
        proba, k = _cross_fitted(self.calibration, raw, y, g, self.random_state)
        if proba is None:
            metrics = metrics_from_scores(y, raw, self.threshold)
            for key in ("brier", "ece", "n_distinct_proba"):
                metrics.pop(key)
            metrics["calibration_evaluation"] = (
                "not reported: the validation fold is too small to cross-fit the calibration"
            )
            return metrics
        metrics = metrics_from_scores(y, proba, self.threshold)
        metrics["calibration_evaluation"] = (
            f"{self.calibration} calibration cross-fitted over {k} grouped parts of the "
            "validation fold (each part calibrated by a map fitted on the others)"
        )
        return metrics

    def _used_sidecar(self) -> list[str]:
        """Dataset columns behind the model's ``meta_sidecar_*`` features."""
        side = [c for c in self.columns_ if str(c).startswith("meta_sidecar_")]
        meta = None if self.features_ is None else self.features_.transformers_.get("meta")
        if meta is not None and getattr(meta, "sidecar_columns_", None):
            from .features._metadata import _sidecar_names

            by_name = dict(zip(_sidecar_names(meta.sidecar_columns_), meta.sidecar_columns_))
            return [by_name.get(c, c) for c in side]
        return [c[len("meta_sidecar_") :] for c in side]

    def _holdout(self, y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The grouped, stratified validation fold (sorted indices), or None if too small."""
        n_splits = max(2, round(1.0 / float(self.validation_fraction)))
        holdout = None
        if len(np.unique(groups)) >= n_splits and np.bincount(y, minlength=2).min() >= n_splits:
            train_idx, val_idx = next(
                grouped_splits(y, groups, n_splits=n_splits, random_state=self.random_state)
            )
            minority = np.bincount(y[val_idx], minlength=2).min()
            if minority >= MIN_VALIDATION_PER_CLASS and len(np.unique(y[train_idx])) == 2:
                holdout = (np.sort(train_idx), np.sort(val_idx))
        if holdout is None:
            logger.warning(
                "too few samples for a grouped validation fold (fewer than %d per class): "
                "no early stopping or calibration; training %d trees",
                MIN_VALIDATION_PER_CLASS,
                min(self.n_estimators, FALLBACK_TREES),
            )
        return holdout

    def _audit(self, table: pd.DataFrame | None, y: np.ndarray, groups: np.ndarray) -> None:
        """Run the leakage audit on training features (``None``: skip) and log a summary."""
        self.leakage_warnings_ = []
        if table is None:
            return
        report = leakage_report(table, y, groups)
        self.leakage_warnings_ = list(report.loc[report["flag"], "explanation"])
        if self.leakage_warnings_:
            flagged = list(report.loc[report["flag"], "feature"])
            logger.warning(
                "leakage audit: %d feature(s) alone separate the classes (AUC >= 0.98 or "
                "<= 0.02), e.g. %s; see leakage_warnings_",
                len(flagged),
                ", ".join(flagged[:5]),
            )

    def _summary(
        self, y: np.ndarray, groups: np.ndarray, n_unusable: int, n_validation: int
    ) -> dict[str, Any]:
        """The training summary stored in ``training_summary_`` and the model card."""
        return {
            "n_samples": len(y),
            "n_real": int((y == 0).sum()),
            "n_fake": int((y == 1).sum()),
            "n_groups": len(np.unique(groups)),
            "n_unusable": n_unusable,
            "scale_pos_weight": self.scale_pos_weight_,
            "best_iteration": self.best_iteration_,
            "validation_samples": n_validation,
        }

    def _fit_probe(self, Xv: np.ndarray, yv: np.ndarray, gv: np.ndarray) -> np.ndarray:
        """Fit the optional CNN linear probe; return the matrix XGBoost trains on."""
        names = list(self.columns_)
        cnn = [i for i, n in enumerate(names) if feature_group(n) == "cnn"]
        self.probe_ = None
        self.model_columns_ = np.asarray(names, dtype=object)
        if not self.linear_probe or not cnn:
            if self.linear_probe:
                logger.info("linear_probe: no cnn_* columns, nothing to stack")
            return Xv
        cols = [names[i] for i in cnn]
        block = Xv[:, cnn]
        oof = np.full(len(yv), np.nan)
        n_splits = int(min(5, len(np.unique(gv)), np.bincount(yv, minlength=2).min()))
        if n_splits >= 2:
            for train, test in grouped_splits(
                yv, gv, n_splits=n_splits, random_state=self.random_state
            ):
                if len(np.unique(yv[train])) < 2:
                    continue
                fold = _LinearProbe.fit(block[train], yv[train], cols, self.probe_C)
                oof[test] = fold.decision(block[test])
        if np.isnan(oof).any():
            logger.warning("linear probe: too few groups for out-of-fold scores; using in-sample")
        self.probe_ = _LinearProbe.fit(block, yv, cols, self.probe_C)
        missing = np.isnan(oof)
        oof[missing] = self.probe_.decision(block[missing])
        keep = [i for i in range(len(names)) if self.probe_keep_columns or i not in set(cnn)]
        self.model_columns_ = np.asarray([names[i] for i in keep] + [PROBE_COLUMN], dtype=object)
        return np.column_stack([Xv[:, keep], oof.astype(np.float32)])

    def _model_matrix(self, M: np.ndarray) -> np.ndarray:
        """Input feature matrix (``columns_``) → the matrix the trees score."""
        if self.probe_ is None:
            return M
        names = list(self.columns_)
        keep = [names.index(c) for c in self.model_columns_[:-1]]
        probe_idx = [names.index(c) for c in self.probe_.columns]
        score = self.probe_.decision(M[:, probe_idx]).astype(np.float32)
        return np.column_stack([M[:, keep], score])

    def _set_importances(self) -> None:
        booster = self.model_.get_booster()
        gain = booster.get_score(importance_type="total_gain")
        names = list(self.model_columns_)
        imp = np.zeros(len(names))
        for key, value in gain.items():
            idx = int(key[1:]) if key.startswith("f") and key[1:].isdigit() else names.index(key)
            imp[idx] = value
        total = imp.sum()
        self.feature_importances_ = imp / total if total > 0 else imp
        groups = (
            pd.Series(self.feature_importances_, index=names)
            .groupby(
                [feature_group(n) if feature_group(n) in GROUPS else "other" for n in names],
                sort=False,
            )
            .sum()
        )
        self.group_importances_ = groups.sort_values(ascending=False)

    # ------------------------------------------------------------------ prediction
    def _matrix(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(model matrix, rows without any feature) for ``X``."""
        check_is_fitted(self, "model_")
        M = self._features(X, fit=False).to_numpy(dtype=np.float32)
        return self._model_matrix(M), np.isnan(M).all(axis=1)

    def extract(self, X: Any) -> pd.DataFrame:
        """The feature table the detector would score for ``X`` (training columns, in order).

        Useful to extract once and then call several methods on the table; extraction
        failures are in ``extraction_failures_``.

        Returns
        -------
        pandas.DataFrame
        """
        check_is_fitted(self, "model_")
        return self._features(X, fit=False)

    def decision_function(self, X: Any) -> np.ndarray:
        """Raw log-odds of "fake" from the trees (before calibration).

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
        """
        M, _ = self._matrix(X)
        return self.model_.predict(M, output_margin=True).astype(float)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities ``[P(real), P(fake)]`` per sample (calibrated when configured).

        Samples whose features failed entirely get NaN.

        Returns
        -------
        numpy.ndarray of shape (n_samples, 2)
        """
        M, empty = self._matrix(X)
        p = self._proba_from_matrix(M)
        p[empty] = np.nan
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """Labels (0 real, 1 fake) at ``threshold``; -1 where no features could be computed."""
        p = self.predict_proba(X)[:, 1]
        out = (p >= self.threshold).astype(int)
        out[np.isnan(p)] = -1
        return out

    def set_threshold_for_fpr(self, X: Any, y: Any, fpr: float = 0.05) -> DeepfakeDetector:
        """Set ``threshold`` so that at most ``fpr`` of the real images in (X, y) are flagged.

        Returns
        -------
        self
        """
        if not 0.0 <= fpr < 1.0:
            raise ValueError("fpr must be in [0, 1)")
        p = self.predict_proba(X)[:, 1]
        y = np.asarray(y).astype(int)
        real = np.sort(p[(y == 0) & np.isfinite(p)])
        if real.size == 0:
            raise ValueError("set_threshold_for_fpr needs real (label 0) samples")
        k = int(np.floor(fpr * real.size))  # number of reals allowed above the threshold
        threshold = float(np.nextafter(real[real.size - k - 1], np.inf)) if k < real.size else 0.0
        self.set_params(threshold=min(1.0, threshold))
        return self

    def explain(self, X: Any, top: int = 3) -> pd.DataFrame:
        """Per-image contributions (exact TreeSHAP, in log-odds) summed per feature group.

        Parameters
        ----------
        X : paths, dataset DataFrame or feature DataFrame
        top : int, default=3
            Number of most influential features listed per image.

        Returns
        -------
        pandas.DataFrame
            ``proba``, ``margin``, ``contrib_<group>`` for each group, ``contrib_bias`` and
            ``top_features`` (a list of ``(feature, contribution)`` by absolute size). The
            contributions of a row sum to its margin. An input whose features all failed
            (see ``extraction_failures_``) gets NaN everywhere and no top features.
            ``df.attrs["contributions"]`` holds the
            full per-feature matrix and ``df.attrs["values"]`` the values the trees saw
            (``model_columns_``, including the ``cnn_probe`` score).
        """
        import xgboost as xgb

        M, empty = self._matrix(X)
        contrib = self.model_.get_booster().predict(
            xgb.DMatrix(M), pred_contribs=True, validate_features=False
        )
        contrib[empty] = np.nan  # an input without features has no score to explain
        names = list(self.model_columns_)
        full = pd.DataFrame(contrib[:, :-1], columns=names)
        out = pd.DataFrame({"margin": contrib.sum(axis=1)})
        out["proba"] = self._proba_from_matrix(M)
        out.loc[empty, "proba"] = np.nan
        groups = [feature_group(n) if feature_group(n) in GROUPS else "other" for n in names]
        for group in dict.fromkeys(groups):
            cols = [n for n, g in zip(names, groups) if g == group]
            out[f"contrib_{group}"] = full[cols].sum(axis=1, skipna=False)
        out["contrib_bias"] = contrib[:, -1]
        order = np.argsort(-np.abs(contrib[:, :-1]), axis=1)[:, :top]
        out["top_features"] = [
            [] if empty[i] else [(names[j], float(contrib[i, j])) for j in order[i]]
            for i in range(len(M))
        ]
        out.attrs["contributions"] = full
        out.attrs["values"] = pd.DataFrame(M, columns=names)
        return out

    def _proba_from_matrix(self, M: np.ndarray) -> np.ndarray:
        p = self.model_.predict_proba(M)[:, 1].astype(float)
        return self.calibrator_(p) if self.calibrator_ is not None else p

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ persistence
    def _card(self) -> dict[str, Any]:
        import sklearn
        import xgboost

        params = {k: v for k, v in self.get_params(deep=False).items() if k not in ("features",)}
        extractor = None
        backbone = None
        if self.features_ is not None:
            extractor = _extractor_to_json(self.features_)
            backbone = extractor.get("backbone_sha256")
        return {
            "format": CARD_FORMAT,
            "format_version": CARD_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model_file": MODEL_NAME,
            "model_sha256": None,
            "feature_names": list(self.columns_),
            "sidecar_columns": list(self.sidecar_columns_),
            "model_columns": list(self.model_columns_),
            "linear_probe": None if self.probe_ is None else self.probe_.to_json(),
            "groups": list(self._groups_tuple()),
            "params": _json_safe(params),
            "threshold": float(self.threshold),
            "calibration": None if self.calibrator_ is None else self.calibrator_.to_json(),
            "scale_pos_weight": self.scale_pos_weight_,
            "best_iteration": self.best_iteration_,
            "extractor": extractor,
            "backbone_sha256": backbone,
            "training": _json_safe(self.training_summary_),
            "leakage_warnings": list(self.leakage_warnings_),
            "versions": {
                "deepfeat": __version__,
                "xgboost": xgboost.__version__,
                "scikit-learn": sklearn.__version__,
                "numpy": np.__version__,
            },
        }

    def save(self, path: str | Path) -> Path:
        """Save to a directory (or a ``.zip``): ``model.ubj`` (XGBoost UBJSON) + ``card.json``.

        Nothing is pickled. The card records the feature names, groups, extractor settings,
        backbone sha256, threshold, calibration map, package versions and a training summary.
        A user ONNX backbone (``CNNEmbedder(model=...)``) is copied into a model folder as
        ``backbone.onnx`` (and its sha256 recorded), so that :meth:`load` finds it there; a
        ``.zip`` only records its path, which :meth:`load` uses only with
        ``trust_backbone=True``.

        Returns
        -------
        pathlib.Path
        """
        check_is_fitted(self, "model_")
        path = Path(path)
        raw = bytes(self.model_.get_booster().save_raw(raw_format="ubj"))
        card = self._card()
        card["model_sha256"] = hashlib.sha256(raw).hexdigest()
        cnn = ((card.get("extractor") or {}).get("transformers") or {}).get("cnn")
        own_backbone = None
        zipped = path.suffix.lower() == ".zip"
        if cnn is not None and cnn["params"].get("model") is not None and not zipped:
            own_backbone = Path(cnn["params"]["model"])
            cnn["params"]["model"] = BACKBONE_NAME
        card_bytes = json.dumps(card, indent=2, sort_keys=True).encode()
        if path.suffix.lower() == ".zip":
            path.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(CARD_NAME, card_bytes)
                zf.writestr(MODEL_NAME, raw)
        else:
            path.mkdir(parents=True, exist_ok=True)
            unknown = sorted(
                p.name
                for p in path.iterdir()
                if p.name not in (CARD_NAME, MODEL_NAME, BACKBONE_NAME)
            )
            if unknown:
                raise FileExistsError(
                    f"{path} holds other files ({unknown[:3]}); choose an empty folder"
                )
            target = path / BACKBONE_NAME
            if own_backbone is not None and not (
                target.exists() and os.path.samefile(own_backbone, target)
            ):
                shutil.copyfile(own_backbone, target)
            elif own_backbone is None:
                target.unlink(missing_ok=True)
            (path / MODEL_NAME).write_bytes(raw)
            (path / CARD_NAME).write_bytes(card_bytes)
        return path

    @classmethod
    def load(cls, path: str | Path, *, trust_backbone: bool = False) -> DeepfakeDetector:
        """Load a detector written by :meth:`save`, without unpickling anything.

        Nothing in the folder or archive is trusted: the files' sizes are checked before
        they are read (``card.json`` at most 16 MiB, ``model.ubj`` 256 MiB, also inside a
        zip before decompressing), every card field is checked against a schema (types,
        ranges, sizes; :mod:`deepfeat._card_schema`) before it is used, and the XGBoost
        file is parsed and checked (:mod:`deepfeat._ubj`) before XGBoost's own loader sees
        it. The CNN backbone must be the bundled one or ``backbone.onnx`` inside the model
        folder, with the sha256 the card records.

        Parameters
        ----------
        path : str or path-like
            Model folder or ``.zip``.
        trust_backbone : bool, default=False
            Also accept a card whose CNN names an ONNX file elsewhere on disk (only for
            models you made yourself) or records no backbone sha256 (then unchecked).

        Raises
        ------
        ModelFileError
            One line for anything malformed or tampered with: unexpected or special files,
            sizes over the limits, a card that fails the schema, a model file whose sha256
            differs from the card's, a backbone hash that differs from the installed one.
        FileNotFoundError
            Nothing at ``path``.
        """
        path = Path(path)
        files = _read_model_files(path)
        try:
            card = parse_card(files[CARD_NAME], format_name=CARD_FORMAT, version=CARD_VERSION)
        except CardError as exc:
            raise ModelFileError(f"{path}: card.json: {exc}") from None
        raw = files[MODEL_NAME]
        if hashlib.sha256(raw).hexdigest() != card["model_sha256"]:
            raise ModelFileError(f"{path}: model.ubj does not match the sha256 in card.json")
        from ._ubj import UBJError, check_model

        try:  # XGBoost's C++ loader aborts or segfaults on malformed bytes
            n_model_features = check_model(raw)
        except UBJError as exc:
            raise ModelFileError(f"{path}: model.ubj is not a valid XGBoost model: {exc}") from None
        names = card["feature_names"]
        params = card.get("params") or {}
        valid = cls().get_params(deep=False)
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ModelFileError(f"{path}: card has unknown parameters {unknown}")
        try:
            det = cls(**{k: (tuple(v) if k == "groups" else v) for k, v in params.items()})
            det._validate_params()
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: card.json: invalid params: {exc}") from None
        extractor = card.get("extractor")
        folder = path if path.is_dir() else None
        det.features_ = (
            None
            if extractor is None
            else _extractor_from_json(extractor, path, folder=folder, trust_backbone=trust_backbone)
        )
        if folder is not None and (folder / BACKBONE_NAME).exists():
            cnn = None if det.features_ is None else det.features_.transformers_.get("cnn")
            if cnn is None or cnn.model is None or Path(cnn.model).name != BACKBONE_NAME:
                raise ModelFileError(f"{path}: {BACKBONE_NAME} is not used by the card")

        from xgboost import XGBClassifier

        model = XGBClassifier()
        try:
            model.load_model(bytearray(raw))
        except Exception as exc:  # xgboost raises its own error types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelFileError(
                f"{path}: model.ubj is not a valid XGBoost model: {first}"
            ) from None
        det.model_ = model
        det.columns_ = np.asarray(names, dtype=object)
        det.feature_names_in_ = det.columns_
        det.sidecar_columns_ = [str(c) for c in card.get("sidecar_columns", [])]
        probe = card.get("linear_probe")
        det.probe_ = None if probe is None else _LinearProbe.from_json(probe)
        model_columns = card.get("model_columns", names)
        if len(model_columns) != n_model_features:
            raise ModelFileError(
                f"{path}: card lists {len(model_columns)} model_columns but model.ubj has "
                f"{n_model_features} features"
            )
        det.model_columns_ = np.asarray(model_columns, dtype=object)
        det.n_features_in_ = len(names)
        det.classes_ = np.array([0, 1])
        det.scale_pos_weight_ = float(card.get("scale_pos_weight", 1.0))
        det.best_iteration_ = int(card.get("best_iteration", 0))
        cal = card.get("calibration")
        det.calibrator_ = None if cal is None else _Calibrator.from_json(cal)
        det.threshold = float(card.get("threshold", 0.5))
        det.leakage_warnings_ = list(card.get("leakage_warnings", []))
        det.training_summary_ = dict(card.get("training") or {})
        det._set_importances()
        return det


def _check_feature_table(X: pd.DataFrame, cols: list[str]) -> None:
    """Refuse a feature table with duplicated feature columns or infinite values."""
    counts = pd.Series(cols, dtype=object).value_counts()
    dup = sorted(counts.index[counts > 1])
    if dup:
        raise ValueError(
            f"the feature table has {len(dup)} duplicated column names (first: {dup[:5]}); "
            "each feature must appear once"
        )
    bad, n_inf = [], 0
    for c in cols:  # column by column: no copy of the whole table
        try:
            n = int(np.isinf(np.asarray(X[c], dtype=np.float32)).sum())
        except (TypeError, ValueError):
            continue  # not numeric: the conversion that follows explains it
        if n:
            bad.append(c)
            n_inf += n
    if bad:
        raise ValueError(
            f"the feature table has {n_inf} infinite (or beyond float32) values in {len(bad)} "
            f"columns (first: {bad[:5]}); replace them with NaN (missing) or finite values"
        )


def _clone(estimator: Any) -> Any:
    from sklearn.base import clone

    return clone(estimator)


def _read_limited(fh: Any, limit: int, where: str) -> bytes:
    data = fh.read(limit + 1)  # never more than the limit, whatever a header claims
    if len(data) > limit:
        raise ModelFileError(f"{where} is larger than the limit of {limit} bytes")
    return data


def _read_model_files(path: Path) -> dict[str, bytes]:
    """card.json and model.ubj of a model folder or zip; sizes checked before reading."""
    expected = {CARD_NAME, MODEL_NAME}
    if path.is_dir():
        present = {p.name for p in path.iterdir()}
        unknown = sorted(present - expected - {BACKBONE_NAME})
        if unknown:
            raise ModelFileError(
                f"{path}: unexpected files {unknown}; a model folder holds only card.json and "
                "model.ubj (nothing is ever unpickled)"
            )
        missing = sorted(expected - present)
        if missing:
            raise ModelFileError(f"{path}: missing {missing}")
        files = {}
        for name in sorted(expected):
            try:
                fh = open_regular(path / name)  # a FIFO or device is refused, never read
            except OSError as exc:
                raise ModelFileError(f"{path}: {name}: {exc.strerror or exc}") from None
            with fh:
                size = os.fstat(fh.fileno()).st_size
                if size > _SIZE_LIMITS[name]:
                    raise ModelFileError(
                        f"{path}: {name} is {size} bytes, over the limit of {_SIZE_LIMITS[name]}"
                    )
                files[name] = _read_limited(fh, _SIZE_LIMITS[name], f"{path}: {name}")
        return files
    if path.is_file() and zipfile.is_zipfile(path):
        limit = sum(_SIZE_LIMITS.values())
        if path.stat().st_size > limit:
            raise ModelFileError(f"{path}: archive larger than the limit of {limit} bytes")
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                unknown = sorted(set(names) - expected)
                if unknown:
                    raise ModelFileError(f"{path}: unexpected archive members {unknown[:5]}")
                if len(names) != len(set(names)):
                    raise ModelFileError(f"{path}: duplicated archive members")
                missing = sorted(expected - set(names))
                if missing:
                    raise ModelFileError(f"{path}: missing {missing}")
                files = {}
                for name in sorted(expected):
                    info = zf.getinfo(name)
                    if info.file_size > _SIZE_LIMITS[name]:  # before decompressing anything
                        raise ModelFileError(
                            f"{path}: {name} is {info.file_size} bytes uncompressed, over the "
                            f"limit of {_SIZE_LIMITS[name]}"
                        )
                    with zf.open(info) as fh:
                        files[name] = _read_limited(fh, _SIZE_LIMITS[name], f"{path}: {name}")
                return files
        except ModelFileError:
            raise
        except Exception as exc:  # BadZipFile, zlib.error, unsupported compression …
            raise ModelFileError(f"{path}: unreadable zip archive: {exc}") from None
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    raise ModelFileError(f"{path}: not a model folder or zip archive")


def _transformer_params(tr: Any) -> dict[str, Any]:
    params = {}
    for key, value in tr.get_params(deep=False).items():
        try:
            params[key] = _json_safe(value)
        except TypeError:
            logger.debug("parameter %s of %s not saved", key, type(tr).__name__)
    return params


def _extractor_to_json(extractor: ImageFeatures) -> dict[str, Any]:
    data: dict[str, Any] = {
        "groups": list(extractor.transformers_),
        "params": {
            k: _json_safe(v)
            for k, v in extractor.get_params(deep=False).items()
            if k in ("batch_size", "max_pixels", "crop_faces", "canonical_size")
            and not hasattr(v, "get_params")
        },
        "transformers": {},
        "backbone_sha256": None,
    }
    for group, tr in extractor.transformers_.items():
        entry = {"class": type(tr).__name__, "params": _transformer_params(tr)}
        if hasattr(tr, "sidecar_columns_"):  # freeze what "auto" chose at fit time
            entry["params"]["sidecar"] = list(tr.sidecar_columns_)
        if hasattr(tr, "state_to_json"):
            entry["state"] = _json_safe(tr.state_to_json())
        data["transformers"][group] = entry
        if group == "cnn":
            data["backbone_sha256"] = model_sha256(tr)
    return data


def _extractor_from_json(
    data: Any,
    path: Path,
    *,
    folder: Path | None = None,
    trust_backbone: bool = False,
) -> ImageFeatures:
    """The fitted extractor an extractor JSON (card or parquet metadata) describes.

    The JSON is checked against the card schema first. A CNN may use the bundled backbone
    or ``folder / "backbone.onnx"`` (when ``folder`` is the model folder), and its sha256
    must be recorded and match; ``trust_backbone=True`` also allows any other path and a
    missing hash.
    """
    import importlib

    from ._card_schema import EXTRACTOR

    try:
        EXTRACTOR(data, "extractor")
    except CardError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    modules = {
        "CNNEmbedder": ".features._cnn",
        "FFTSpectrum": ".features._fft",
        "MetadataFeatures": ".features._meta",
    }
    transformers: dict[str, Any] = {}
    for group, entry in (data.get("transformers") or {}).items():
        cls = getattr(importlib.import_module(modules[entry["class"]], __package__), entry["class"])
        params = dict(entry.get("params") or {})
        valid = cls().get_params(deep=False)
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ModelFileError(f"{path}: unknown {cls.__name__} parameters {unknown}")
        if group == "cnn" and params.get("model") is not None:
            params["model"] = _backbone_file(params["model"], path, folder, trust_backbone)
        try:
            transformers[group] = cls(
                **{
                    k: (tuple(v) if isinstance(v, list) and isinstance(valid[k], tuple) else v)
                    for k, v in params.items()
                }
            )
            transformers[group]._validate_params()
            if "state" in entry and hasattr(transformers[group], "state_from_json"):
                transformers[group].state_from_json(entry["state"])
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{path}: invalid {cls.__name__} settings: {exc}") from None
    cnn = transformers.get("cnn")  # checked before onnxruntime ever opens the file
    expected = data.get("backbone_sha256")
    if cnn is not None and expected is None:
        if not trust_backbone:
            raise ModelFileError(
                f"{path}: the card records no backbone sha256, so the CNN backbone cannot be "
                "checked; pass trust_backbone=True only for a model you made yourself"
            )
        logger.warning("%s: no backbone sha256 recorded; backbone not checked", path)
    elif cnn is not None:
        try:
            installed = model_sha256(cnn)
        except (OSError, RuntimeError) as exc:
            raise ModelFileError(f"{path}: cannot check the CNN backbone: {exc}") from None
        if installed != expected:
            raise ModelFileError(
                f"{path}: the model was trained with backbone sha256 {expected[:12]}…, but the "
                f"installed backbone is {str(installed)[:12]}…; retrain or install the "
                "matching version"
            )
    params = dict(data.get("params") or {})
    params.setdefault("canonical_size", None)  # cards from before the scale policy: native
    try:
        extractor = ImageFeatures(
            groups=tuple(data.get("groups") or transformers),
            **{g: transformers.get(g) for g in GROUPS},
            **params,
        )
        extractor.fit()
    except (TypeError, ValueError, ImportError, OSError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: invalid extractor settings: {exc}") from None
    return extractor


def _backbone_file(model: Any, path: Path, folder: Path | None, trust: bool) -> str:
    """Where a card's ``cnn.params.model`` may point: its own folder's backbone.onnx."""
    if not isinstance(model, str):
        raise ModelFileError(f"{path}: cnn model must be a file name, got {type(model).__name__}")
    if model == BACKBONE_NAME and folder is not None:
        target = folder / BACKBONE_NAME
        if target.is_symlink() or not target.is_file():
            raise ModelFileError(f"{path}: {BACKBONE_NAME} is missing or not a regular file")
        return os.fspath(target)
    if trust:
        return model
    raise ModelFileError(
        f"{path}: the card's CNN backbone is {model[:200]!r}, outside the model folder; only "
        f"the bundled backbone or {BACKBONE_NAME} saved in the model folder are loaded "
        "(pass trust_backbone=True for a model you made yourself)"
    )
