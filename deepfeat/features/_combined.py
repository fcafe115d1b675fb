"""``ImageFeatures``: every feature group over one decode per image, one float32 table."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._io import DEFAULT_MAX_PIXELS, ImageLoadError
from .._schema import DEFAULT_GROUPS, FAILURE_COLUMNS, GROUPS, feature_group
from ._base import as_items
from ._work import (
    GroupWork,
    Rescale,
    decode_slice,
    effective_jobs,
    group_blocks,
    native_side,
    pixel_free_work,
    start_workers,
    worker_pool,
)

logger = logging.getLogger(__name__)

__all__ = ["GROUPS", "ImageFeatures", "feature_group"]


def _default_transformer(group: str):
    if group == "cnn":
        from ._cnn import CNNEmbedder

        return CNNEmbedder()
    if group == "fft":
        from ._fft import FFTSpectrum

        # the 14 local-consistency columns: +0.009 grouped AUC on DFDC and k140 at ~1 ms
        # per image (docs/benchmarks_generalisation.md, recipe "+local")
        return FFTSpectrum(local=True)
    if group == "forensic":
        from ._forensic import ForensicResiduals

        return ForensicResiduals()
    from ._meta import MetadataFeatures

    return MetadataFeatures()


def _run_tasks(tasks: list[tuple], n_jobs: int, parent_busy: bool) -> Iterator[tuple[int, tuple]]:
    """Run :func:`pixel_free_work` on every task; yield ``(task index, result)`` as done.

    * ``n_jobs == 1`` without a CNN: in order, in this process.
    * ``n_jobs == 1`` with a CNN (``parent_busy``): see :func:`_decode_ahead`.
    * ``n_jobs > 1`` with a CNN: see :func:`_phased`.
    * ``n_jobs > 1``: a reusable pool of worker processes (``loky``), kept two slices
      per worker ahead. Without a CNN to run, this process also takes the next slice
      itself whenever no result is ready, so it works while the workers start.
    """
    if not tasks:
        return
    if n_jobs == 1 and not parent_busy:
        for k, task in enumerate(tasks):
            yield k, pixel_free_work(*task)
        return
    if n_jobs == 1:
        yield from (_groups_ahead(tasks) if GROUPS_AHEAD else _decode_ahead(tasks))
        return
    executor = worker_pool(n_jobs)
    if parent_busy:
        yield from _phased(tasks, executor, n_jobs)
        return
    window = 2 * n_jobs
    pending = deque(range(len(tasks)))
    running: dict[Future, int] = {}
    try:
        while pending or running:
            while pending and len(running) < window:
                k = pending.popleft()
                running[executor.submit(pixel_free_work, *tasks[k])] = k
            done = [f for f in running if f.done()]
            if not done and pending and not parent_busy:
                own = pending.popleft()
                yield own, pixel_free_work(*tasks[own])
                continue
            if not done:
                done = list(wait(running, return_when=FIRST_COMPLETED).done)
            for f in sorted(done, key=running.__getitem__):
                yield running.pop(f), f.result()
    finally:
        for f in running:
            f.cancel()


def _decode_ahead(tasks: list[tuple]) -> Iterator[tuple[int, tuple]]:
    """One helper thread decodes slice ``k + 1`` while this thread finishes slice ``k``.

    The spectrum and metadata of slice ``k`` run here, between CNN batches, not in the
    helper: onnxruntime splits each operator statically over all cores, so work running
    concurrently with it stalls whole operators. Decoding overlaps well (it mostly waits in
    OpenCV/Pillow without the GIL, and finishes while this thread computes spectra);
    spectrum and metadata did not (measured in ``scripts/benchmarks/bench_extract.py``).
    """

    def decode(items, offset, groups, _need, max_pixels, crop):
        return decode_slice(items, offset, max_pixels, crop, native_side(groups))

    for k, (images, failures, natives) in _one_ahead(tasks, decode):
        items, offset, groups, need_images, _, _ = tasks[k]
        blocks, more = group_blocks(items, offset, groups, images, natives)
        yield k, (blocks, failures + more, images if need_images else [None] * len(items))


def _one_ahead(tasks: list[tuple], work: Callable[..., Any]) -> Iterator[tuple[int, Any]]:
    """``work(*tasks[k + 1])`` runs in one helper thread while the caller uses result ``k``."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="deepfeat-ahead") as helper:
        ahead = helper.submit(work, *tasks[0])
        for k in range(len(tasks)):
            result = ahead.result()
            if k + 1 < len(tasks):
                ahead = helper.submit(work, *tasks[k + 1])
            yield k, result


#: ``n_jobs=1`` with a CNN: ``True`` computes the spectrum and metadata of the next slice in
#: the helper thread too, concurrently with the CNN (:func:`_groups_ahead`); ``False`` (the
#: default) decodes ahead only. Measured in one run (``scripts/benchmarks/bench_speed.py``, 256 face
#: crops, 5 trials, 2 cores): 0.78× vs 0.79× the raw full-graph backbone, same CPU per image:
#: no gain, because onnxruntime already keeps both cores busy.
GROUPS_AHEAD = False


def _groups_ahead(tasks: list[tuple]) -> Iterator[tuple[int, tuple]]:
    """One helper thread runs all per-image work (decode, spectrum, metadata) of slice
    ``k + 1`` while this thread runs the CNN on slice ``k``: full overlap, at the price of
    sharing the cores with onnxruntime's operators."""
    yield from _one_ahead(tasks, pixel_free_work)


def _split(task: tuple, n_parts: int) -> list[tuple]:
    items, offset, *rest = task
    step = -(-len(items) // n_parts)
    return [(items[s : s + step], offset + s, *rest) for s in range(0, len(items), step)]


def _merge(parts: list[tuple]) -> tuple:
    blocks = {g: np.concatenate([p[0][g] for p in parts]) for g in parts[0][0]}
    return blocks, [f for p in parts for f in p[1]], [im for p in parts for im in p[2]]


def _phased(tasks: list[tuple], executor: Any, n_parts: int) -> Iterator[tuple[int, tuple]]:
    """Each slice's decode/spectrum/metadata spread over ``n_parts`` workers, then the CNN.

    onnxruntime splits every operator statically over its threads, so other work on one of
    its cores stalls the whole operator: on a machine whose cores all run onnxruntime,
    computing the per-image groups *in between* CNN batches, on every core, is faster than
    computing them concurrently with it (measured in ``scripts/benchmarks/bench_extract.py``).
    """
    for k, task in enumerate(tasks):
        parts = [executor.submit(pixel_free_work, *part) for part in _split(task, n_parts)]
        yield k, _merge([f.result() for f in parts])


class ImageFeatures(TransformerMixin, BaseEstimator):
    """All feature groups of every image, concatenated into one named float32 table.

    Each image is decoded once; the spectrum (``fft``), residual-trace (``forensic``) and
    metadata (``meta``) groups run per image (in ``n_jobs`` worker processes), the CNN runs
    batched in one onnxruntime session in the calling process. Columns come in the fixed
    order ``cnn_*``, ``fft_*``, ``forensic_*``, ``meta_*``.

    Parameters
    ----------
    groups : sequence of {"cnn", "fft", "forensic", "meta"}, default=("cnn", "fft", "meta")
        Which groups to compute. ``forensic`` (:class:`~deepfeat.ForensicResiduals`, residual
        traces at native resolution) is opt-in: it did not improve the leave-one-source-out
        benchmark (``docs/benchmarks_forensic.md``).
    cnn, fft, forensic, meta : transformer or None, default=None
        Configured group transformers (:class:`~deepfeat.CNNEmbedder`,
        :class:`~deepfeat.FFTSpectrum`, :class:`~deepfeat.ForensicResiduals`,
        :class:`~deepfeat.MetadataFeatures`); ``None`` uses the defaults (for ``fft``:
        ``FFTSpectrum(local=True)``, the spectrum plus the ``fft_local_*`` centre-vs-surround
        statistics). Nested parameters work: ``ImageFeatures(cnn=CNNEmbedder(batch_size=8))``.
    crop_faces : bool or FaceCropper, default=False
        Crop the largest face before the pixel features (metadata still reads the file).
    batch_size : int, default=64
        Images decoded and embedded per chunk (bounds memory).
    n_jobs : int or None, default=None
        Worker processes for decoding, spectrum and metadata (``None`` or 1: in process;
        -1: all cores). The CNN always runs in this process with its own onnxruntime
        threads (all cores by default). With the CNN, ``n_jobs=1`` is the fastest on face
        crops: one helper thread decodes the next slice while the spectrum, metadata and
        CNN of the current one run here, one after the other, so nothing competes with
        onnxruntime for its cores. ``n_jobs > 1`` with the CNN alternates: the workers
        decode and compute a slice on every core, then the CNN runs alone (worth it when
        decoding dominates, e.g. large photos). Without the CNN, ``n_jobs`` processes work
        continuously and this process helps while they start.
    progress : bool, default=False
        Show a tqdm progress bar.
    on_error : {"record", "raise"}, default="record"
        ``"record"``: a failed input gives NaN in the groups that failed and a row in
        ``failures_`` (path, stage, reason); ``"raise"``: the first failure raises.
    max_pixels : int or None
        Decompression-bomb limit passed to :func:`deepfeat.load_image`.
    canonical_size : int or None, default=256
        Scale policy of the pixel groups (``cnn``, ``fft``; ``forensic`` always reads the
        native pixels, centre-cropped to its ``max_side``): images (or face crops) whose
        shorter side exceeds this are down-scaled to it (area interpolation); smaller ones
        stay native; nothing is enlarged (enlarging would add the very up-sampling trace
        that marks generated images). ``None``: native resolution (each group then
        centre-crops to its own ``max_side``). Metadata always reads the file. The default
        was chosen by measurement (``docs/benchmarks_generalisation.md``): with native
        resolution a large face is seen at a finer scale than any 224–256 px training face,
        so the verdict followed the image size; 256 px caught more unseen 512 px generated
        faces and flagged fewer large real photos.

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
        groups: Sequence[str] = DEFAULT_GROUPS,
        *,
        cnn: Any = None,
        fft: Any = None,
        meta: Any = None,
        forensic: Any = None,
        crop_faces: Any = False,
        batch_size: int = 64,
        n_jobs: int | None = None,
        progress: bool = False,
        on_error: str = "record",
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        canonical_size: int | None = 256,
    ) -> None:
        self.groups = groups
        self.cnn = cnn
        self.fft = fft
        self.meta = meta
        self.forensic = forensic
        self.crop_faces = crop_faces
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.progress = progress
        self.on_error = on_error
        self.max_pixels = max_pixels
        self.canonical_size = canonical_size

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
        size = self.canonical_size
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16
        ):
            raise ValueError(f"canonical_size must be None or an integer >= 16, got {size!r}")
        return tuple(g for g in GROUPS if g in groups)

    def _cropper(self):
        crop = None
        if self.crop_faces is True:
            from ..face._cropper import FaceCropper

            crop = FaceCropper()
        elif self.crop_faces is not False and self.crop_faces is not None:
            crop = self.crop_faces
        if self.canonical_size is not None:
            return Rescale(int(self.canonical_size), crop)
        return crop

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
        if set(self.transformers_) != {"cnn"}:
            start_workers(self.n_jobs)  # spawn now, ready by transform()
        names: list[str] = []
        for tr in self.transformers_.values():
            names.extend(tr.get_feature_names_out())
        if len(set(names)) != len(names):
            raise ValueError("feature names of the groups collide")
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns (``cnn_*``, ``fft_*``, ``forensic_*``, ``meta_*``)."""
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
        out, failures = self.transform_with_failures(X)
        self.failures_ = failures
        return out

    def transform_with_failures(self, X: Any) -> tuple[np.ndarray, pd.DataFrame]:
        """:meth:`transform` that returns its failures instead of setting ``failures_``.

        Safe to call from several threads on one extractor: nothing is stored on it.

        Returns
        -------
        values : numpy.ndarray
        failures : pandas.DataFrame
            ``path, stage, reason`` per failure.
        """
        check_is_fitted(self, "transformers_")
        meta = self.transformers_.get("meta")
        if meta is not None and hasattr(meta, "check_sidecar"):
            meta.check_sidecar(X)  # before any work: a missing sidecar column is an error
        items = as_items(X)
        n = len(items)
        t0 = time.perf_counter()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, unit="img", desc="features")
        try:
            ((_, out, failures),) = list(self.iter_blocks([items], bar=bar))
        finally:
            if bar is not None:
                bar.close()
        if meta is not None and hasattr(meta, "fill_sidecar"):
            # opted-in sidecar columns of a dataset DataFrame (e.g. DFDC original_width)
            meta.fill_sidecar(X, out, list(self.feature_names_out_))
        table = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
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
        return out, table

    def _group_work(self) -> dict[str, GroupWork]:
        """What the workers compute: every group but the CNN, by kernel when available."""
        work = {}
        for group, tr in self.transformers_.items():
            if group == "cnn":
                continue
            if not hasattr(tr, "kernel"):
                raise TypeError(
                    f"the {group} transformer {type(tr).__name__} has no kernel(): the "
                    "per-image groups run as a picklable per-input function (see "
                    "FFTSpectrum.kernel, MetadataFeatures.kernel)"
                )
            native = bool(getattr(tr, "native_resolution", False))
            work[group] = GroupWork(
                width=len(tr.get_feature_names_out()),
                kernel=tr.kernel(),
                from_file=group == "meta" or not getattr(tr, "needs_pixels", True),
                native=native,
                native_side=getattr(tr, "max_side", None) if native else None,
            )
        return work

    def iter_blocks(
        self, blocks: Sequence[Sequence[Any]], offsets: Sequence[int] | None = None, bar=None
    ) -> Iterator[tuple[int, np.ndarray, list[dict[str, str]]]]:
        """Features of several blocks of normalised inputs, yielded per block when complete.

        The worker pool (or helper thread) runs across block boundaries, so a caller that
        writes each block as it arrives (:func:`~deepfeat.features._cache.extract_table`)
        never stalls the pipeline. Each block is cut into ``batch_size`` slices from its own
        start, so a block's values never depend on the other blocks. Sidecar columns are not
        filled here (see :meth:`transform`).

        Parameters
        ----------
        blocks : sequence of sequences of paths or arrays
        offsets : sequence of int, optional
            Position of each block's first input in the caller's list (names ``<array N>``).
        bar : tqdm progress bar, optional
            Advanced by the number of inputs of each finished slice.

        Yields
        ------
        index : int
            The block's position in ``blocks`` (blocks may finish out of order).
        values : numpy.ndarray
            ``float32`` ``(len(block), n_features_out_)``.
        failures : list of dict
            ``path, stage, reason``, in input order of the slices.
        """
        check_is_fitted(self, "transformers_")
        offsets = list(offsets) if offsets is not None else [0] * len(blocks)
        slices: dict[str, slice] = {}
        start = 0
        for group, tr in self.transformers_.items():
            width = len(tr.get_feature_names_out())
            slices[group] = slice(start, start + width)
            start += width
        work = self._group_work()
        cnn = self.transformers_.get("cnn")
        bs = int(self.batch_size)
        tasks: list[tuple] = []
        where: list[tuple[int, int]] = []
        n_tasks = [0] * len(blocks)
        for b, block in enumerate(blocks):
            for s in range(0, len(block), bs):
                sub = list(block[s : s + bs])
                tasks.append(
                    (sub, offsets[b] + s, work, cnn is not None, self.max_pixels, self.cropper_)
                )
                where.append((b, s))
                n_tasks[b] += 1
        for b, block in enumerate(blocks):
            if not block:
                yield b, np.empty((0, self.n_features_out_), dtype=np.float32), []
        values: dict[int, np.ndarray] = {}
        fails: dict[int, dict[int, list[dict[str, str]]]] = {}
        n_jobs = effective_jobs(self.n_jobs)
        for k, (per_group, task_fails, images) in _run_tasks(tasks, n_jobs, cnn is not None):
            b, s = where[k]
            sub = tasks[k][0]
            if b not in values:
                values[b] = np.full((len(blocks[b]), self.n_features_out_), np.nan, np.float32)
                fails[b] = {}
            rows = slice(s, s + len(sub))
            for group, block in per_group.items():
                values[b][rows, slices[group]] = block
            if cnn is not None:
                ok = [j for j, img in enumerate(images) if img is not None]
                if ok:
                    args = ([sub[j] for j in ok], [images[j] for j in ok])
                    if hasattr(cnn, "transform_items_with_failures"):  # no shared state
                        feats, cnn_fails = cnn.transform_items_with_failures(*args)
                    else:
                        feats, cnn_fails = cnn.transform_items(*args), cnn.failures_
                    values[b][np.arange(s, s + len(sub))[ok], slices["cnn"]] = feats
                    for rec in cnn_fails.to_dict("records"):
                        task_fails.append({**rec, "stage": "cnn"})
            fails[b][s] = task_fails
            if bar is not None:
                bar.update(len(sub))
            n_tasks[b] -= 1
            if n_tasks[b] == 0:
                by_slice = fails.pop(b)
                ordered = [rec for key in sorted(by_slice) for rec in by_slice[key]]
                yield b, values.pop(b), ordered
