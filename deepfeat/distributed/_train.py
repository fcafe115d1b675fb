"""XGBoost training on Dask: the Dask backend of the one training recipe."""

from __future__ import annotations

import copy
import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..detector._stacking import PROBE_COLUMN
from ._client import default_client, require_dask
from ._extract import DaskExtraction

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

    from ..detector._estimator import DeepfakeDetector

logger = logging.getLogger(__name__)


#: Training rows the leakage audit of :func:`fit_dask` reads to the client at most.
DEFAULT_AUDIT_ROWS = 50_000


# private columns of the training frame (cannot collide with feature or dataset columns)
_LABEL = "__deepfeat_label__"


_GROUP = "__deepfeat_group__"


_USABLE = "__deepfeat_usable__"


# ----------------------------------------------------------------------------- training
class NothingUsableError(ValueError):
    """No training row has any feature (every input failed)."""


def _training_block(
    part: pd.DataFrame, cols: list[str], label: str, group: str | None
) -> pd.DataFrame:
    """Feature columns (float32) plus raw label, group (str) and a usable flag."""
    X = part[cols].astype(np.float32)
    usable = ~np.isnan(X.to_numpy()).all(axis=1) if len(X.columns) else np.zeros(len(X), bool)
    out = pd.DataFrame(
        {
            _LABEL: part[label].to_numpy(),
            _GROUP: pd.Series(
                part[group].astype(str).to_numpy() if group else [""] * len(X),
                index=part.index,
                dtype=str,
            ),
            _USABLE: usable,
        },
        index=part.index,
    )
    return pd.concat([out, X], axis=1)


def _select_rows(
    part: pd.DataFrame, mask: np.ndarray, extra: np.ndarray | None = None
) -> pd.DataFrame:
    """The rows of ``part`` where ``mask``, with the label as 0/1 int64 (and the stacked
    probe score, ``extra`` over all rows of ``part``, as a column)."""
    mask = np.asarray(mask, dtype=bool)
    sub = part.loc[mask].copy()
    sub[_LABEL] = (sub[_LABEL].to_numpy() == 1).astype(np.int64)
    if extra is not None:
        sub[PROBE_COLUMN] = np.asarray(extra, dtype=np.float32)[mask]
    return sub


class DaskBackend:
    """The training rows on a cluster: a persisted block plus, on the client, one entry per
    row (label, group, usable) and the partition lengths.

    Each task receives only its own slice of a row mask. Arrays with known chunk lengths
    (not DataFrames) keep ``xgboost.dask`` from shuffling to find the classes, and keep
    feature names out of the booster, as in the local path (which trains on numpy).
    """

    def __init__(
        self,
        client: Client,
        block: dd.DataFrame,
        lens: list[int],
        usable: np.ndarray,
        columns: list[str],
        audit_rows: int,
    ) -> None:
        self.client = client
        self._block = block
        self._offsets = np.concatenate([[0], np.cumsum(lens)]).astype(int)
        self._pos = np.flatnonzero(usable)  # usable row → position among all rows
        self._n_total = len(usable)
        self._features = list(columns)
        self._model = list(columns)
        self._extra: np.ndarray | None = None  # stacked score over all rows (NaN: unusable)
        self.audit_rows = int(audit_rows)
        self.n_cells = len(self._pos) * len(columns)
        self._dask_models: dict[int, Any] = {}

    def _rows(self, rows: np.ndarray, cols: list[str], extra: bool) -> tuple[Any, Any]:
        import dask
        import dask.dataframe as dd

        mask = np.zeros(self._n_total, dtype=bool)
        mask[self._pos[rows]] = True
        o = self._offsets
        parts = self._block.to_delayed()
        select = dask.delayed(_select_rows, pure=True)
        add = self._extra if extra else None
        meta = _select_rows(self._block._meta, np.zeros(0, bool), None if add is None else [])
        pieces = [
            select(part, mask[o[i] : o[i + 1]], None if add is None else add[o[i] : o[i + 1]])
            for i, part in enumerate(parts)
        ]
        sub = dd.from_delayed(pieces, meta=meta)
        sizes = tuple(int(mask[o[i] : o[i + 1]].sum()) for i in range(len(parts)))
        return sub[cols].to_dask_array(lengths=sizes), sub[_LABEL].to_dask_array(lengths=sizes)

    def _matrix(self, rows: np.ndarray) -> tuple[Any, Any]:
        if self._extra is None:
            return self._rows(rows, self._model, extra=False)
        return self._rows(rows, [*self._model, PROBE_COLUMN], extra=True)

    def columns(self, names: list[str]) -> np.ndarray:
        X, _ = self._rows(np.arange(len(self._pos)), list(names), extra=False)
        return np.asarray(self.client.compute(X, sync=True))

    def stack(self, keep: list[str], score: np.ndarray) -> None:
        extra = np.full(self._n_total, np.nan, dtype=np.float32)
        extra[self._pos] = score
        self._model, self._extra = list(keep), extra
        self.n_cells = len(self._pos) * (len(keep) + 1)

    def fit(self, params: dict[str, Any], rows: np.ndarray, eval_rows: np.ndarray | None):
        import xgboost.dask  # noqa: F401  (explicit: xgboost does not import its dask module)
        from xgboost import XGBClassifier
        from xgboost.dask import DaskXGBClassifier

        model = DaskXGBClassifier(**params)
        model.client = self.client
        X, y = self._matrix(rows)
        if eval_rows is None:
            model.fit(X, y, verbose=False)
        else:
            model.fit(X, y, eval_set=[self._matrix(eval_rows)], verbose=False)
        booster = model.get_booster()
        booster.feature_names = None  # the local path trains on numpy: no names, "f0" … keys
        booster.feature_types = None
        local = XGBClassifier(**{**params, "early_stopping_rounds": None})
        local.load_model(bytearray(bytes(booster.save_raw(raw_format="ubj"))))
        self._dask_models[id(local)] = model
        return local

    def predict(self, model: Any, rows: np.ndarray) -> np.ndarray:
        X, _ = self._matrix(rows)
        proba = self._dask_models[id(model)].predict_proba(X)
        return np.asarray(self.client.compute(proba, sync=True))[:, 1]

    def features(self, rows: np.ndarray) -> pd.DataFrame:
        X, _ = self._rows(rows, self._features, extra=False)
        return pd.DataFrame(self.client.compute(X, sync=True), columns=self._features)


def fit_dask(
    client: Client | None,
    ddf: Any,
    *,
    detector: DeepfakeDetector | None = None,
    label: str = "label",
    group: str | None = "group",
    audit_rows: int = DEFAULT_AUDIT_ROWS,
) -> DeepfakeDetector:
    """Train a :class:`deepfeat.DeepfakeDetector` with ``xgboost.dask`` on a feature table.

    Runs the detector's own training recipe (:mod:`deepfeat.detector._training`, the same code as
    :meth:`DeepfakeDetector.fit` on a feature table) with the rows on the cluster: rows
    without any feature are left out; ``scale_pos_weight = n_real / n_fake`` is computed
    from the data (unless set); the stacked linear probe (``linear_probe=True``) is fitted
    on the client from the ``cnn_*`` columns with grouped out-of-fold scores, which then
    join the cluster's rows as ``cnn_probe``; the grouped, stratified validation fold is
    chosen by :func:`deepfeat.grouped_splits` on the (label, group) columns exactly as
    locally (same rows in the same order give the same fold); a
    ``xgboost.dask.DaskXGBClassifier`` with the detector's XGBoost parameters trains on the
    other folds with early stopping on that fold; calibration and validation metrics use
    its predictions on the fold; with ``refit`` it is retrained on all rows with the chosen
    number of trees. Too few samples for a fold: no early stopping, ``min(n_estimators,
    200)`` trees, as locally.

    The returned detector is the ordinary local estimator: ``model_`` is an
    ``xgboost.XGBClassifier`` built from the trained booster, so ``predict``, ``explain``,
    ``save`` and ``load`` work without Dask and the model card has the same format.

    Parameters
    ----------
    client : distributed.Client or None
        The cluster (``None``: the default client).
    ddf : dask DataFrame, DaskExtraction or pandas DataFrame
        Feature columns (``cnn_*``, ``fft_*``, ``meta_*``) plus ``label`` (0 real, 1 fake)
        and optionally ``group``. A :class:`DaskExtraction` gives its extractor to the
        detector (for image input at prediction time); a pandas table is spread over the
        workers.
    detector : DeepfakeDetector, optional
        Unfitted configuration (``feature_groups``, XGBoost parameters, ``calibration`` …);
        fitted in place and returned. ``None``: ``DeepfakeDetector()``.
    label, group : str
        Label and group columns (``group=None`` or a missing column: one group per row).
    audit_rows : int, default=50000
        The leakage audit (``detector.audit``) reads at most this many training rows to the
        client (a seeded random sample beyond that; all rows, hence the local result, below).

    Returns
    -------
    DeepfakeDetector
        Fitted; ``training_summary_["backend"] == "dask"``.

    Notes
    -----
    The probe reads the ``cnn_*`` columns of the training rows to the client (n_rows ×
    n_cnn float32: 1.2 GB for a million rows of the default 296 columns); pass
    ``linear_probe=False`` to keep everything on the cluster.

    Examples
    --------
    >>> det = fit_dask(client, features_ddf, detector=DeepfakeDetector(feature_groups=("fft",)))
    ... # doctest: +SKIP
    >>> det.save("model/")  # doctest: +SKIP
    """
    require_dask()
    import dask.dataframe as dd

    from .._schema import feature_group, is_feature_column
    from ..detector._estimator import DeepfakeDetector
    from ..detector._inputs import feature_groups, prefitted_extractor, table_columns, used_sidecar
    from ..detector._training import Stages, train

    client = default_client(client)
    det = DeepfakeDetector() if detector is None else detector
    det._validate_params()
    extractor = None
    if isinstance(ddf, DaskExtraction):
        extractor, ddf = ddf.extractor, ddf.features
    if isinstance(ddf, pd.DataFrame):
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        ddf = dd.from_pandas(ddf.reset_index(drop=True), npartitions=max(n_workers, 1), sort=True)
    if label not in ddf.columns:
        raise ValueError(f"the feature table has no {label!r} column")
    wanted = feature_groups(det)
    cols = [c for c in ddf.columns if is_feature_column(c) and feature_group(c) in wanted]
    cols = table_columns(det, cols)  # meta_sidecar_* only when sidecar= asks for them
    if not cols:
        raise ValueError(f"no feature columns for groups {wanted}")
    has_group = group is not None and group in ddf.columns

    t0 = time.perf_counter()
    meta = _training_block(ddf._meta, cols, label, group if has_group else None)
    block = ddf.map_partitions(
        _training_block, cols, label, group if has_group else None, meta=meta
    )
    block = client.persist(block)  # extraction (if lazy) runs once; all steps read this
    lens_s = block.map_partitions(len, meta=(None, "int64"))
    info, lens_s = client.compute([block[[_LABEL, _GROUP, _USABLE]], lens_s], sync=True)
    lens = [int(v) for v in np.asarray(lens_s)]
    if not len(info) or not info[_USABLE].any():
        raise NothingUsableError("nothing usable: no training row has any feature")
    y_raw = info[_LABEL].to_numpy()
    classes = np.unique(y_raw)
    if len(classes) < 2:
        raise ValueError("training labels contain one class only; need real (0) and fake (1)")
    if len(classes) > 2 or not set(classes.tolist()) <= {0, 1}:
        raise ValueError(f"labels must be 0 (real) and 1 (fake), got {classes[:5]}")
    y = (y_raw == 1).astype(int)
    g = info[_GROUP].to_numpy().astype(str) if has_group else np.arange(len(y)).astype(str)
    usable = info[_USABLE].to_numpy(dtype=bool)
    if not usable.all():
        logger.warning("%d samples without any feature were left out of training", (~usable).sum())

    det.columns_ = np.asarray(cols, dtype=object)
    det.feature_names_in_ = det.columns_
    det.n_features_in_ = len(cols)
    if det.features is not None:
        det.features_ = prefitted_extractor(det, cols)
    else:
        det.features_ = copy.deepcopy(extractor) if extractor is not None else None
    det.sidecar_columns_ = used_sidecar(det)
    stage = Stages(det.progress, logging.getLogger("deepfeat.distributed"))
    backend = DaskBackend(client, block, lens, usable, cols, audit_rows)
    summary = train(
        det, backend, y[usable], g[usable], stage=stage, n_unusable=int((~usable).sum())
    )
    det.training_summary_ = {
        **summary,
        "backend": "dask",
        "dask_workers": len(client.scheduler_info().get("workers", {})),
        "stages": stage.close(),
    }
    logger.info(
        "fit_dask: %d rows, %d trees in %.1f s",
        int(usable.sum()),
        det.best_iteration_,
        time.perf_counter() - t0,
    )
    return det
