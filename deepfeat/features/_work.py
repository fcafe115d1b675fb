"""The per-image work of extraction worker processes: decode, crop, spectrum and metadata.

This module (and what it imports: numpy, Pillow, OpenCV, the pure functions of
:mod:`~deepfeat.features._fft_kernel` and :mod:`~deepfeat.features._meta_kernel`) never imports
scikit-learn or pandas, so a freshly spawned worker process is ready in a fraction of a
second; importing scikit-learn alone takes 1–2 s, longer than extracting the spectra and
metadata of a few thousand face crops.

A *kernel* is a picklable function of one input (a decoded image, or the file itself for
metadata) to one float vector; the group transformers expose theirs with ``kernel()`` and
use the same function in-process, so worker and in-process results are identical.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._io import ImageLoadError, as_rgb_uint8, load_image

__all__ = [
    "GroupWork",
    "Rescale",
    "decode_item",
    "decode_slice",
    "effective_jobs",
    "failure_reason",
    "failure_record",
    "group_blocks",
    "item_name",
    "log_failures",
    "native_side",
    "pixel_free_work",
    "run_isolating",
    "start_workers",
    "worker_pool",
]


def item_name(item: Any, index: int) -> str:
    """A printable name for an input item (its path, or ``<array 3>``)."""
    return item if isinstance(item, str) else f"<array {index}>"


def failure_reason(exc: BaseException) -> str:
    """The short reason recorded for a failed input."""
    if isinstance(exc, ImageLoadError):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


def is_transient(exc: BaseException) -> bool:
    """Whether a failure may go away on retry (I/O, memory), so must never be cached."""
    if isinstance(exc, ImageLoadError):
        return exc.transient
    return isinstance(exc, (OSError, MemoryError))


def log_failures(owner: Any, n_failed: int, n_inputs: int) -> None:
    """The one warning a transformer logs after a batch with failures."""
    if n_failed:
        logging.getLogger(type(owner).__module__).warning(
            "%s: %d of %d inputs failed (see failures_)", type(owner).__name__, n_failed, n_inputs
        )


def failure_record(name: str, stage: str, exc: BaseException) -> dict[str, Any]:
    """A failure record ``path, stage, reason`` (plus ``transient: True`` for I/O errors)."""
    rec: dict[str, Any] = {"path": name, "stage": stage, "reason": failure_reason(exc)}
    if is_transient(exc):
        rec["transient"] = True
    return rec


@dataclass(frozen=True)
class GroupWork:
    """How a worker computes one feature group.

    Attributes
    ----------
    width : int
        Number of columns of the group.
    kernel : callable
        Per-input function to a vector of ``width`` values (``FFTSpectrum.kernel()``,
        ``MetadataFeatures.kernel()``).
    from_file : bool
        The kernel reads the original file (metadata), not the decoded or cropped pixels.
    native : bool
        The kernel reads the pixels before the scale policy shrinks them (after the face
        crop), centre-cropped to ``native_side`` (residual traces, ``forensic``).
    native_side : int or None
        Bound of that centre crop (the memory held per image until the kernel runs).
    """

    width: int
    kernel: Callable[[Any], np.ndarray]
    from_file: bool = False
    native: bool = False
    native_side: int | None = None


class Rescale:
    """The scale policy of the pixel groups: shrink so the shorter side is at most ``size``.

    Applied after decoding (and after a face crop, as a ``crop`` step of
    :func:`decode_slice`): larger images are down-scaled with area interpolation
    (anti-aliased), smaller ones are left at native size; nothing is ever enlarged, since
    up-sampling would add the very trace that marks generated images.

    Parameters
    ----------
    size : int
        Largest shorter side, pixels.
    crop : object with ``crop(image)``, optional
        A face cropper to run first.
    """

    def __init__(self, size: int, crop: Any = None) -> None:
        self.size = int(size)
        self.crop_first = crop

    def crop(self, image: np.ndarray) -> np.ndarray | None:
        """The rescaled image (``None`` when the face crop found nothing)."""
        face = self.face(image)
        return None if face is None else self.shrink(face)

    def face(self, image: np.ndarray) -> np.ndarray | None:
        """The face crop alone (the image itself without a cropper)."""
        return image if self.crop_first is None else self.crop_first.crop(image)

    def shrink(self, image: np.ndarray) -> np.ndarray:
        """The scale policy alone: the image itself unless its shorter side is over ``size``."""
        h, w = image.shape[:2]
        short = min(h, w)
        if short <= self.size:
            return image
        import cv2

        f = self.size / short
        size = (max(1, round(w * f)), max(1, round(h * f)))
        return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def decode_item(item: Any, max_pixels: int | None, image: np.ndarray | None = None) -> np.ndarray:
    """The image of one input: ``image`` when already decoded, an array checked by
    :func:`~deepfeat._io.as_rgb_uint8`, or a file decoded by :func:`~deepfeat.load_image`.

    Raises :class:`~deepfeat.ImageLoadError` or ``ValueError`` (recorded with stage ``load``).
    """
    if image is not None:
        return image
    if isinstance(item, np.ndarray):
        return as_rgb_uint8(item)
    return load_image(item, max_pixels=max_pixels)


def run_isolating(
    func: Callable[[Any], Any], inputs: Any, width: int, raise_errors: bool
) -> tuple[np.ndarray, dict[int, Exception]]:
    """``func`` on the whole batch; if it fails, on one input at a time.

    ``inputs`` is a list or an array (sliced as ``inputs[j : j + 1]``); ``func`` returns one
    row of ``width`` values per input. Returns the ``float32`` rows (NaN for inputs that
    failed alone) and the exception of each failed input by position; with ``raise_errors``
    the batch's exception propagates instead.

    >>> rows, errs = run_isolating(lambda b: [[1.0 / v] for v in b], [1, 0, 4], 1, False)
    >>> rows.ravel().tolist(), sorted(errs)
    ([1.0, nan, 0.25], [1])
    """
    try:
        return np.asarray(func(inputs), dtype=np.float32).reshape(len(inputs), width), {}
    except Exception:
        if raise_errors:
            raise
    out = np.full((len(inputs), width), np.nan, dtype=np.float32)
    errs: dict[int, Exception] = {}
    for j in range(len(inputs)):
        try:
            out[j] = np.asarray(func(inputs[j : j + 1]), dtype=np.float32).reshape(width)
        except Exception as exc:  # recorded per input, never lost
            errs[j] = exc
    return out, errs


def pixel_free_work(
    items: Sequence[Any],
    offset: int,
    groups: dict[str, GroupWork],
    need_images: bool,
    max_pixels: int | None,
    crop: Any = None,
) -> tuple[dict[str, np.ndarray], list[dict[str, str]], list[np.ndarray | None]]:
    """Decode a slice of inputs (cropping faces if asked) and compute the per-image groups.

    Parameters
    ----------
    items : sequence of paths or arrays
    offset : int
        Position of ``items[0]`` in the whole input (names ``<array N>`` inputs).
    groups : dict of str to GroupWork
        The groups to compute here (``fft``, ``meta``); the CNN runs in the parent.
    need_images : bool
        Return the decoded (cropped) images, for the CNN.
    max_pixels : int or None
        Decompression-bomb limit of :func:`deepfeat.load_image`.
    crop : FaceCropper or None

    Returns
    -------
    blocks : dict of str to numpy.ndarray
        ``float32`` ``(len(items), width)`` per group, NaN where it failed.
    failures : list of dict
        ``path, stage, reason`` per failure.
    images : list
        Decoded images (``None`` for failures, or all ``None`` when not needed).
    """
    images, failures, natives = decode_slice(items, offset, max_pixels, crop, native_side(groups))
    blocks, group_failures = group_blocks(items, offset, groups, images, natives)
    return blocks, failures + group_failures, (images if need_images else [None] * len(items))


def native_side(groups: dict[str, GroupWork]) -> int | bool | None:
    """What :func:`decode_slice` keeps of the native pixels for the ``native`` groups:
    ``False`` (no such group), ``None`` (whole images) or the largest centre-crop side."""
    sides = [w.native_side for w in groups.values() if w.native]
    if not sides:
        return False
    return None if None in sides else max(int(v) for v in sides if v is not None)


def _centre(image: np.ndarray, side: int | None) -> np.ndarray:
    if side is None:
        return image
    h, w = image.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[top : top + side, left : left + side].copy()


def decode_slice(
    items: Sequence[Any],
    offset: int,
    max_pixels: int | None,
    crop: Any = None,
    native: int | bool | None = False,
) -> tuple[list[np.ndarray | None], list[dict[str, str]], list[np.ndarray | None]]:
    """Decoded (and cropped) images of a slice, ``None`` where that failed, with failures.

    ``native`` (see :func:`native_side`): when not ``False`` and ``crop`` is a
    :class:`Rescale` that shrank an image, the third list holds the image before the
    shrink, centre-cropped to ``native`` px a side; ``None`` elsewhere (the image itself is
    native).
    """
    images: list[np.ndarray | None] = [None] * len(items)
    natives: list[np.ndarray | None] = [None] * len(items)
    failures: list[dict[str, str]] = []
    for i, item in enumerate(items):
        try:
            img = decode_item(item, max_pixels)
            if crop is not None:
                if native is not False and isinstance(crop, Rescale):
                    face = crop.face(img)
                    cropped = None if face is None else crop.shrink(face)
                    if cropped is not None and cropped is not face:
                        natives[i] = _centre(face, native)
                else:
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
            failures.append(failure_record(item_name(item, offset + i), "load", exc))
    return images, failures, natives


def group_blocks(
    items: Sequence[Any],
    offset: int,
    groups: dict[str, GroupWork],
    images: Sequence[np.ndarray | None],
    natives: Sequence[np.ndarray | None] | None = None,
) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """Feature blocks of the per-image groups for the inputs that decoded (``native``
    groups read ``natives[i]`` where :func:`decode_slice` kept one)."""
    n = len(items)
    ok = [i for i in range(n) if images[i] is not None]
    failures: list[dict[str, str]] = []
    blocks: dict[str, np.ndarray] = {}
    for group, work in groups.items():
        block = np.full((n, work.width), np.nan, dtype=np.float32)
        for i in ok:
            if work.from_file:
                source = items[i]
            elif work.native and natives is not None and natives[i] is not None:
                source = natives[i]
            else:
                source = images[i]
            try:
                block[i] = work.kernel(source)
            except Exception as exc:  # one bad input never stops the slice
                failures.append(failure_record(item_name(items[i], offset + i), group, exc))
        blocks[group] = block
    return blocks, failures


def _ready() -> bool:
    """A worker's first task: import the per-image code (numpy, Pillow, OpenCV, scipy.fft,
    exifread) so that real tasks find it loaded."""
    import cv2  # noqa: F401
    import exifread  # noqa: F401
    import scipy.fft  # noqa: F401

    from . import _fft_kernel, _forensic_kernel, _meta_kernel  # noqa: F401

    return True


def effective_jobs(n_jobs: int | None) -> int:
    """Worker processes for an ``n_jobs`` value (``None``/0/1: none; -1: all cores)."""
    if n_jobs in (None, 0, 1):
        return 1
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


#: Seconds an idle worker process stays alive (joblib's own default for its loky backend).
#: loky's default of 10 s respawned the pool, imports and all, whenever two transforms were
#: more than 10 s apart (a notebook, a benchmark): 0.5–1 s lost per call.
WORKER_IDLE_TIMEOUT = 300


def worker_pool(n_jobs: int) -> Any:
    """The reusable pool of ``n_jobs`` worker processes (loky), created on first use."""
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=n_jobs, timeout=WORKER_IDLE_TIMEOUT)


def start_workers(n_jobs: int | None) -> None:
    """Start the reusable pool of ``n_jobs`` worker processes in the background.

    Returns at once; the workers spawn and import while the caller goes on (loading the
    dataset, importing scikit-learn …), so extraction finds them ready.
    """
    n_jobs = effective_jobs(n_jobs)
    if n_jobs <= 1:
        return
    executor = worker_pool(n_jobs)
    for _ in range(n_jobs):
        executor.submit(_ready)
