"""The ground floor of the benchmarks: paths, machine facts, data sets, metrics, grouped CV,
the model interface and the page writers.

Nothing here is part of the ``deepfeat`` package; it only orchestrates the public API
(``load_dataset``, ``ImageFeatures``, ``extract_table``, ``DeepfakeDetector``,
``grouped_splits``) for the benchmark. Feature tables are cached per variant under
``/tmp/deepfeat-bench`` (``DEEPFEAT_BENCH_CACHE`` overrides it), never in the repository.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
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


#: The one benchmark runner, relative to the repository.
RUNNER = "scripts/benchmarks/run.py"


def command(topic: str, args: Sequence[str] = ()) -> str:
    """The command that regenerates a topic: ``python scripts/benchmarks/run.py TOPIC ARGS``."""
    import shlex

    return " ".join(["python", RUNNER, topic, *map(shlex.quote, args)])


def write_topic(out_md: Path, topic: str, title: str, res: dict[str, Any]) -> None:
    """A topic's page (title, do-not-edit line, markdown) and its JSON results beside it."""
    import json

    md = f"# {title}\n\nGenerated by `{command(topic)}`; do not edit.\n\n"
    out_md.write_text(md + res["markdown"] + "\n", encoding="utf-8")
    out_md.with_suffix(".json").write_text(
        json.dumps(res["results"], indent=1, default=float) + "\n"
    )
    print(f"wrote {out_md}")


def run_header(topic: str, quick: bool, folds: int, t0: float, sets: dict) -> dict[str, Any]:
    """The header every topic page starts with: command, start, folds, minutes, load, data."""
    return {
        "command": command(topic, ["--quick"] if quick else []),
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "folds": folds,
        "minutes": (time.perf_counter() - t0) / 60,
        "load": load_average(),
        "data": ", ".join(f"{k} {len(v)}" for k, v in sets.items()),
    }
