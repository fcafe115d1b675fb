"""Shared helpers of ``scripts/benchmark.py``: data, cached features, models, grouped CV.

Nothing here is part of the ``deepfeat`` package; it only orchestrates the public API
(``load_dataset``, ``ImageFeatures``, ``extract_table``, ``DeepfakeDetector``,
``grouped_splits``) for the benchmark. Feature tables are cached per variant under
``/tmp/deepfeat-bench`` (``DEEPFEAT_BENCH_CACHE`` overrides it), never in the repository.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import resource
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))
CACHE_ROOT = Path(os.environ.get("DEEPFEAT_BENCH_CACHE", "/tmp/deepfeat-bench"))
SETS = {"dfdc": "dfdc_faces", "k140": "k140_faces"}
SET_TITLES = {
    "dfdc": "DFDC faces (224 px, face swaps, grouped by source video)",
    "k140": "k140 faces (256 px, FFHQ vs StyleGAN, one group per image)",
}
METRICS = ("roc_auc", "average_precision", "balanced_accuracy", "tpr_at_5pct_fpr")
METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "average_precision": "AP",
    "balanced_accuracy": "bal. acc.",
    "tpr_at_5pct_fpr": "TPR@5%FPR",
}
#: Quick mode: images kept per data set (whole groups, stratified by label).
QUICK_SIZES = {"dfdc": 600, "k140": 300}
CNN_THREADS = 2
#: XGBoost threads for the quality experiments. On this shared 2-core machine, 2 OpenMP
#: threads were up to 6× slower than 1 whenever another process held a core (threads wait
#: for each other at every barrier); the trees are the same either way. The training-time
#: section measures the library default (all cores) separately.
XGB_JOBS = 1

logger = logging.getLogger("benchmark")


# ----------------------------------------------------------------------------- machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return [float("nan")] * 3


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(who).ru_maxrss / 1024.0


def machine_info() -> dict[str, Any]:
    import onnxruntime
    import sklearn
    import xgboost

    import deepfeat

    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "deepfeat": deepfeat.__version__,
        "numpy": np.__version__,
        "xgboost": xgboost.__version__,
        "scikit-learn": sklearn.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0


# ----------------------------------------------------------------------------- data
def data_available() -> dict[str, bool]:
    return {name: (SHARED_DATA / folder).is_dir() for name, folder in SETS.items()}


def _subsample_groups(df: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """About ``n`` rows made of whole groups (a DFDC group holds a real video and its fakes)."""
    if len(df) <= n:
        return df
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.asarray(df["group"].unique(), dtype=object))
    sizes = df.groupby("group").size()
    chosen = groups[: int(np.searchsorted(np.cumsum(sizes[groups].to_numpy()), n)) + 1]
    return df[df["group"].isin(set(chosen))].reset_index(drop=True)


def load_sets(quick: bool) -> dict[str, pd.DataFrame]:
    """The face sets present under ``SHARED_DATA`` (whole groups subsampled in quick mode)."""
    from deepfeat import load_dataset

    out = {}
    for name, folder in SETS.items():
        root = SHARED_DATA / folder
        if not root.is_dir():
            logger.warning("%s absent: %s sections skipped", root, name)
            continue
        df = load_dataset(root)
        if quick:
            df = _subsample_groups(df, QUICK_SIZES[name])
        df = df[["path", "label", "group"]].copy()
        df["source"] = name
        out[name] = df.reset_index(drop=True)
    return out


# ----------------------------------------------------------------------------- features
LAYER_SETS: dict[str, tuple[str, ...]] = {
    "head": ("head",),
    "mid": ("stem", "s1", "s2", "s3", "s4", "s5", "s6"),
    "s3-s6": ("s3", "s4", "s5", "s6"),
    "s4-s7": ("s4", "s5", "s6", "s7"),
    "stats": ("stem", "s1", "s2", "s3", "s4", "s5", "s6", "s7"),
    "mid+head": ("stem", "s1", "s2", "s3", "s4", "s5", "s6", "head"),
    "all": ("stem", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "head"),
}

#: Spectrum variants (FFTSpectrum keyword arguments). Their column names never collide.
FFT_VARIANTS: dict[str, dict[str, Any]] = {
    "power/gray": {},
    "power/rgb": {"channels": "rgb"},
    "residual median": {"residual": "median"},
    "residual gaussian": {"residual": "gaussian"},
    "power/gray+dct": {"dct": True},
    "rgb+residual median": {"channels": "rgb", "residual": "median"},
    "durall (N=80)": {"mode": "durall", "n_bins": 80},
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def cnn_kwargs(layer_set: str, resize: str, tta: bool = False) -> dict[str, Any]:
    """Explicit ``CNNEmbedder`` arguments of a layer set (never the library defaults)."""
    layers = LAYER_SETS[layer_set]
    kw: dict[str, Any] = {
        "layers": "head" if layers == ("head",) else list(layers),
        "resize": resize,
    }
    if tta:
        kw["tta"] = "flip"
    return kw


def cnn_extractor(resize: str, layers: Any = "all", tta: bool = False):
    from deepfeat import CNNEmbedder, ImageFeatures

    kw: dict[str, Any] = {"layers": layers, "resize": resize, "n_threads": CNN_THREADS}
    if tta:
        kw["tta"] = "flip"
    return ImageFeatures(groups=("cnn",), cnn=CNNEmbedder(**kw), n_jobs=1)


def fft_extractor(name: str):
    from deepfeat import FFTSpectrum, ImageFeatures

    return ImageFeatures(groups=("fft",), fft=FFTSpectrum(**FFT_VARIANTS[name]), n_jobs=1)


def meta_extractor():
    from deepfeat import ImageFeatures, MetadataFeatures

    # no sidecar columns: the two sets carry different ones (DFDC original_width/height,
    # k140 width/height/bytes), which would make their feature tables incomparable, and a
    # detector in use sees files only
    return ImageFeatures(groups=("meta",), meta=MetadataFeatures(sidecar=None), n_jobs=1)


def select_layers(table: pd.DataFrame, layer_set: str) -> pd.DataFrame:
    """Columns of one layer set from an ``layers="all"`` table, named as that set would be."""
    layers = LAYER_SETS[layer_set]
    if layers == ("head",):
        cols = [c for c in table.columns if c.startswith("cnn_head_")]
        out = table[cols].copy()
        out.columns = [c.replace("cnn_head_", "cnn_") for c in cols]
        return out
    cols = []
    for layer in layers:
        prefix = "cnn_head_" if layer == "head" else f"cnn_{layer}_"
        cols += [c for c in table.columns if c.startswith(prefix)]
    return table[cols]


@dataclass
class FeatureStore:
    """Feature tables per (data set, variant), extracted once through ``extract_table``.

    Each variant has its own cache folder ``CACHE_ROOT/features/<variant>``; a re-run reads
    the parquet chunks instead of decoding images again. ``timings`` records the seconds
    spent per (set, variant) in this run (mostly 0 when the cache is warm).
    """

    sets: dict[str, pd.DataFrame]
    cache_root: Path = CACHE_ROOT / "features"
    tables: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def _extract(self, key: tuple[str, str], frame: pd.DataFrame, extractor) -> pd.DataFrame:
        from deepfeat.features._cache import extract_table

        if key in self.tables:
            return self.tables[key]
        extractor.fit(frame)
        with Timer() as t:
            table, fails = extract_table(
                frame, extractor, cache_dir=self.cache_root / _slug(key[1])
            )
        logger.info(
            "features %s/%s: %d rows (%d extracted) in %.1f s",
            key[0],
            key[1],
            len(table),
            table.attrs.get("n_extracted", 0),
            t.seconds,
        )
        self.timings.setdefault(key[0], {})[key[1]] = round(t.seconds, 2)
        if len(fails):
            self.failures[f"{key[0]}/{key[1]}"] = len(fails)
        self.tables[key] = table
        return table

    def cnn_all(self, name: str, resize: str, tta: bool = False) -> pd.DataFrame:
        key = (name, f"cnn-all-{resize}" + ("-flip" if tta else ""))
        return self._extract(key, self.sets[name], cnn_extractor(resize, "all", tta))

    def cnn(self, name: str, layer_set: str, resize: str, tta: bool = False) -> pd.DataFrame:
        return select_layers(self.cnn_all(name, resize, tta), layer_set)

    def fft(self, name: str, variant: str = "power/gray") -> pd.DataFrame:
        return self._extract((name, f"fft-{variant}"), self.sets[name], fft_extractor(variant))

    def meta(self, name: str) -> pd.DataFrame:
        return self._extract((name, "meta"), self.sets[name], meta_extractor())

    def table(
        self,
        name: str,
        *,
        layer_set: str | None = "head",
        resize: str = "imagenet",
        fft: str | Sequence[str] | None = "power/gray",
        meta: bool = True,
        tta: bool = False,
    ) -> pd.DataFrame:
        """One feature table: any of a CNN layer set, spectrum variant(s) and metadata."""
        parts = []
        if layer_set is not None:
            parts.append(self.cnn(name, layer_set, resize, tta))
        for variant in [fft] if isinstance(fft, str) else list(fft or []):
            parts.append(self.fft(name, variant))
        if meta:
            parts.append(self.meta(name))
        out = pd.concat(parts, axis=1)
        return out.loc[:, ~out.columns.duplicated()]


# ----------------------------------------------------------------------------- metrics
def fold_metrics(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    """ROC AUC, AP, balanced accuracy at ``threshold`` and TPR at 5 % FPR (never accuracy)."""
    from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score

    from deepfeat.evaluation import tpr_at_fpr

    y = np.asarray(y).astype(int)
    score = np.asarray(score, dtype=float)
    ok = np.isfinite(score)
    y, score = y[ok], score[ok]
    if len(np.unique(y)) < 2:
        return dict.fromkeys(METRICS, float("nan"))
    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "average_precision": float(average_precision_score(y, score)),
        "balanced_accuracy": float(balanced_accuracy_score(y, (score >= threshold).astype(int))),
        "tpr_at_5pct_fpr": float(tpr_at_fpr(y, score, 0.05)),
    }


def summarise(folds: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in METRICS:
        vals = np.array([f[m] for f in folds], dtype=float)
        out[m] = {
            "mean": float(np.nanmean(vals)) if len(vals) else float("nan"),
            "std": float(np.nanstd(vals)) if len(vals) > 1 else 0.0,
            "folds": [round(float(v), 4) for v in vals],
        }
    return out


def fmt(summary: dict[str, Any], metric: str = "roc_auc", digits: int = 3) -> str:
    s = summary[metric]
    if not np.isfinite(s["mean"]):
        return "n/a"
    if len(s["folds"]) > 1:
        return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"
    return f"{s['mean']:.{digits}f}"


# ----------------------------------------------------------------------------- models
class Model:
    """Interface: ``fit(X, y, groups, weights=None)``, ``score(X)``; ``threshold`` for bal. acc."""

    threshold = 0.5
    name = "model"

    def fit(self, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, weights=None) -> Model:
        raise NotImplementedError

    def score(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError


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


# ----------------------------------------------------------------------------- CV
def splits_for(df: pd.DataFrame, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from deepfeat import grouped_splits

    return list(grouped_splits(df["label"].to_numpy(), df["group"].to_numpy(), n_splits=n_splits))


@dataclass
class CVResult:
    summary: dict[str, Any]
    oof: np.ndarray
    fit_seconds: float
    chosen_C: list[float] = field(default_factory=list)  # per fold, for inner-CV models

    def auc(self) -> float:
        return self.summary["roc_auc"]["mean"]


def cross_validate(
    make: Callable[[], Model],
    X: pd.DataFrame,
    df: pd.DataFrame,
    splits: list[tuple[np.ndarray, np.ndarray]],
    weights: np.ndarray | None = None,
) -> CVResult:
    """Grouped CV of a fresh model per fold; metrics per fold, mean ± std."""
    y = df["label"].to_numpy()
    g = df["group"].to_numpy()
    oof = np.full(len(y), np.nan)
    folds = []
    fit_s = 0.0
    chosen: list[float] = []
    for tr, te in splits:
        model = make()
        with Timer() as t:
            model.fit(
                X.iloc[tr].reset_index(drop=True),
                y[tr],
                g[tr],
                None if weights is None else weights[tr],
            )
        fit_s += t.seconds
        if getattr(model, "C_", None) is not None:
            chosen.append(float(model.C_))
        s = model.score(X.iloc[te].reset_index(drop=True))
        oof[te] = s
        folds.append(fold_metrics(y[te], s, model.threshold))
    return CVResult(summarise(folds), oof, fit_s / max(len(splits), 1), chosen)


def train_test(
    make: Callable[[], Model],
    Xtr: pd.DataFrame,
    dtr: pd.DataFrame,
    Xte: pd.DataFrame,
    dte: pd.DataFrame,
) -> tuple[dict[str, Any], np.ndarray]:
    """Train on one table, test on another (cross-source): (one-fold summary, test scores)."""
    model = make()
    model.fit(Xtr, dtr["label"].to_numpy(), dtr["group"].to_numpy())
    s = model.score(Xte[Xtr.columns])
    return summarise([fold_metrics(dte["label"].to_numpy(), s, model.threshold)]), s


def rank_average(*scores: np.ndarray) -> np.ndarray:
    """Mean of the within-set ranks (scaled to 0..1) of several score vectors."""
    from scipy.stats import rankdata

    return np.mean([rankdata(s) / len(s) for s in scores], axis=0)


def write_topic(out_md: Path, script: str, title: str, res: dict[str, Any]) -> None:
    """A topic's page (title, do-not-edit line, markdown) and its JSON results beside it."""
    import json

    md = f"# {title}\n\nGenerated by `scripts/{script}`; do not edit.\n\n"
    out_md.write_text(md + res["markdown"] + "\n", encoding="utf-8")
    out_md.with_suffix(".json").write_text(
        json.dumps(res["results"], indent=1, default=float) + "\n"
    )
    print(f"wrote {out_md}")


def run_header(script: str, quick: bool, folds: int, t0: float, sets: dict) -> dict[str, Any]:
    """The header every topic page starts with: command, start, folds, minutes, load, data."""
    return {
        "command": f"python scripts/{script}" + (" --quick" if quick else ""),
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "folds": folds,
        "minutes": (time.perf_counter() - t0) / 60,
        "load": load_average(),
        "data": ", ".join(f"{k} {len(v)}" for k, v in sets.items()),
    }
