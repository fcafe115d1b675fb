"""What :class:`~deepfeat.DeepfakeDetector` accepts, turned into a feature table.

Input kinds (image paths, dataset tables, feature tables, numeric matrices), the training
set's synthesis (pseudo-fakes, degradations), extraction through the fitted extractor, and
the opt-in sidecar columns. Functions take the detector; only the detector calls them.
"""

from __future__ import annotations

import copy
import logging
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from .._schema import (
    FAILURE_COLUMNS,
    check_groups,
    encode_labels,
    feature_group,
    is_feature_column,
)
from ..features._combined import ImageFeatures
from ..features._meta_kernel import sidecar_names

logger = logging.getLogger(__name__)


class PerThreadFailures:
    """The detector's ``extraction_failures_``: one failure table per thread and detector.

    ``path, stage, reason`` of the inputs that failed in this thread's last extraction, so
    concurrent ``predict_proba`` calls on one detector never see each other's failures
    (the table returned by ``extract`` also carries them in ``attrs["failures"]``).
    """

    def __init__(self) -> None:
        self._state = threading.local()

    def _table(self) -> weakref.WeakKeyDictionary:
        if not hasattr(self._state, "failures"):
            self._state.failures = weakref.WeakKeyDictionary()
        return self._state.failures

    def __get__(self, det: Any, owner: type | None = None) -> Any:
        if det is None:
            return self
        failures = self._table().get(det)
        if failures is None:
            raise AttributeError("extraction_failures_: nothing extracted in this thread yet")
        return failures

    def __set__(self, det: Any, value: pd.DataFrame) -> None:
        self._table()[det] = value


@dataclass
class Synthesis:
    """The training input after :func:`synthesise`."""

    X: Any
    y: Any
    groups: Any
    origin: np.ndarray | None = None
    n_degraded: int | None = None
    tmp: Path | None = None

    def origin_counts(self) -> dict[str, int]:
        """Rows per ``origin`` (first-seen order), plus ``degraded`` when augmentation ran."""
        if self.origin is None:
            return {}
        counts = pd.Series(self.origin).value_counts(sort=False)
        out = {str(k): int(v) for k, v in counts.items()}
        if self.n_degraded is not None:
            out["degraded"] = self.n_degraded
        return out


def feature_groups(det: Any) -> tuple[str, ...]:
    """The detector's feature groups as a tuple (checked against :data:`GROUPS`)."""
    value = det.feature_groups if det.groups == "deprecated" else det.groups
    return check_groups(value, "feature_groups")


def sidecar_list(det: Any) -> list[str] | str:
    """``sidecar`` as a list of column names (or ``"auto"``)."""
    sc = det.sidecar
    if sc is None:
        return []
    if isinstance(sc, str):
        return sc if sc == "auto" else [sc]
    return [str(c) for c in sc]


def table_columns(det: Any, columns: list[str]) -> list[str]:
    """Feature-table columns to train on: ``meta_sidecar_*`` only when ``sidecar`` asks."""
    wanted = sidecar_list(det)
    side = [c for c in columns if c.startswith("meta_sidecar_")]
    keep = side if wanted == "auto" else sidecar_names(wanted)
    absent = [k for k in keep if k not in columns]
    if absent:
        raise ValueError(
            f"sidecar={det.sidecar!r}: the feature table has no {absent} columns "
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


def input_kind(X: Any) -> str:
    """What ``X`` is: ``"features"``, ``"dataset"``, ``"matrix"`` or ``"images"``."""
    if isinstance(X, pd.DataFrame):
        if any(is_feature_column(c) for c in X.columns):
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


def extract(det: Any, X: Any, fit: bool, y: Any = None) -> pd.DataFrame:
    """Extract features from images (fitting the extractor when ``fit``)."""
    if fit:
        base = det.features if det.features is not None else ImageFeatures()
        extractor = (
            base.set_params(groups=feature_groups(det)) if det.features is None else clone(base)
        )
        if det.progress:
            extractor.set_params(progress=True)
        if det.sidecar is not None:
            if "meta" not in feature_groups(det):
                raise ValueError("sidecar columns are meta features: add 'meta' to groups")
            from ..features._meta import MetadataFeatures

            meta = extractor.meta if extractor.meta is not None else MetadataFeatures()
            extractor.set_params(meta=clone(meta).set_params(sidecar=sidecar_list(det)))
        extractor.fit(X, y)
        det.features_ = extractor
    elif det.features_ is None:
        raise ValueError("this detector was trained on a feature table: pass features, not images")
    extractor = det.features_
    meta = extractor.transformers_.get("meta")
    if meta is not None and hasattr(meta, "allow_missing_sidecar"):
        meta.set_params(allow_missing_sidecar=bool(det.allow_missing_sidecar))
    if not fit:
        extractor.set_params(progress=bool(det.progress))
    if fit and det.cache_dir is not None:
        from ..features._cache import extract_table

        cached, failures = extract_table(
            X, extractor, cache_dir=Path(det.cache_dir) / "features", progress=det.progress
        )
        values = cached.to_numpy(dtype=np.float32)
    else:
        values, failures = extractor.transform_with_failures(X)  # nothing shared is set
    bad = np.isinf(values)
    if bad.any():  # never expected; inf is treated as missing, like NaN
        logger.warning("%d infinite feature values treated as missing", int(bad.sum()))
        values[bad] = np.nan
    table = pd.DataFrame(values, columns=extractor.get_feature_names_out())
    det.extraction_failures_ = failures
    table.attrs["failures"] = failures
    return table


def features(det: Any, X: Any, fit: bool, y: Any = None) -> pd.DataFrame:
    """The feature table of any accepted input (training columns when not ``fit``)."""
    kind = input_kind(X)
    if kind == "features":
        cols = [c for c in X.columns if is_feature_column(c)]
        check_feature_table(X, cols)
        if fit:
            wanted = feature_groups(det)
            cols = table_columns(det, [c for c in cols if feature_group(c) in wanted])
            if not cols:
                raise ValueError(f"no feature columns for groups {wanted}")
            det.features_ = prefitted_extractor(det, cols)
            return X[cols].astype(np.float32)
        missing = [c for c in det.columns_ if c not in X.columns]
        if missing:
            raise ValueError(
                f"feature table lacks {len(missing)} training columns (first: {missing[:3]})"
            )
        return X[list(det.columns_)].astype(np.float32)
    if kind == "matrix":
        from sklearn.utils.validation import validate_data

        M = validate_data(det, X, reset=fit, dtype=np.float32, ensure_all_finite="allow-nan")
        if fit:
            det.features_ = None
        return pd.DataFrame(M, columns=[f"x{i}" for i in range(M.shape[1])])
    table = extract(det, X, fit, y)
    if fit:
        wanted = feature_groups(det)
        return table[[c for c in table.columns if feature_group(c) in wanted]]
    return table[list(det.columns_)]


def prefitted_extractor(det: Any, columns: list[str]) -> ImageFeatures | None:
    """A fitted ``features`` extractor that made these columns, kept for image input."""
    extractor = det.features
    if extractor is None or not hasattr(extractor, "transformers_"):
        return None
    names = set(extractor.get_feature_names_out())
    if not set(columns) <= names:
        raise ValueError("the feature table has columns the given extractor does not make")
    extractor = copy.deepcopy(extractor)
    meta = extractor.transformers_.get("meta")
    if meta is not None and getattr(meta, "sidecar_columns_", None):
        # keep only the sidecar columns the model uses: predicting must not ask for others
        used = [
            c
            for c, n in zip(meta.sidecar_columns_, sidecar_names(meta.sidecar_columns_))
            if n in set(columns)
        ]
        meta.set_params(sidecar=used or None)
        meta.fit()
        if extractor.meta is not None:
            extractor.set_params(meta=clone(meta))
        names_out: list[str] = []
        for tr in extractor.transformers_.values():
            names_out.extend(tr.get_feature_names_out())
        extractor.feature_names_out_ = np.asarray(names_out, dtype=object)
        extractor.n_features_out_ = len(names_out)
    return extractor


def used_sidecar(det: Any) -> list[str]:
    """Dataset columns behind the model's ``meta_sidecar_*`` features."""
    side = [c for c in det.columns_ if str(c).startswith("meta_sidecar_")]
    meta = None if det.features_ is None else det.features_.transformers_.get("meta")
    if meta is not None and getattr(meta, "sidecar_columns_", None):
        by_name = dict(zip(sidecar_names(meta.sidecar_columns_), meta.sidecar_columns_))
        return [by_name.get(c, c) for c in side]
    return [c[len("meta_sidecar_") :] for c in side]


def labels_groups(X: Any, y: Any, groups: Any) -> tuple[Any, Any]:
    """Labels and groups, from the arguments or a DataFrame's ``label`` / ``group``."""
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


def binary_labels(y: Any) -> np.ndarray:
    """Training labels as 0/1 (checked: one dimension, finite, at most two classes)."""
    from sklearn.utils import assert_all_finite
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import column_or_1d

    y = column_or_1d(y, warn=True)
    if y.dtype.kind in "fc":
        assert_all_finite(y, input_name="y")
    check_classification_targets(y)
    if len(np.unique(y)) > 2:
        raise ValueError(
            "Only binary classification is supported. The type of the target is "
            f"{type_of_target(y)}; labels must be 0 (real) and 1 (fake)"
        )
    return encode_labels(y)


def sources(X: Any, source: Any, n: int) -> np.ndarray | None:
    """Source per sample, from the argument or a DataFrame's ``source`` column (or None)."""
    if source is None and isinstance(X, pd.DataFrame) and "source" in X.columns:
        source = X["source"].to_numpy()
    if source is None:
        return None
    source = np.asarray(source).astype(str)
    if source.shape != (n,):
        raise ValueError(f"source has {source.size} entries for {n} samples")
    return source


def synthesised_sources(source: np.ndarray, synth: Synthesis, n: int) -> np.ndarray | None:
    """The sources of the training rows after synthesis (pseudo-fakes keep their real's)."""
    if len(source) == n:
        return source
    X = synth.X
    if isinstance(X, pd.DataFrame) and "source" in X.columns and len(X) == n:
        return X["source"].astype(str).to_numpy()
    logger.warning("sources of the synthesized rows are unknown: no source audit")
    return None


def synthesise(det: Any, X: Any, y: Any, groups: Any) -> Synthesis:
    """Add pseudo-fakes / degradations (``pseudo_fakes``, ``augment``) to image input.

    Returns the (possibly expanded) dataset, its labels, groups and origins, and a
    temporary folder to delete after extraction (``None`` when synthesized files live under
    ``cache_dir``).
    """
    from ..features._base import as_items
    from ..synthesis import augment_spec, expand_training_set, pseudo_fake_kinds

    det.synthesis_failures_ = pd.DataFrame(columns=FAILURE_COLUMNS)
    kinds = pseudo_fake_kinds(det.pseudo_fakes)
    p, _ = augment_spec(det.augment)
    if not kinds and p == 0:
        if isinstance(X, pd.DataFrame) and "origin" in X.columns:  # made by the CLI
            return Synthesis(X, y, groups, X["origin"].astype(str).to_numpy())
        return Synthesis(X, y, groups)
    kind = input_kind(X)
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
            f"pseudo_fakes / augment need labels 0 (real) and 1 (fake), got {np.unique(labels)[:5]}"
        )
    data["label"] = labels.astype(int)
    if groups is not None:
        data["group"] = np.asarray(groups).astype(str)
    elif "group" not in data.columns:
        data["group"] = data["path"].astype(str)
    tmp = None
    if det.cache_dir is not None:
        out_dir = Path(det.cache_dir) / "synthesis"
    else:
        import tempfile

        tmp = out_dir = Path(tempfile.mkdtemp(prefix="deepfeat-synth-"))
    seed = 0 if det.random_state is None else int(det.random_state)
    try:
        expanded, failures = expand_training_set(
            data,
            out_dir,
            pseudo_fakes=kinds,
            augment=det.augment,
            random_state=seed,
            progress=det.progress,
        )
    except BaseException:
        if tmp is not None:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        raise
    det.synthesis_failures_ = failures
    result = Synthesis(
        expanded,
        expanded["label"].to_numpy(),
        expanded["group"].to_numpy(),
        expanded["origin"].astype(str).to_numpy(),
        int((expanded["degraded"] != "").sum()) if "degraded" in expanded.columns else None,
        tmp,
    )
    logger.info("training set with synthesis: %s", result.origin_counts())
    return result


def check_feature_table(X: pd.DataFrame, cols: list[str]) -> None:
    """Refuse a feature table with duplicated feature columns or infinite values."""
    counts = pd.Series(cols, dtype=object).value_counts()
    dup = sorted(counts.index[counts > 1])
    if dup:
        raise ValueError(
            f"the feature table has {len(dup)} duplicated column names (first: {dup[:5]}); "
            "each feature must appear once"
        )
    bad, n_inf = [], 0
    try:
        where = X.columns.get_indexer(cols)  # positions: label look-ups are slow on 1000s
    except Exception:  # duplicated non-feature columns: no positional index
        where = None
    # slices of columns: no copy of the whole table, and not one access per column
    step = max(1, 4_000_000 // max(len(X), 1))
    for start in range(0, len(cols), step):
        part = cols[start : start + step]
        try:
            if where is None:
                raise ValueError
            inf = np.isinf(X.iloc[:, where[start : start + step]].to_numpy(dtype=np.float32))
        except (TypeError, ValueError):
            inf = None  # a non-numeric column: look at each of this slice
        if inf is not None:
            found = [(c, int(n)) for c, n in zip(part, inf.sum(axis=0)) if n]
        else:
            found = []
            for c in part:
                try:
                    n = int(np.isinf(np.asarray(X[c], dtype=np.float32)).sum())
                except (TypeError, ValueError):
                    continue  # not numeric: the conversion that follows explains it
                if n:
                    found.append((c, n))
        for c, n in found:
            bad.append(c)
            n_inf += n
    if bad:
        raise ValueError(
            f"the feature table has {n_inf} infinite (or beyond float32) values in {len(bad)} "
            f"columns (first: {bad[:5]}); replace them with NaN (missing) or finite values"
        )
