"""``MetadataFeatures``: the scikit-learn transformer of the metadata features (``meta_*``).

The parsing is in :mod:`deepfeat.features._meta_kernel` (:func:`read_metadata`), which imports
neither scikit-learn nor pandas; this module adds the sidecar-column handling of dataset
tables.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._schema import LEAK_COLUMNS
from ._base import ImageTransformer, as_items
from ._meta_kernel import metadata_vector, read_metadata, sidecar_names
from ._meta_tables import FEATURE_NAMES

logger = logging.getLogger(__name__)

__all__ = ["LEAK_COLUMNS", "MetadataFeatures", "MissingSidecarError", "read_metadata"]


class MissingSidecarError(ValueError):
    """The features use a sidecar column that the input does not provide."""


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


class MetadataFeatures(ImageTransformer):
    """Stateless transformer of file-metadata features (columns ``meta_*``).

    Reads each file's headers (no pixel decode) with :func:`read_metadata`; see
    ``docs/features_metadata.md`` for every column. By default every feature is computed
    from the image file alone. Sidecar columns of a dataset DataFrame
    (:func:`deepfeat.load_dataset`: ``path, label, group`` + e.g. DFDC ``original_width``)
    are an explicit opt-in (``sidecar=[...]``): they are joined per row as
    ``meta_sidecar_<column>`` and must then be present in every later input.

    Parameters
    ----------
    sidecar : None, list of str or "auto", default=None
        ``None``: no sidecar column (features from the file only). A list names the columns
        explicitly; asking for a leak column (:data:`LEAK_COLUMNS`) or a column equal to the
        label raises ``ValueError``. ``"auto"``: :meth:`fit` on a DataFrame keeps every
        numeric column except ``path, label, group``, leak columns and columns equal to
        the label (skipped with a logged warning).
    allow_missing_sidecar : bool, default=False
        What :meth:`transform` does with an input that lacks an active sidecar column
        (plain paths, or a DataFrame without the column): ``False`` raises
        :class:`MissingSidecarError`; ``True`` logs a warning and leaves the feature NaN
        (the model then sees a value it never saw in training).
    on_error : {"raise", "record"}, default="raise"
        ``"record"``: a file that is not an image gives a NaN row and a ``failures_`` row
        with stage ``meta`` instead of raising.

    Attributes
    ----------
    sidecar_columns_ : list of str
        The sidecar columns joined (fixed at :meth:`fit`; output columns are then fixed).
    n_features_out_ : int
    failures_ : pandas.DataFrame
        ``path, stage, reason`` for each failed input of the last :meth:`transform`.

    Notes
    -----
    Sidecar values are joined only when :meth:`transform` (or :meth:`sidecar_features`)
    receives the DataFrame. Without :meth:`fit`, ``sidecar="auto"`` joins nothing.

    Examples
    --------
    >>> import io, numpy as np
    >>> tr = MetadataFeatures(sidecar=None)
    >>> X = tr.fit_transform([np.zeros((32, 48, 3), np.uint8)])
    >>> X.shape[1] == len(tr.get_feature_names_out()), float(X[0, 0]) != float(X[0, 0])
    (True, True)
    """

    prefix = "meta"
    needs_pixels = False
    stage = "meta"

    def __init__(
        self,
        sidecar: str | Sequence[str] | None = None,
        on_error: str = "raise",
        allow_missing_sidecar: bool = False,
    ):
        self.sidecar = sidecar
        self.on_error = on_error
        self.allow_missing_sidecar = allow_missing_sidecar

    # -- parameters and sidecar selection ---------------------------------------------
    def _validate_params(self) -> None:
        super()._validate_params()
        sc = self.sidecar
        if sc is None or (isinstance(sc, str) and sc == "auto"):
            return
        if isinstance(sc, str) or not all(isinstance(c, str) for c in sc):
            raise ValueError(f"sidecar must be 'auto', None or a list of column names, got {sc!r}")
        leaks = [c for c in sc if c.lower() in LEAK_COLUMNS]
        if leaks:
            raise ValueError(
                f"sidecar columns {leaks} describe provenance or the label and would leak it "
                f"into the features; refusing (never use: {sorted(LEAK_COLUMNS)})"
            )

    @staticmethod
    def _label_like(column: pd.Series, labels: Any) -> bool:
        """Whether ``column`` is a relabelling of ``labels`` (one-to-one on every row)."""
        if labels is None:
            return False
        y = pd.Series(np.asarray(labels)).reset_index(drop=True)
        c = column.reset_index(drop=True)
        if len(y) != len(c) or len(c) == 0:
            return False
        pair = pd.DataFrame({"c": c.astype(object).where(c.notna(), "<na>"), "y": y})
        if pair["y"].nunique() < 2:
            return False
        return bool(
            pair.groupby("c")["y"].nunique().max() == 1
            and pair.groupby("y")["c"].nunique().max() == 1
        )

    def _select_sidecar(self, X: Any, y: Any) -> list[str]:
        sc = self.sidecar
        if sc is None:
            return []
        is_df = isinstance(X, pd.DataFrame)
        labels = y if y is not None else (X["label"] if is_df and "label" in X.columns else None)
        if isinstance(sc, str):  # "auto"
            if not is_df:
                return []
            chosen, skipped = [], []
            for col in X.columns:
                name = str(col)
                if name.lower() in ("path", "label", "group"):
                    continue
                series = X[col]
                numeric = _is_numeric(series)
                if name.lower() in LEAK_COLUMNS:
                    logger.info("sidecar column %r is provenance, never a feature", name)
                    continue
                if numeric and self._label_like(series, labels):
                    skipped.append(name)
                    continue
                if numeric:
                    chosen.append(name)
                else:
                    logger.debug("sidecar column %r is not numeric; not joined", name)
            if skipped:
                logger.warning(
                    "MetadataFeatures: skipping sidecar column(s) %s: they equal the label "
                    "(one-to-one) and would leak it",
                    skipped,
                )
            return chosen
        cols = list(sc)
        if is_df:
            missing = [c for c in cols if c not in X.columns]
            if missing:
                raise ValueError(
                    f"sidecar columns {missing} are not in X (columns: {list(X.columns)})"
                )
            for c in cols:
                series = X[c]
                if not _is_numeric(series):
                    raise ValueError(f"sidecar column {c!r} is not numeric ({series.dtype})")
                if self._label_like(series, labels):
                    raise ValueError(
                        f"sidecar column {c!r} equals the label (one-to-one); refusing it "
                        "because it would leak the label into the features"
                    )
        return cols

    def _active_sidecar(self) -> list[str]:
        cols = getattr(self, "sidecar_columns_", None)
        if cols is not None:
            return list(cols)
        if self.sidecar is None or isinstance(self.sidecar, str):
            return []
        return list(self.sidecar)

    # -- sklearn API ----------------------------------------------------------------------
    def fit(self, X: Any = None, y: Any = None) -> MetadataFeatures:
        """Fix the sidecar columns (``sidecar_columns_``) and the output size.

        Parameters
        ----------
        X : dataset DataFrame, paths or arrays, optional
            Only a DataFrame contributes sidecar columns.
        y : array-like, optional
            Labels; sidecar columns equal to them are refused. Defaults to ``X["label"]``.

        Returns
        -------
        self
        """
        self._validate_params()
        self.sidecar_columns_ = self._select_sidecar(X, y)
        self.n_features_out_ = len(self._feature_names())
        return self

    def _feature_names(self) -> list[str]:
        return [*FEATURE_NAMES, *sidecar_names(self._active_sidecar())]

    def sidecar_features(self, X: Any, n_rows: int | None = None) -> pd.DataFrame | None:
        """The sidecar block for ``X``: one float32 column per sidecar feature.

        Returns ``None`` when no sidecar column is active. When ``X`` is not a DataFrame or
        lacks a column: :class:`MissingSidecarError`, or with ``allow_missing_sidecar`` NaN
        columns (logged).
        """
        cols = self._active_sidecar()
        if not cols:
            return None
        self.check_sidecar(X)
        names = sidecar_names(cols)
        n = len(X) if n_rows is None and hasattr(X, "__len__") else n_rows
        data: dict[str, np.ndarray] = {}
        for col, name in zip(cols, names):
            if isinstance(X, pd.DataFrame) and col in X.columns:
                values = pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=np.float32)
            else:
                logger.warning("sidecar column %r missing from the input; its feature is NaN", col)
                values = np.full(int(n or 0), np.nan, dtype=np.float32)
            data[name] = values
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(data, index=index)

    def missing_sidecar(self, X: Any) -> list[str]:
        """The active sidecar columns that ``X`` does not provide (all of them for paths)."""
        cols = self._active_sidecar()
        if isinstance(X, pd.DataFrame):
            return [c for c in cols if c not in X.columns]
        return cols

    def check_sidecar(self, X: Any) -> None:
        """Raise :class:`MissingSidecarError` if ``X`` lacks an active sidecar column.

        Does nothing with ``allow_missing_sidecar=True`` or without sidecar columns.
        """
        missing = self.missing_sidecar(X)
        if missing and not self.allow_missing_sidecar:
            raise MissingSidecarError(
                f"the features use sidecar column(s) {missing} (meta_sidecar_*), which the "
                "input does not provide: pass a dataset table with these columns, or allow "
                "NaN for them explicitly (allow_missing_sidecar=True, CLI "
                "--allow-missing-sidecar; the scores then differ from training)"
            )

    def transform(self, X: Any) -> np.ndarray:
        """Metadata features of every input (sidecar columns joined from a DataFrame).

        Parameters
        ----------
        X : path, sequence of paths or arrays, or dataset DataFrame with a ``path`` column

        Returns
        -------
        numpy.ndarray
            ``float32`` of shape ``(n_inputs, n_features_out_)``.
        """
        self._validate_params()
        self.check_sidecar(X)
        items = as_items(X)
        out = self.transform_items(items)
        if isinstance(X, pd.DataFrame):
            self.fill_sidecar(X, out, self._feature_names())
        return out

    def fill_sidecar(self, X: Any, out: np.ndarray, names: Sequence[str]) -> None:
        """Write the sidecar values of ``X`` into the ``meta_sidecar_*`` columns of ``out``.

        The one join of sidecar columns (here, in :class:`~deepfeat.ImageFeatures` and in
        the feature cache), with one row rule: a row gets its sidecar values only when it
        has some other feature value. An input that failed every group stays all-NaN, so
        it is reported as failed and never trained on.

        Parameters
        ----------
        X : dataset DataFrame (or paths: then see :meth:`sidecar_features`)
        out : numpy.ndarray
            ``(len(X), len(names))`` features, filled in place.
        names : sequence of str
            The column names of ``out``.
        """
        side = self.sidecar_features(X, len(out))
        if side is None or not side.shape[1]:
            return
        cols = [list(names).index(c) for c in side.columns]
        others = np.ones(out.shape[1], dtype=bool)
        others[cols] = False
        ok = ~np.isnan(out[:, others]).all(axis=1)
        out[np.ix_(ok, cols)] = side.to_numpy(dtype=np.float32)[ok]

    def transform_items(self, items: Sequence[Any], images: Any = None) -> np.ndarray:
        """Features of normalised items (paths or arrays); sidecar columns are NaN here."""
        self._memo: dict[int, np.ndarray] = {}
        try:
            return super().transform_items(items, images)
        finally:
            del self._memo

    def kernel(self) -> Callable[[Any], np.ndarray]:
        """The picklable per-file function behind :meth:`transform` (for worker processes).

        Its rows end with NaN slots for the sidecar columns, which :meth:`sidecar_features`
        fills from the dataset table.
        """
        n_side = len(self._active_sidecar())
        return functools.partial(metadata_vector, n_sidecar=n_side) if n_side else metadata_vector

    def _transform_paths(self, items: Sequence[Any]) -> np.ndarray:
        row_of = self.kernel()
        memo = getattr(self, "_memo", {})
        rows = []
        for item in items:
            row = memo.get(id(item))
            if row is None:
                row = row_of(item)
                memo[id(item)] = row
            rows.append(row)
        return np.vstack(rows) if rows else np.empty((0, len(self._feature_names())))
