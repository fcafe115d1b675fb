"""The model side of ``deepfeat serve``: one loaded detector, a bounded queue, worker threads.

Request handlers never touch the model: they hand uploads to
:meth:`PredictionService.submit` and await the future. A worker thread takes a job, adds
whatever other jobs are already waiting (up to ``max_batch`` images: the CNN runs them
in one batch), writes the uploads into a private temporary folder (mode 0700, removed
when the batch is done) and calls :func:`deepfeat.cli._score.prediction_table`, the
code behind ``deepfeat predict``, so both give the same fields for the same file.

The extractor is documented thread-safe for ``transform_with_failures``, and
onnxruntime's ``InferenceSession.run`` may be called from several threads at once (its
maintainers: sessions are stateless, microsoft/onnxruntime issues 114, 5558, 22967); the
session is created once, by a warm-up prediction in :meth:`PredictionService.start`,
before any worker thread runs. The detector keeps ``extraction_failures_`` per thread.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import re
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .._schema import feature_group, json_safe
from .._version import __version__
from ..cli._score import json_row, prediction_table

logger = logging.getLogger(__name__)

SPECTRUM_COLUMN = re.compile(r"fft_\d{3}")
_SAFE_EXT = re.compile(r"\.[A-Za-z0-9]{1,8}")


@dataclass(frozen=True)
class ServeLimits:
    """Limits of one service.

    Examples
    --------
    >>> ServeLimits().max_body_bytes
    20971520
    >>> ServeLimits(workers=0)
    Traceback (most recent call last):
    ...
    ValueError: workers must be >= 1
    """

    max_body_bytes: int = 20 * 1024 * 1024  #: request body limit, checked while streaming
    max_files: int = 32  #: files per request
    timeout: float = 60.0  #: seconds a request may wait for its predictions
    workers: int = 1  #: prediction threads (onnxruntime already uses every core per run)
    max_pending: int = 64  #: requests queued or running; more get a 503
    max_batch: int = 32  #: images scored in one call when requests queue up

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_files", "workers", "max_pending", "max_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not self.timeout > 0:
            raise ValueError("timeout must be > 0")


class Upload(NamedTuple):
    """One uploaded file: the client's name for it and its bytes."""

    name: str
    data: bytes


class ServiceBusy(RuntimeError):
    """Raised by :meth:`PredictionService.submit` when ``max_pending`` requests wait."""


@dataclass
class _Job:
    uploads: list[Upload]
    future: Future = field(default_factory=Future)


def display_name(name: str | None, index: int) -> str:
    """The client's file name without folders or control characters (for the reply).

    Examples
    --------
    >>> display_name("../../etc/passwd", 0)
    'passwd'
    >>> display_name(None, 2)
    'upload_2'
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:200]
    return base or f"upload_{index}"


def spooled_name(name: str, index: int) -> str:
    """File name of an upload in the private folder: its index and (a safe) extension,
    which the metadata features read as ``deepfeat predict`` does on a file.

    Examples
    --------
    >>> spooled_name("face.JPG", 3)
    '003.JPG'
    >>> spooled_name("x.sh;rm -rf", 0)
    '000'
    """
    ext = os.path.splitext(name)[1]
    return f"{index:03d}{ext if _SAFE_EXT.fullmatch(ext) else ''}"


def spectrum_columns(columns: Any) -> list[str]:
    """The gray radial power spectrum columns (``fft_000`` …) among ``columns``."""
    return [str(c) for c in columns if SPECTRUM_COLUMN.fullmatch(str(c))]


def reference_spectrum(detector: Any, data: Any, source: str) -> dict | None:
    """Mean radial spectrum of the real images of ``data`` (all of it when unlabelled),
    with the features the model computes; ``None`` when the model has no spectrum."""
    import numpy as np

    if "label" in data.columns:
        data = data[data["label"].astype(str).str.lower().isin(["0", "real"])]
    feats = detector.extract(data.reset_index(drop=True))
    cols = spectrum_columns(feats.columns)
    if not cols:
        return None
    values = feats[cols].to_numpy(dtype=float)
    values = values[np.isfinite(values).any(axis=1)]  # bins past a small image's are NaN
    if not len(values):
        return None
    counts = np.isfinite(values).sum(axis=0)
    means = np.nansum(values, axis=0) / np.maximum(counts, 1)
    return {
        "source": source,
        "n_images": len(values),
        "values": [float(m) if c else None for m, c in zip(means, counts)],
    }


class PredictionService:
    """A fitted detector behind a bounded queue of prediction jobs.

    Parameters
    ----------
    detector : DeepfakeDetector
        Fitted (e.g. :meth:`DeepfakeDetector.load`), threshold already set.
    limits : ServeLimits
    top : int, default=3
        Reasons listed per image.
    reference : dict or None
        :func:`reference_spectrum` of real images, shown next to each image's spectrum.
    model_path, threshold_source : str
        Reported by :meth:`model_info`.

    Examples
    --------
    >>> svc = PredictionService(object())
    >>> svc.pending
    0
    """

    def __init__(
        self,
        detector: Any,
        *,
        limits: ServeLimits | None = None,
        top: int = 3,
        reference: dict | None = None,
        model_path: str = "",
        threshold_source: str = "model",
    ) -> None:
        self.detector = detector
        self.limits = limits or ServeLimits()
        self.top = top
        self.reference = reference
        self.model_path = model_path
        self.threshold_source = threshold_source
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._threads: list[threading.Thread] = []
        self.warmup_seconds: float | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self, warm_up: bool = True) -> PredictionService:
        """Warm the model up (creates the CNN session once) and start the worker threads."""
        if self._threads:
            return self
        if warm_up:
            t0 = time.perf_counter()
            job = _Job([Upload("warmup.png", _warmup_png())])
            self._score([job])
            job.future.result()  # a model that cannot score fails here, before serving
            self.warmup_seconds = time.perf_counter() - t0
            logger.info("warm-up prediction: %.2f s", self.warmup_seconds)
        for i in range(self.limits.workers):
            t = threading.Thread(target=self._work, name=f"deepfeat-serve-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def close(self) -> None:
        """Stop the worker threads after the jobs already queued."""
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()
        self._threads = []

    @property
    def pending(self) -> int:
        """Requests queued or being scored."""
        return self._pending

    # ------------------------------------------------------------------ requests
    def submit(self, uploads: list[Upload]) -> Future:
        """Queue ``uploads`` (one request); the future gives one JSON row per upload.

        Raises
        ------
        ServiceBusy
            When ``limits.max_pending`` requests are already queued or running.
        """
        if not self._threads:
            raise RuntimeError("the service is not started")
        with self._lock:
            if self._pending >= self.limits.max_pending:
                raise ServiceBusy(
                    f"busy: {self._pending} requests queued or running "
                    f"(limit {self.limits.max_pending}); retry later"
                )
            self._pending += 1
        job = _Job(list(uploads))
        job.future.add_done_callback(self._release)
        self._queue.put(job)
        return job.future

    def predict(self, uploads: list[Upload], timeout: float | None = None) -> list[dict]:
        """:meth:`submit` and wait (for Python callers and tests)."""
        return self.submit(uploads).result(timeout=timeout)

    def _release(self, _future: Future) -> None:
        with self._lock:
            self._pending -= 1

    # ------------------------------------------------------------------ workers
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch, n = [job], len(job.uploads)
            while n < self.limits.max_batch:  # what is already waiting joins this batch
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # keep the stop signal for the loop
                    break
                batch.append(more)
                n += len(more.uploads)
            live = [j for j in batch if j.future.set_running_or_notify_cancel()]
            if live:
                self._score(live)

    def _score(self, jobs: list[_Job]) -> None:
        """Score every upload of ``jobs`` in one call; each job's future gets its rows."""
        import pandas as pd

        try:
            with tempfile.TemporaryDirectory(prefix="deepfeat-serve-") as tmp:
                paths, names = [], []
                for up in (u for j in jobs for u in j.uploads):
                    path = os.path.join(tmp, spooled_name(up.name, len(paths)))
                    with open(path, "xb") as fh:
                        fh.write(up.data)
                    paths.append(path)
                    names.append(up.name)
                out = prediction_table(self.detector, pd.DataFrame({"path": paths}), self.top)
            rows = self._rows(out, names)
        except Exception as exc:  # a failed batch fails its requests, never the service
            logger.exception("prediction failed")
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(exc)
            return
        start = 0
        for j in jobs:
            j.future.set_result(rows[start : start + len(j.uploads)])
            start += len(j.uploads)

    def _rows(self, out: Any, names: list[str]) -> list[dict]:
        import numpy as np

        feats = out.attrs["features"]
        spec = feats[spectrum_columns(feats.columns)].to_numpy(dtype=float)
        rows = []
        for i, name in enumerate(names):
            row = json_row(out.iloc[i], self.detector.threshold)
            row["path"] = name
            row["spectrum"] = (
                [None if not np.isfinite(v) else float(v) for v in spec[i]]
                if spec.shape[1] and row["error"] == ""
                else None
            )
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ model card
    def model_info(self) -> dict:
        """What the model card says, in short, plus the service's settings."""
        det = self.detector
        groups = list(dict.fromkeys(feature_group(str(c)) for c in det.columns_))
        return json_safe(
            {
                "deepfeat_version": __version__,
                "model": self.model_path,
                "feature_groups": groups,
                "n_features": len(det.columns_),
                "threshold": float(det.threshold),
                "threshold_source": self.threshold_source,
                "calibrated": det.calibrator_ is not None,
                "training": dict(det.training_summary_ or {}),
                "leakage_warnings": list(det.leakage_warnings_),
                "spectrum_bins": len(spectrum_columns(det.columns_)),
                "reference_spectrum": self.reference,
                "limits": {
                    "max_body_bytes": self.limits.max_body_bytes,
                    "max_files": self.limits.max_files,
                    "timeout_seconds": self.limits.timeout,
                    "workers": self.limits.workers,
                    "max_pending": self.limits.max_pending,
                },
            }
        )


def _warmup_png() -> bytes:
    """A 224 px noise image (PNG bytes) for the warm-up prediction."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()
