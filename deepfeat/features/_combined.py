"""``ImageFeatures``: every feature group over one decode per image, one float32 table."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._io import DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from ._base import FAILURE_COLUMNS, as_items, as_rgb_uint8, item_name

logger = logging.getLogger(__name__)

__all__ = ["GROUPS", "ImageFeatures", "feature_group"]

#: The feature groups, in the fixed column order of the output.
GROUPS = ("cnn", "fft", "meta")


def feature_group(name: str) -> str:
    """The group of a feature column (``"cnn_0007"`` → ``"cnn"``)."""
    return name.split("_", 1)[0]


def _default_transformer(group: str):
    if group == "cnn":
        from ._cnn import CNNEmbedder

        return CNNEmbedder()
    if group == "fft":
        from ._spectrum import FFTSpectrum

        return FFTSpectrum()
    from ._metadata import MetadataFeatures

    return MetadataFeatures()


def _decode(item: Any, max_pixels: int | None) -> np.ndarray:
    if isinstance(item, np.ndarray):
        return as_rgb_uint8(item)
    return load_image(item, max_pixels=max_pixels)


def _pixel_free_work(
    items: list[Any],
    offset: int,
    transformers: dict[str, Any],
    need_images: bool,
    max_pixels: int | None,
    crop,
) -> tuple[dict[str, np.ndarray], list[dict[str, str]], list[np.ndarray | None]]:
    """Decode a slice of inputs and run the per-image groups (fft, meta) on it.

    Runs in a worker process when ``n_jobs > 1``; returns feature blocks, failure records and
    the decoded images (for the CNN in the parent process).
    """
    n = len(items)
    images: list[np.ndarray | None] = [None] * n
    failures: list[dict[str, str]] = []
    for i, item in enumerate(items):
        try:
            img = _decode(item, max_pixels)
            if crop is not None:
                cropped = crop.crop(img)
                if cropped is None:
                    failures.append(
                        {
                            "path": item_name(item, offset + i),
                            "stage": "crop",
                            "reason": "no face found (crop policy 'skip')",
                        }
                    )
                    continue
                img = cropped
            images[i] = img
        except (ImageLoadError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, ImageLoadError) else str(exc)
            failures.append(
                {"path": item_name(item, offset + i), "stage": "load", "reason": reason}
            )
    ok = [i for i in range(n) if images[i] is not None]
    blocks: dict[str, np.ndarray] = {}
    for group, tr in transformers.items():
        if group == "cnn":
            continue
        block = np.full((n, len(tr.get_feature_names_out())), np.nan, dtype=np.float32)
        if ok:
            if group == "meta":  # metadata reads the original file, never the crop
                feats = tr.transform_items([items[i] for i in ok])
            else:
                feats = tr.transform_items([items[i] for i in ok], [images[i] for i in ok])
            block[ok] = feats
            for rec in tr.failures_.to_dict("records"):
                failures.append({**rec, "stage": group})
        blocks[group] = block
    return blocks, failures, (images if need_images else [None] * n)


class ImageFeatures(TransformerMixin, BaseEstimator):
    """All feature groups of every image, concatenated into one named float32 table.

    Each image is decoded once; the spectrum (``fft``) and metadata (``meta``) groups run per
    image (in ``n_jobs`` worker processes), the CNN runs batched in one onnxruntime session
    in the calling process. Columns come in the fixed order ``cnn_*``, ``fft_*``, ``meta_*``.

    Parameters
    ----------
    groups : sequence of {"cnn", "fft", "meta"}, default=("cnn", "fft", "meta")
        Which groups to compute.
    cnn, fft, meta : transformer or None, default=None
        Configured group transformers (:class:`~deepfeat.CNNEmbedder`,
        :class:`~deepfeat.FFTSpectrum`, :class:`~deepfeat.MetadataFeatures`); ``None`` uses
        the defaults. Nested parameters work: ``ImageFeatures(cnn=CNNEmbedder(batch_size=8))``.
    crop_faces : bool or FaceCropper, default=False
        Crop the largest face before the pixel features (metadata still reads the file).
    batch_size : int, default=64
        Images decoded and embedded per chunk (bounds memory).
    n_jobs : int or None, default=None
        Worker processes for decoding, spectrum and metadata (``None`` or 1: in process;
        -1: all cores). The CNN uses its own onnxruntime threads in the parent process.
    progress : bool, default=False
        Show a tqdm progress bar.
    on_error : {"record", "raise"}, default="record"
        ``"record"``: a failed input gives NaN in the groups that failed and a row in
        ``failures_`` (path, stage, reason); ``"raise"``: the first failure raises.
    max_pixels : int or None
        Decompression-bomb limit passed to :func:`deepfeat.load_image`.

    Attributes
    ----------
    transformers_ : dict of str to transformer
        The fitted group transformers.
    feature_names_out_ : numpy.ndarray of str
    n_features_out_ : int
    failures_ : pandas.DataFrame
        After ``transform``: one row per failure (``path``, ``stage``, ``reason``).

    Examples
    --------
    >>> import tempfile
    >>> from deepfeat import ImageFeatures, load_dataset, make_demo_dataset
    >>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=6))
    >>> feats = ImageFeatures(groups=("fft", "meta")).set_output(transform="pandas")
    >>> table = feats.fit_transform(df)
    >>> table.shape[0], table.columns[0]
    (6, 'fft_000')
    """

    def __init__(
        self,
        groups: Sequence[str] = GROUPS,
        *,
        cnn: Any = None,
        fft: Any = None,
        meta: Any = None,
        crop_faces: Any = False,
        batch_size: int = 64,
        n_jobs: int | None = None,
        progress: bool = False,
        on_error: str = "record",
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.groups = groups
        self.cnn = cnn
        self.fft = fft
        self.meta = meta
        self.crop_faces = crop_faces
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.progress = progress
        self.on_error = on_error
        self.max_pixels = max_pixels

    def _validate(self) -> tuple[str, ...]:
        groups = (self.groups,) if isinstance(self.groups, str) else tuple(self.groups)
        unknown = [g for g in groups if g not in GROUPS]
        if unknown or not groups:
            raise ValueError(f"groups must be a non-empty subset of {GROUPS}, got {self.groups!r}")
        if len(set(groups)) != len(groups):
            raise ValueError(f"groups has duplicates: {self.groups!r}")
        if self.on_error not in ("record", "raise"):
            raise ValueError(f"on_error must be 'record' or 'raise', got {self.on_error!r}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        return tuple(g for g in GROUPS if g in groups)

    def _cropper(self):
        if self.crop_faces is False or self.crop_faces is None:
            return None
        if self.crop_faces is True:
            from .._face import FaceCropper

            return FaceCropper()
        return self.crop_faces

    def fit(self, X: Any = None, y: Any = None) -> ImageFeatures:
        """Build and fit the group transformers (only ``meta`` learns: its sidecar columns).

        Parameters
        ----------
        X : paths, arrays or dataset DataFrame, optional
            A dataset DataFrame lets ``meta`` pick up numeric sidecar columns.
        y : array-like, optional
            Labels, used only to refuse sidecar columns that equal the label.

        Returns
        -------
        self
        """
        groups = self._validate()
        self.transformers_ = {}
        for group in groups:
            given = getattr(self, group)
            tr = clone(given) if given is not None else _default_transformer(group)
            if hasattr(tr, "on_error"):
                tr.set_params(on_error="record")
            tr.fit(X, y) if group == "meta" else tr.fit()
            self.transformers_[group] = tr
        self.cropper_ = self._cropper()
        names: list[str] = []
        for tr in self.transformers_.values():
            names.extend(tr.get_feature_names_out())
        if len(set(names)) != len(names):
            raise ValueError("feature names of the groups collide")
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns (``cnn_*``, ``fft_*``, ``meta_*``)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def transform(self, X: Any) -> np.ndarray:
        """Extract every group for every input.

        Parameters
        ----------
        X : path, sequence of paths or arrays, or dataset DataFrame with ``path``
            A DataFrame's sidecar columns feed ``meta_sidecar_*`` features.

        Returns
        -------
        numpy.ndarray
            ``float32`` of shape ``(n_inputs, n_features_out_)``; NaN where a group failed
            (see ``failures_``) or a feature is undefined for a file.
        """
        check_is_fitted(self, "transformers_")
        items = as_items(X)
        n = len(items)
        out = np.full((n, self.n_features_out_), np.nan, dtype=np.float32)
        slices: dict[str, slice] = {}
        start = 0
        for group, tr in self.transformers_.items():
            width = len(tr.get_feature_names_out())
            slices[group] = slice(start, start + width)
            start += width

        local = {g: tr for g, tr in self.transformers_.items() if g != "cnn"}
        cnn = self.transformers_.get("cnn")
        crop = self.cropper_
        failures: list[dict[str, str]] = []
        t0 = time.perf_counter()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, unit="img", desc="features")
        chunks = [range(s, min(s + self.batch_size, n)) for s in range(0, n, self.batch_size)]
        n_jobs = self.n_jobs if self.n_jobs not in (None, 0) else 1
        tasks = [
            ([items[i] for i in c], c.start, local, cnn is not None, self.max_pixels, crop)
            for c in chunks
        ]
        try:
            if n_jobs == 1 or len(chunks) <= 1:
                results = (_pixel_free_work(*task) for task in tasks)
                self._consume(results, chunks, items, out, slices, cnn, failures, bar)
            else:
                from joblib import Parallel, delayed

                with Parallel(n_jobs=n_jobs, return_as="generator") as parallel:
                    results = parallel(delayed(_pixel_free_work)(*task) for task in tasks)
                    self._consume(results, chunks, items, out, slices, cnn, failures, bar)
        finally:
            if bar is not None:
                bar.close()
        meta = self.transformers_.get("meta")
        if meta is not None and hasattr(meta, "sidecar_features"):
            # numeric sidecar columns of a dataset DataFrame (e.g. DFDC original_width)
            side = meta.sidecar_features(X, len(items))
            if side is not None and side.shape[1]:
                names = list(self.feature_names_out_)
                for col in side.columns:
                    out[:, names.index(col)] = side[col].to_numpy(dtype=np.float32)
        self.failures_ = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
        elapsed = time.perf_counter() - t0
        logger.info(
            "extracted %d inputs in %.1f s (%.1f img/s), %d failures",
            n,
            elapsed,
            n / elapsed if elapsed else float("nan"),
            len(failures),
        )
        if self.on_error == "raise" and failures:
            first = failures[0]
            raise ImageLoadError(first["path"], f"{first['stage']}: {first['reason']}")
        return out

    def _consume(self, results, chunks, items, out, slices, cnn, failures, bar) -> None:
        for c, (blocks, fails, images) in zip(chunks, results):
            rows = np.arange(c.start, c.stop)
            for group, block in blocks.items():
                out[rows, slices[group]] = block
            failures.extend(fails)
            if cnn is not None:
                ok = [k for k, img in enumerate(images) if img is not None]
                if ok:
                    sub_items = [items[c.start + k] for k in ok]
                    feats = cnn.transform_items(sub_items, [images[k] for k in ok])
                    out[rows[ok], slices["cnn"]] = feats
                    for rec in cnn.failures_.to_dict("records"):
                        failures.append({**rec, "stage": "cnn"})
            if bar is not None:
                bar.update(len(c))
