"""Shared machinery of the per-group feature transformers.

Every feature group (``cnn``, ``fft``, ``meta``) is a pure function plus a thin, stateless
scikit-learn transformer built on :class:`ImageTransformer`. The base class owns input
normalisation (paths, arrays, dataset DataFrames), decoding, the ``on_error`` policy, the
failure table and feature names, so that subclasses only turn decoded images (or files)
into float32 vectors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .._io import DEFAULT_MAX_PIXELS, ImageLoadError, as_rgb_uint8, source_name
from .._schema import FAILURE_COLUMNS
from ._work import decode_item, failure_record, item_name, log_failures, run_isolating

logger = logging.getLogger(__name__)

ON_ERROR = ("raise", "record")


def as_items(X: Any) -> list[Any]:
    """Normalise ``X`` to a list of items, each a path string or an image array.

    Accepts a single path, a sequence / Series / 1-D array of paths, a dataset DataFrame with
    a ``path`` column (as returned by :func:`deepfeat.load_dataset`), a single ``H×W×3``
    array, or a list of arrays.
    """
    if isinstance(X, pd.DataFrame):
        if "path" not in X.columns:
            raise ValueError(
                "a DataFrame input needs a 'path' column (as made by deepfeat.load_dataset)"
            )
        return [os.fspath(p) for p in X["path"]]
    if isinstance(X, (str, os.PathLike)):
        return [os.fspath(X)]
    if (
        isinstance(X, np.ndarray)
        and X.dtype != object
        and X.ndim in (2, 3)
        and X.dtype.kind in "uif"
    ):
        return [X]
    if isinstance(X, (pd.Series, np.ndarray)):
        X = list(X)
    if not isinstance(X, Iterable):
        raise TypeError(f"expected image paths or arrays, got {type(X).__name__}")
    items = []
    for item in X:
        if isinstance(item, (str, os.PathLike)):
            items.append(os.fspath(item))
        elif isinstance(item, np.ndarray):
            items.append(item)
        else:
            raise TypeError(f"expected a path or an image array, got {type(item).__name__}")
    return items


class ImageTransformer(TransformerMixin, BaseEstimator):
    """Base class of the stateless image feature transformers.

    Subclasses set ``prefix`` and implement :meth:`_feature_names` and either
    :meth:`_transform_images` (pixel features) or, with ``needs_pixels = False``,
    :meth:`_transform_paths` (file features such as metadata).

    After each :meth:`transform`, ``failures_`` is a DataFrame with columns
    ``path, stage, reason``: one row per input whose features are NaN.
    """

    prefix: str = ""
    needs_pixels: bool = True
    #: Failure stage recorded for errors raised by the feature computation itself.
    stage: str = "features"

    # -- to implement -------------------------------------------------------------------
    def _feature_names(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform_images(self, images: Sequence[np.ndarray]) -> np.ndarray:  # pragma: no cover
        """Features of decoded RGB uint8 images, shape ``(len(images), n_features)``."""
        raise NotImplementedError

    def _transform_paths(self, items: Sequence[Any]) -> np.ndarray:  # pragma: no cover
        """Features straight from files (``needs_pixels = False``)."""
        raise NotImplementedError

    def _validate_params(self) -> None:
        if getattr(self, "on_error", "raise") not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}")

    # -- sklearn API ----------------------------------------------------------------------
    def fit(self, X: Any = None, y: Any = None) -> ImageTransformer:
        """Validate the parameters and record the output size (the transformer is stateless).

        Parameters
        ----------
        X : ignored
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        self.n_features_out_ = len(self._feature_names())
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns, e.g. ``fft_000``.

        Returns
        -------
        numpy.ndarray of str
        """
        return np.asarray(self._feature_names(), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def transform(self, X: Any) -> np.ndarray:
        """Compute the features of every image.

        Parameters
        ----------
        X : path, sequence of paths or arrays, or dataset DataFrame with a ``path`` column

        Returns
        -------
        numpy.ndarray
            ``float32`` array of shape ``(n_images, n_features)``. With
            ``on_error="record"`` rows of failed inputs are NaN and ``failures_`` lists them.
        """
        self._validate_params()
        items = as_items(X)
        return self.transform_items(items)

    def transform_items(
        self, items: Sequence[Any], images: Sequence[np.ndarray | None] | None = None
    ) -> np.ndarray:
        """Features of already normalised items, optionally with their decoded pixels.

        ``images[i]`` (when given) is the decoded RGB array of ``items[i]`` or ``None`` when
        decoding failed; :class:`deepfeat.ImageFeatures` uses this to decode once for all
        groups. Failures are recorded in ``failures_`` (or raised, per ``on_error``).
        """
        names = self._feature_names()
        out = np.full((len(items), len(names)), np.nan, dtype=np.float32)
        failures: list[dict[str, str]] = []
        ok_idx: list[int] = []
        ok_inputs: list[Any] = []
        raise_errors = getattr(self, "on_error", "raise") == "raise"
        max_pixels = getattr(self, "max_pixels", DEFAULT_MAX_PIXELS)

        for i, item in enumerate(items):
            if not self.needs_pixels:
                ok_idx.append(i)
                ok_inputs.append(item)
                continue
            try:
                img = decode_item(item, max_pixels, None if images is None else images[i])
            except (ImageLoadError, ValueError) as exc:
                if raise_errors:
                    raise
                failures.append(failure_record(item_name(item, i), "load", exc))
                continue
            ok_idx.append(i)
            ok_inputs.append(img)

        if ok_inputs:
            func = self._transform_images if self.needs_pixels else self._transform_paths
            width = len(self._feature_names())
            feats, errs = run_isolating(func, ok_inputs, width, raise_errors)
            for local, exc in errs.items():
                i = ok_idx[local]
                failures.append(failure_record(item_name(items[i], i), self.stage, exc))
            out[ok_idx] = feats
        self.failures_ = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
        log_failures(self, len(failures), len(items))
        return out


__all__ = [
    "FAILURE_COLUMNS",
    "ImageTransformer",
    "as_items",
    "as_rgb_uint8",
    "item_name",
    "source_name",
]
