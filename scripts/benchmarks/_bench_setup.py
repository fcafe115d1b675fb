"""Benchmark set-up shared by the sections: feature configurations, model settings, the
run context (data, cached feature tables, folds) and the markdown helpers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _bench_common as bc
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

PROBE_GRID = (0.005, 0.01, 0.02, 0.05)


GOALS = {"dfdc": 0.85, "k140": 0.97, "combine_gain": 0.03}


# ----------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class Feat:
    """A feature table: CNN layer set and resize policy, spectrum variant(s), metadata."""

    layers: str | None = "head"
    resize: str = "imagenet"
    fft: tuple[str, ...] = ("power/gray",)
    meta: bool = True
    tta: bool = False  # CNNEmbedder(tta="flip")

    def cnn_key(self) -> str:
        return f"cnn {self.layers}/{self.resize}" + ("+flip" if self.tta else "")

    def label(self) -> str:
        parts = []
        if self.layers is not None:
            parts.append(self.cnn_key())
        parts += [f"fft {v}" for v in self.fft]
        if self.meta:
            parts.append("meta")
        return " + ".join(parts) or "(nothing)"

    def groups(self) -> tuple[str, ...]:
        out = ()
        if self.layers is not None:
            out += ("cnn",)
        if self.fft:
            out += ("fft",)
        if self.meta:
            out += ("meta",)
        return out

    def only(self, groups: tuple[str, ...]) -> Feat:
        return Feat(
            layers=self.layers if "cnn" in groups else None,
            resize=self.resize,
            fft=self.fft if "fft" in groups else (),
            meta=self.meta and "meta" in groups,
            tta=self.tta and "cnn" in groups,
        )


MODELS: dict[str, tuple[str, Callable[[], bc.Model]]] = {
    "xgb": ("XGBoost (DeepfakeDetector(linear_probe=False))", lambda: bc.Detector()),
    "probe": (
        "DeepfakeDetector(linear_probe=True), probe_C by inner grouped CV",
        lambda: bc.ProbeDetector(PROBE_GRID),
    ),
    "probe-0.02": (
        "DeepfakeDetector(linear_probe=True, probe_C=0.02)",
        lambda: bc.ProbeDetector((0.02,)),
    ),
    "lr": (
        "standardised logistic regression, C by inner grouped CV",
        lambda: bc.LinearProbe(PROBE_GRID),
    ),
    "lr-0.02": ("standardised logistic regression, C=0.02", lambda: bc.LinearProbe(0.02)),
    # computed from the cached scores of "lr" and "xgb" on the same folds (see Ctx.cv)
    "rank": ("rank average of LR (C by inner CV) and XGBoost", None),
    "durall-lr": ("Durall et al. LR (liblinear)", bc.DurallLR),
    "durall-svm": ("Durall et al. SVM (RBF, C=6.37, γ=0.86)", bc.DurallSVM),
}


@dataclass(frozen=True)
class Setup:
    name: str
    feat: Feat
    model: str

    def describe(self) -> str:
        return f"{self.feat.label()} → {MODELS[self.model][0]}"


#: The defaults of deepfeat 0.1 as first released (the "before" of every comparison).
LIBRARY_DEFAULT = Setup("v0.1 defaults", Feat(), "xgb")


#: The setup the experiments section argues for (see "What moves held-out AUC").
RECOMMENDED = Setup(
    "recommended",
    Feat(layers="mid", resize="none", fft=("power/gray",), meta=True),
    "probe-0.02",
)


def current_defaults() -> Setup | None:
    """The setup ``ImageFeatures()`` + ``DeepfakeDetector()`` give in this checkout, if known."""
    from deepfeat import CNNEmbedder, DeepfakeDetector, FFTSpectrum
    from deepfeat.features._combined import _default_transformer

    cnn, det, fft = CNNEmbedder(), DeepfakeDetector(), _default_transformer("fft")
    layers = cnn.layers
    wanted = (layers,) if layers == "head" else tuple(bc.LAYER_SETS.get(layers, layers))
    layer_set = next((k for k, v in bc.LAYER_SETS.items() if v == wanted), None)
    resize = "none" if cnn.resize == "auto" else cnn.resize  # the bundled model is dynamic
    variant = next(
        (
            k
            for k, kw in bc.FFT_VARIANTS.items()
            if FFTSpectrum(**kw).get_params() == fft.get_params()
        ),
        None,
    )
    if not det.linear_probe:
        model = "xgb"
    elif det.probe_C == 0.02 and not det.probe_keep_columns:
        model = "probe-0.02"
    else:
        model = None
    tta = getattr(cnn, "tta", None) == "flip"
    if layer_set is None or variant is None or model is None:
        logger.warning("current library defaults not expressible here; row left out")
        return None
    return Setup("current defaults", Feat(layer_set, resize, (variant,), True, tta), model)


def reference_setups() -> list[Setup]:
    """v0.1 defaults, the current defaults when they differ from both, and the recommended."""
    out = [LIBRARY_DEFAULT]
    cur = current_defaults()
    if cur is not None and all(
        (cur.feat, cur.model) != (s.feat, s.model) for s in (LIBRARY_DEFAULT, RECOMMENDED)
    ):
        out.append(cur)
    out.append(RECOMMENDED)
    return out


def defaults_note() -> str:
    cur = current_defaults()
    if cur is None:
        return "* current library defaults: not expressible in this benchmark."
    same = [
        s.name for s in (LIBRARY_DEFAULT, RECOMMENDED) if (s.feat, s.model) == (cur.feat, cur.model)
    ]
    return f"* current library defaults of this checkout: {cur.describe()}" + (
        f" (= {same[0]})." if same else "."
    )


DURALL = Feat(layers=None, fft=("durall (N=80)",), meta=False)


PROBE_BASELINE = Feat(layers="head", resize="imagenet", fft=(), meta=False)


BASELINES = (
    Setup("Durall et al. 2020, LR", DURALL, "durall-lr"),
    Setup("Durall et al. 2020, SVM", DURALL, "durall-svm"),
    Setup("linear probe on the frozen embedding (UnivFD-style)", PROBE_BASELINE, "lr"),
)


# ----------------------------------------------------------------------------- context
def feat_table(store: bc.FeatureStore, name: str, feat: Feat) -> pd.DataFrame:
    """The feature table of set ``name`` for a feature configuration, from ``store``."""
    return store.table(
        name,
        layer_set=feat.layers,
        resize=feat.resize,
        fft=list(feat.fft),
        meta=feat.meta,
        tta=feat.tta,
    )


@dataclass
class Ctx:
    quick: bool
    n_folds: int
    sets: dict[str, pd.DataFrame]
    store: bc.FeatureStore
    splits: dict[str, list] = field(default_factory=dict)
    cv_cache: dict = field(default_factory=dict)
    cross_cache: dict = field(default_factory=dict)
    speeds: dict[str, float] = field(default_factory=dict)
    reuse_cv: bool = False

    def table(self, name: str, feat: Feat) -> pd.DataFrame:
        return feat_table(self.store, name, feat)

    def _disk(self, key: tuple) -> Path | None:
        if not self.reuse_cv:
            return None
        import hashlib

        digest = hashlib.sha256(repr((key, self.quick, self.n_folds)).encode()).hexdigest()[:20]
        return bc.CACHE_ROOT / "cv-results" / f"{digest}.pkl"

    def _load(self, key: tuple):
        import pickle

        path = self._disk(key)
        if path is not None and path.is_file():
            return pickle.loads(path.read_bytes())
        return None

    def _save(self, key: tuple, value: Any) -> None:
        import pickle

        path = self._disk(key)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(value))

    def cv(self, name: str, feat: Feat, model: str) -> bc.CVResult:
        key = ("cv", name, feat, model)
        if key in self.cv_cache:
            return self.cv_cache[key]
        res = self._load(key)
        if res is None:
            with bc.Timer() as t:
                if model == "rank":
                    res = self._rank_cv(name, feat)
                else:
                    res = bc.cross_validate(
                        MODELS[model][1],
                        self.table(name, feat),
                        self.sets[name],
                        self.splits[name],
                    )
            logger.info(
                "CV %-5s %-58s %-10s AUC %s (%.0f s)",
                name,
                feat.label(),
                model,
                bc.fmt(res.summary),
                t.seconds,
            )
            self._save(key, res)
        self.cv_cache[key] = res
        return res

    def _rank_cv(self, name: str, feat: Feat) -> bc.CVResult:
        lr, xgb = self.cv(name, feat, "lr"), self.cv(name, feat, "xgb")
        y = self.sets[name]["label"].to_numpy()
        oof = np.full(len(y), np.nan)
        folds = []
        for _, te in self.splits[name]:
            oof[te] = bc.rank_average(lr.oof[te], xgb.oof[te])
            folds.append(bc.fold_metrics(y[te], oof[te], 0.5))
        return bc.CVResult(bc.summarise(folds), oof, lr.fit_seconds + xgb.fit_seconds)

    def cross(self, train: str, test: str, feat: Feat, model: str) -> dict[str, Any]:
        return self.cross_scores(train, test, feat, model)[0]

    def cross_scores(
        self, train: str, test: str, feat: Feat, model: str
    ) -> tuple[dict[str, Any], np.ndarray]:
        key = ("cross", train, test, feat, model)
        if key in self.cross_cache:
            return self.cross_cache[key]
        res = self._load(key)
        if res is None:
            if model == "rank":
                a = self.cross_scores(train, test, feat, "lr")[1]
                b = self.cross_scores(train, test, feat, "xgb")[1]
                s = bc.rank_average(a, b)
                y = self.sets[test]["label"].to_numpy()
                res = (bc.summarise([bc.fold_metrics(y, s, 0.5)]), s)
            else:
                res = bc.train_test(
                    MODELS[model][1],
                    self.table(train, feat),
                    self.sets[train],
                    self.table(test, feat),
                    self.sets[test],
                )
            logger.info(
                "cross %s→%s %-55s %-10s AUC %s",
                train,
                test,
                feat.label(),
                model,
                bc.fmt(res[0]),
            )
            self._save(key, res)
        self.cross_cache[key] = res
        return res

    def directions(self) -> list[tuple[str, str]]:
        names = list(self.sets)
        return [(a, b) for a in names for b in names if a != b]


# ----------------------------------------------------------------------------- markdown
def md_table(headers: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    align = align or ("l" + "r" * (len(headers) - 1))
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def auc_cell(summary: dict[str, Any] | None) -> str:
    return "—" if summary is None else bc.fmt(summary)


def metric_cells(summary: dict[str, Any]) -> list[str]:
    return [bc.fmt(summary, m) for m in bc.METRICS]


def jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return round(v, 5) if np.isfinite(v) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def delta(a: float, b: float) -> str:
    return f"{a - b:+.3f}" if np.isfinite(a) and np.isfinite(b) else "n/a"


def _centre_crops(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """PNG copies of the central half (side) of every image, under the benchmark cache."""
    from PIL import Image

    out_dir = bc.CACHE_ROOT / "views" / name / "centre-half"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in df["path"]:
        target = out_dir / f"{Path(p).parent.name}_{Path(p).stem}.png"
        if not target.exists():
            with Image.open(p) as im:
                w, h = im.size
                cw, ch = w // 2, h // 2
                box = ((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch)
                im.convert("RGB").crop(box).save(target)
        paths.append(str(target))
    copy = df.copy()
    copy["path"] = paths
    return copy


def _skipped(title: str, why: str) -> dict[str, Any]:
    return {"title": title, "markdown": f"*Skipped: {why}.*", "results": {"skipped": why}}
