"""The per-worker state of Dask extraction: fitted extractors cached per worker process."""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._schema import DEFAULT_GROUPS, FAILURE_COLUMNS
from ._client import default_client, require_dask

if TYPE_CHECKING:
    from distributed import Client

    from ..features._combined import ImageFeatures

logger = logging.getLogger(__name__)


@dataclass
class _CachedExtractor:
    extractor: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


_WORKER_CACHE: OrderedDict[str, _CachedExtractor] = OrderedDict()


_WORKER_CACHE_LOCK = threading.Lock()


_WORKER_STATS = {"extractors_built": 0, "partitions": 0, "rows": 0}


#: Settings kept per worker process at most (older ones, and their sessions, are dropped).
_MAX_CACHED_EXTRACTORS = 4


def _worker_nthreads() -> int | None:
    """Threads of the Dask worker running this task, or ``None`` outside a worker."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def worker_extractor(key: str, extractor: Any) -> _CachedExtractor:
    """The process-wide extractor for ``key``, caching ``extractor`` on first use."""
    with _WORKER_CACHE_LOCK:
        entry = _WORKER_CACHE.get(key)
        if entry is not None:
            _WORKER_CACHE.move_to_end(key)
            return entry
        # a private copy: the task argument lives in worker memory and may be sent on
        extractor = copy.deepcopy(extractor)
        cnn = getattr(extractor, "transformers_", {}).get("cnn")
        nthreads = _worker_nthreads()
        if cnn is not None and nthreads and getattr(cnn, "n_threads", 0) is None:
            # one onnxruntime thread per worker thread (values do not depend on it)
            cnn.set_params(n_threads=nthreads)
        entry = _CachedExtractor(extractor)
        _WORKER_CACHE[key] = entry
        _WORKER_STATS["extractors_built"] += 1
        while len(_WORKER_CACHE) > _MAX_CACHED_EXTRACTORS:
            _WORKER_CACHE.popitem(last=False)
        logger.info("worker pid %d: cached extractor %s", os.getpid(), key)
        return entry


def worker_cache_info() -> dict[str, Any]:
    """Statistics of this process's extractor cache (run it on workers with ``client.run``).

    Returns
    -------
    dict
        ``pid``, ``keys`` (cached settings keys), ``extractors_built`` (cache misses so far),
        ``partitions`` and ``rows`` extracted, ``cnn_sessions`` (live onnxruntime sessions).

    Examples
    --------
    >>> worker_cache_info()["pid"] > 0
    True
    >>> client.run(worker_cache_info)  # doctest: +SKIP
    {'tcp://127.0.0.1:40001': {'pid': 4242, 'extractors_built': 1, ...}, ...}
    """
    with _WORKER_CACHE_LOCK:
        sessions = sum(
            getattr(e.extractor.transformers_.get("cnn"), "_session", None) is not None
            for e in _WORKER_CACHE.values()
            if hasattr(e.extractor, "transformers_")
        )
        return {
            "pid": os.getpid(),
            "keys": list(_WORKER_CACHE),
            "cnn_sessions": int(sessions),
            **_WORKER_STATS,
        }


def clear_worker_cache() -> None:
    """Drop this process's cached extractors (and sessions) and reset its statistics.

    Examples
    --------
    >>> clear_worker_cache()
    >>> worker_cache_info()["extractors_built"]
    0
    """
    with _WORKER_CACHE_LOCK:
        _WORKER_CACHE.clear()
        for k in _WORKER_STATS:
            _WORKER_STATS[k] = 0


def warm_worker(extractor: Any, key: str) -> float:
    """Cache ``extractor`` in this worker and run it once on a small synthetic image."""
    t0 = time.perf_counter()
    entry = worker_extractor(key, extractor)
    image = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    meta = entry.extractor.transformers_.get("meta")
    allow = getattr(meta, "allow_missing_sidecar", None)
    with entry.lock:
        if allow is not None:  # a synthetic image has no sidecar values: NaN is fine here
            meta.set_params(allow_missing_sidecar=True)
        try:
            entry.extractor.transform([image])
        finally:
            if allow is not None:
                meta.set_params(allow_missing_sidecar=allow)
    return time.perf_counter() - t0


def warm_up(
    client: Client | None, extractor: ImageFeatures, *, groups: Sequence[str] = DEFAULT_GROUPS
) -> dict[str, float]:
    """Load the extractor (and the CNN's onnxruntime session) on every worker now.

    Optional: :func:`extract_features` does the same lazily in each worker's first
    partition. Useful before timing a run, or to fail early when a worker lacks deepfeat.

    Parameters
    ----------
    client : distributed.Client or None
    extractor : ImageFeatures
        The extractor (fitted, or fitted here without data) that :func:`extract_features`
        will use; the cache key is the same.
    groups : sequence of str
        Groups when ``extractor`` is ``None``.

    Returns
    -------
    dict of str to float
        Seconds per worker address.

    Examples
    --------
    >>> warm_up(client, ImageFeatures().fit())  # doctest: +SKIP
    {'tcp://127.0.0.1:40001': 1.8, 'tcp://127.0.0.1:40003': 1.7}
    """
    require_dask()
    client = default_client(client)
    ext = prepare_extractor(pd.DataFrame({"path": []}), extractor, groups, None)
    key = settings_key(ext)
    workers = list(client.scheduler_info().get("workers", {}))
    futures = [
        client.submit(warm_worker, ext, key, workers=[w], allow_other_workers=False, pure=False)
        for w in workers
    ]
    return dict(zip(workers, (float(t) for t in client.gather(futures))))


def extract_partition(
    part: pd.DataFrame,
    extractor: Any,
    key: str,
    offset: int,
    cache_dir: str | None,
    chunk_size: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the local extraction on one partition: (data columns + features, failures)."""
    from ..features._cache import extract_table

    part = part.reset_index(drop=True)
    part.index = pd.RangeIndex(offset, offset + len(part))
    entry = worker_extractor(key, extractor)
    t0 = time.perf_counter()
    with entry.lock:
        feats, fails = extract_table(
            part, entry.extractor, cache_dir=cache_dir, chunk_size=max(1, chunk_size)
        )
    with _WORKER_CACHE_LOCK:
        _WORKER_STATS["partitions"] += 1
        _WORKER_STATS["rows"] += len(part)
    feats.index = part.index
    logger.debug(
        "partition at %d: %d rows in %.2f s, %d failures",
        offset,
        len(part),
        time.perf_counter() - t0,
        len(fails),
    )
    return pd.concat([part, feats], axis=1), failure_frame(fails)


def prepare_extractor(data: Any, extractor: Any, groups: Sequence[str], y: Any) -> ImageFeatures:
    """A fitted copy of the extractor with in-process settings (Dask does the parallelism)."""
    from ..features._combined import ImageFeatures

    if extractor is None:
        extractor = ImageFeatures(groups=tuple(groups))
    if not hasattr(extractor, "transformers_"):
        from sklearn.base import clone

        if not isinstance(data, pd.DataFrame):
            raise ValueError(
                "a dask DataFrame input needs a fitted extractor: pass "
                "extractor=ImageFeatures(...).fit(sample_dataframe)"
            )
        extractor = clone(extractor).fit(data, y)  # meta picks its sidecar columns here
    ext = copy.deepcopy(extractor)  # never unpickles a session: CNNEmbedder drops it
    ext.set_params(n_jobs=1, progress=False)
    return ext


def settings_key(extractor: Any) -> str:
    from ..features._cache import settings_digest

    return f"{settings_digest(extractor)}-b{extractor.batch_size}-{extractor.on_error}"


# ----------------------------------------------------------------------------- extraction
def failure_frame(fails: pd.DataFrame | None = None) -> pd.DataFrame:
    """The failure table with string columns (the same dtype for empty and non-empty)."""
    if fails is None:
        fails = pd.DataFrame(columns=FAILURE_COLUMNS)
    return fails[FAILURE_COLUMNS].astype(str).reset_index(drop=True)
