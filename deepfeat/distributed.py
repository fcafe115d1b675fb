"""Scale-out on Dask: the same feature extraction and XGBoost training on a cluster.

Nothing here changes *what* is computed, only *where*: every partition runs the local
extraction code (:func:`deepfeat.features._cache.extract_table` →
:meth:`deepfeat.ImageFeatures.transform`), so a Dask feature table equals the local one
bit for bit, and :func:`fit_dask` trains with the detector's own XGBoost parameters and
grouped validation split, then hands back an ordinary :class:`deepfeat.DeepfakeDetector`
(``model_`` is a local ``XGBClassifier``) that saves, loads and predicts without Dask.

Dask is optional (``pip install 'deepfeat[dask]'``) and imported lazily: importing this
module works without it; the functions raise an :class:`ImportError` naming the extra.

See ``docs/distributed.md`` for running on a real cluster and for the parquet layout.

Examples
--------
>>> import tempfile
>>> from deepfeat import DeepfakeDetector, load_dataset, make_demo_dataset
>>> from deepfeat.distributed import extract_features, fit_dask
>>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=40))
>>> from distributed import Client, LocalCluster  # doctest: +SKIP
>>> cluster = LocalCluster(n_workers=2, threads_per_worker=1)  # doctest: +SKIP
>>> client = Client(cluster)  # doctest: +SKIP
>>> res = extract_features(df, client, groups=("fft", "meta"), partition_size=16)  # doctest: +SKIP
>>> table, failures = res.compute()  # doctest: +SKIP
>>> det = fit_dask(client, res, detector=DeepfakeDetector(groups=("fft", "meta")))  # doctest: +SKIP
>>> det.save(tempfile.mkdtemp() + "/model")  # a normal model folder  # doctest: +SKIP
PosixPath('...')
>>> client.close(); cluster.close()  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._schema import FAILURE_COLUMNS, GROUPS  # light: the CLI parser imports this

if TYPE_CHECKING:  # pragma: no cover - type checkers only
    import dask.dataframe as dd
    from distributed import Client

    from .detector import DeepfakeDetector
    from .features._combined import ImageFeatures

logger = logging.getLogger(__name__)

__all__ = [
    "DaskExtraction",
    "NothingUsableError",
    "add_dask_options",
    "clear_worker_cache",
    "dask_client",
    "dask_requested",
    "extract_features",
    "fit_dask",
    "read_features_parquet",
    "run_extract_dask",
    "run_train_dask",
    "warm_up",
    "worker_cache_info",
]

#: Images per partition by default: the local cache's chunk size, a multiple of the CNN batch.
DEFAULT_PARTITION_SIZE = 256
#: Parquet schema metadata key holding the extractor settings (same as ``deepfeat extract``).
EXTRACTOR_METADATA_KEY = b"deepfeat_extractor"
#: The failure table inside a dataset folder written by :meth:`DaskExtraction.to_parquet`
#: (CSV: ``dask.dataframe.read_parquet`` would read any ``*.parquet`` below the folder as data).
FAILURES_FILE = "_failures.csv"
#: Training rows the leakage audit of :func:`fit_dask` reads to the client at most.
DEFAULT_AUDIT_ROWS = 50_000
_INSTALL_HINT = "pip install 'deepfeat[dask]'"

# private columns of the training frame (cannot collide with feature or dataset columns)
_LABEL = "__deepfeat_label__"
_GROUP = "__deepfeat_group__"
_USABLE = "__deepfeat_usable__"


# ----------------------------------------------------------------------------- dask import
def _require_dask() -> None:
    """Import dask.dataframe and distributed, or raise an ImportError naming the extra."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"deepfeat.distributed needs Dask (dask[distributed]); install it with: "
            f"{_INSTALL_HINT}  (original error: {exc})"
        ) from exc


def _default_client(client: Client | None) -> Client:
    if client is not None:
        return client
    from distributed import default_client

    try:
        return default_client()
    except ValueError as exc:
        raise ValueError(
            "no Dask client: pass client=Client(address) or create one before calling"
        ) from exc


# ----------------------------------------------------------------------------- worker cache
# One fitted extractor per settings key and worker process, so the onnxruntime session of the
# CNN is created once per process (on first use) and reused by every later partition. The
# lock serialises extraction inside one process: the extractor keeps per-call state
# (``failures_``), and the CNN uses its own intra-op threads anyway.


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


def _worker_extractor(key: str, extractor: Any) -> _CachedExtractor:
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


def _warm_worker(extractor: Any, key: str) -> float:
    """Cache ``extractor`` in this worker and run it once on a small synthetic image."""
    t0 = time.perf_counter()
    entry = _worker_extractor(key, extractor)
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
    client: Client | None, extractor: ImageFeatures, *, groups: Sequence[str] = GROUPS
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
    _require_dask()
    client = _default_client(client)
    ext = _prepare_extractor(pd.DataFrame({"path": []}), extractor, groups, None)
    key = _settings_key(ext)
    workers = list(client.scheduler_info().get("workers", {}))
    futures = [
        client.submit(_warm_worker, ext, key, workers=[w], allow_other_workers=False, pure=False)
        for w in workers
    ]
    return dict(zip(workers, (float(t) for t in client.gather(futures))))


# ----------------------------------------------------------------------------- extraction
def _failure_frame(fails: pd.DataFrame | None = None) -> pd.DataFrame:
    """The failure table with string columns (the same dtype for empty and non-empty)."""
    if fails is None:
        fails = pd.DataFrame(columns=FAILURE_COLUMNS)
    return fails[FAILURE_COLUMNS].astype(str).reset_index(drop=True)


def _extract_partition(
    part: pd.DataFrame,
    extractor: Any,
    key: str,
    offset: int,
    cache_dir: str | None,
    chunk_size: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the local extraction on one partition: (data columns + features, failures)."""
    from .features._cache import extract_table

    part = part.reset_index(drop=True)
    part.index = pd.RangeIndex(offset, offset + len(part))
    entry = _worker_extractor(key, extractor)
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
    return pd.concat([part, feats], axis=1), _failure_frame(fails)


def _drop_failed(part: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Rows with at least one feature (the rows ``deepfeat extract`` writes)."""
    if not len(part):
        return part
    failed = part[names].isna().all(axis=1).to_numpy()
    return part.loc[~failed]


def _prepare_extractor(data: Any, extractor: Any, groups: Sequence[str], y: Any) -> ImageFeatures:
    """A fitted copy of the extractor with in-process settings (Dask does the parallelism)."""
    from .features._combined import ImageFeatures

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


def _settings_key(extractor: Any) -> str:
    from .features._cache import settings_digest

    return f"{settings_digest(extractor)}-b{extractor.batch_size}-{extractor.on_error}"


def _as_input(paths_or_dataset: Any) -> tuple[Any, Any]:
    """(pandas DataFrame with ``path`` or dask DataFrame, labels or None)."""
    if hasattr(paths_or_dataset, "dask") and hasattr(paths_or_dataset, "npartitions"):
        if "path" not in paths_or_dataset.columns:
            raise ValueError("a dask DataFrame input needs a 'path' column")
        return paths_or_dataset, None
    if isinstance(paths_or_dataset, pd.DataFrame):
        if "path" not in paths_or_dataset.columns:
            raise ValueError(
                "a DataFrame input needs a 'path' column (as made by deepfeat.load_dataset)"
            )
        data = paths_or_dataset.reset_index(drop=True)
        y = data["label"].to_numpy() if "label" in data.columns else None
        return data, y
    from .features._base import as_items

    items = as_items(paths_or_dataset)
    if any(not isinstance(it, str) for it in items):
        raise TypeError(
            "extract_features takes image paths the workers can read, not in-memory arrays"
        )
    return pd.DataFrame({"path": items}), None


@dataclass
class DaskExtraction:
    """Lazy result of :func:`extract_features`: a feature table and a failure table.

    Unpacks like :func:`deepfeat.features._cache.extract_table`'s result:
    ``features, failures = extract_features(...)``. Both tables come from the same per-
    partition tasks, so computing them together (:meth:`compute`, :meth:`persist`,
    :meth:`to_parquet`) extracts every image once; computing them one after the other
    extracts twice unless they were persisted.

    Attributes
    ----------
    features : dask.dataframe.DataFrame
        The input columns (``path``, ``label``, ``group``, sidecar columns when given), then
        the float32 feature columns; one row per input in input order, index ``0 … n-1``
        (the positional index of the input), NaN where a group failed.
    failures : dask.dataframe.DataFrame
        ``path, stage, reason`` (strings), in input order.
    extractor : ImageFeatures
        The fitted extractor every partition ran (``n_jobs=1``).
    client : distributed.Client or None
        Used by :meth:`compute`, :meth:`persist` and :meth:`to_parquet` (else the default).
    """

    features: dd.DataFrame
    failures: dd.DataFrame
    extractor: Any
    client: Any = None

    def __iter__(self) -> Iterator[dd.DataFrame]:
        return iter((self.features, self.failures))

    @property
    def feature_names(self) -> list[str]:
        """The feature columns, in order."""
        return list(self.extractor.get_feature_names_out())

    def _compute(self, *collections: Any) -> list[Any]:
        client = self.client
        if client is None:
            import dask

            return list(dask.compute(*collections))
        return list(client.compute(list(collections), sync=True))

    def compute(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Run the extraction once; return ``(features, failures)`` as pandas DataFrames.

        The features have a ``0 … n-1`` index and the failures a fresh ``RangeIndex``, as
        ``pd.concat([data.reset_index(drop=True), features], axis=1)`` and the failure table
        of the local path.
        """
        feats, fails = self._compute(self.features, self.failures)
        return feats, fails.reset_index(drop=True)

    def persist(self) -> DaskExtraction:
        """Start the extraction on the cluster and keep both tables in worker memory."""
        if self.client is None:
            import dask

            feats, fails = dask.persist(self.features, self.failures)
        else:
            feats, fails = self.client.persist([self.features, self.failures])
        return DaskExtraction(feats, fails, self.extractor, self.client)

    def to_parquet(
        self, path: str | os.PathLike, *, drop_failed: bool = True, overwrite: bool = False
    ) -> pd.DataFrame:
        """Write the features as a parquet dataset, one file per partition, plus the failures.

        Layout (see ``docs/distributed.md``)::

            PATH/part.000000.parquet … part.NNNNNN.parquet   one file per partition, in order
            PATH/_failures.csv                                path, stage, reason

        Every part holds the input columns then the float32 feature columns, no index
        column, and the extractor settings as JSON under the schema metadata key
        ``deepfeat_extractor``. ``pandas.read_parquet(PATH)`` and
        ``dask.dataframe.read_parquet(PATH)`` read the feature table (the CSV is not a parquet
        file); read the failures with ``pd.read_csv(PATH + "/_failures.csv",
        keep_default_na=False)``. Works with any fsspec URL the workers can write
        (``s3://…``).

        Parameters
        ----------
        path : str or path-like
            Folder or URL (created).
        drop_failed : bool, default=True
            Leave out rows whose features all failed (as ``deepfeat extract`` does); they
            are in the failure table.
        overwrite : bool, default=False
            Replace an existing dataset at ``path``.

        Returns
        -------
        pandas.DataFrame
            The failure table (also written to ``_failures.csv``).
        """
        from .detector import _extractor_to_json

        feats = self.features
        if drop_failed:
            feats = feats.map_partitions(_drop_failed, self.feature_names, meta=feats._meta)
        meta = {EXTRACTOR_METADATA_KEY: json.dumps(_extractor_to_json(self.extractor)).encode()}
        target = os.fspath(path)
        write = feats.to_parquet(
            target,
            write_index=False,
            overwrite=overwrite,
            compute=False,
            custom_metadata=meta,
            name_function=lambda i: f"part.{i:06d}.parquet",
            write_metadata_file=False,
        )
        _, fails = self._compute(write, self.failures)
        fails = fails.reset_index(drop=True)
        fails.to_csv(f"{target.rstrip('/')}/{FAILURES_FILE}", index=False)
        logger.info("wrote %s (%d partitions), %d failures", target, feats.npartitions, len(fails))
        return fails


def extract_features(
    paths_or_dataset: Any,
    client: Client | None = None,
    *,
    groups: Sequence[str] = GROUPS,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    extractor: ImageFeatures | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> DaskExtraction:
    """Extract the feature table on a Dask cluster with the local extraction code.

    Each partition of ``partition_size`` inputs runs
    :func:`~deepfeat.features._cache.extract_table` (hence
    :meth:`deepfeat.ImageFeatures.transform`) on a worker. The fitted extractor is cached per
    worker process under its settings hash (:func:`~deepfeat.features._cache.settings_digest`),
    so the CNN's onnxruntime session is created once per worker process, not per partition;
    when the CNN's ``n_threads`` is ``None`` it is set to the worker's thread count.

    Parameters
    ----------
    paths_or_dataset : paths, pandas DataFrame with ``path``, or dask DataFrame with ``path``
        Absolute image paths the **workers** can read (a shared filesystem). A
        dataset DataFrame (:func:`deepfeat.load_dataset`) keeps its columns (``label``,
        ``group``, sidecar columns; numeric sidecars feed ``meta_sidecar_*`` as locally). Its
        index is replaced by ``0 … n-1``. A dask DataFrame keeps its partitions and column
        dtypes (its partition lengths are computed once) and needs a fitted ``extractor``.
    client : distributed.Client, optional
        Cluster to run on (default: the current default client / scheduler).
    groups : sequence of {"cnn", "fft", "meta"}, default=("cnn", "fft", "meta")
        Feature groups when ``extractor`` is ``None``.
    partition_size : int, default=256
        Inputs per partition (task). Keep it a multiple of the extractor's ``batch_size``
        (64) so the CNN sees the same batches as the local path.
    extractor : ImageFeatures, optional
        Extractor settings; fitted on ``paths_or_dataset`` (sidecar selection) unless it
        already is. ``n_jobs`` and ``progress`` are switched off on the workers.
    cache_dir : path-like, optional
        A feature cache folder on a filesystem shared by the workers (as ``extract_table``'s
        ``cache_dir``; every partition reads the cache index, so keep it for moderate sizes).

    Returns
    -------
    DaskExtraction
        Lazy ``features`` and ``failures`` dask DataFrames (``meta`` given, dtypes as the
        local path: input columns as given, features float32; failures strings); unpack it
        as ``features, failures = extract_features(...)``.

    Raises
    ------
    ImportError
        Dask is not installed (``pip install 'deepfeat[dask]'``).

    Notes
    -----
    Equality with the local path: features are bitwise equal to
    ``extract_table(dataset, extractor)`` (same code, same per-image arithmetic; the CNN's
    outputs do not depend on the batch composition or the onnxruntime thread count), and the
    failure table has the same rows in the same order.

    Examples
    --------
    >>> import tempfile
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> from deepfeat import load_dataset, make_demo_dataset
    >>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=20))
    >>> with LocalCluster(n_workers=2, threads_per_worker=1) as cluster:  # doctest: +SKIP
    ...     with Client(cluster) as client:
    ...         features, failures = extract_features(df, client, groups=("fft",),
    ...                                               partition_size=8).compute()
    >>> features.shape[0], list(features.columns[:3])  # doctest: +SKIP
    (20, ['path', 'label', 'group'])
    """
    _require_dask()
    import dask
    import dask.dataframe as dd

    if not isinstance(partition_size, (int, np.integer)) or partition_size < 1:
        raise ValueError(f"partition_size must be a positive integer, got {partition_size!r}")
    data, y = _as_input(paths_or_dataset)
    is_dask = not isinstance(data, pd.DataFrame)
    if not is_dask:
        relative = [p for p in data["path"].astype(str) if not os.path.isabs(p)]
        if relative:
            logger.warning(
                "%d relative image paths (first: %s): workers resolve them in their own "
                "working directory; pass absolute paths on a shared filesystem",
                len(relative),
                relative[0],
            )
    ext = _prepare_extractor(data, extractor, groups, y)
    names = list(ext.get_feature_names_out())
    clash = [c for c in data.columns if c in set(names)]
    if clash:
        raise ValueError(f"the input already has feature columns {clash[:3]}; pass a dataset")
    key = _settings_key(ext)
    cache = None if cache_dir is None else os.fspath(cache_dir)
    ext_task = dask.delayed(ext, pure=True, traverse=False)
    func = dask.delayed(_extract_partition, pure=True, nout=2)

    if is_dask:
        parts = data.to_delayed()
        sizes = [dask.delayed(len)(p) for p in parts]
        found = client.compute(sizes, sync=True) if client is not None else dask.compute(*sizes)
        lens = [int(n) for n in found]
        sample = data._meta
    else:
        if len(data) == 0:
            raise ValueError("no inputs to extract")
        starts = list(range(0, len(data), partition_size))
        parts = [data.iloc[s : s + partition_size] for s in starts]
        lens = [len(p) for p in parts]
        sample = data.iloc[:0]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(int)
    outs = [
        func(part, ext_task, key, int(offsets[i]), cache, partition_size)
        for i, part in enumerate(parts)
    ]
    n = int(offsets[-1])
    meta_feats = pd.concat(
        [sample, pd.DataFrame({c: np.array([], dtype=np.float32) for c in names})], axis=1
    )
    meta_feats.index = pd.RangeIndex(0)
    # divisions: the first index of every partition, then the last index (unknown when a
    # partition of a dask input is empty)
    divisions = None
    if all(lens):
        divisions = [int(o) for o in offsets[:-1]] + [n - 1]
    features = dd.from_delayed([o[0] for o in outs], meta=meta_feats, divisions=divisions)
    failures = dd.from_delayed([o[1] for o in outs], meta=_failure_frame())
    logger.info(
        "dask extraction: %d inputs in %d partitions, %d features (%s), settings %s",
        n,
        len(outs),
        len(names),
        ",".join(ext.transformers_),
        key,
    )
    return DaskExtraction(features, failures, ext, client)


def read_features_parquet(path: str | os.PathLike) -> tuple[dd.DataFrame, dict[str, Any] | None]:
    """Read a feature table written by :meth:`DaskExtraction.to_parquet` or ``deepfeat extract``.

    Parameters
    ----------
    path : str or path-like
        A parquet dataset folder (``part.*.parquet``) or a single ``.parquet`` file.

    Returns
    -------
    features : dask.dataframe.DataFrame
    extractor_json : dict or None
        The ``deepfeat_extractor`` schema metadata (for
        :func:`deepfeat.detector._extractor_from_json`).
    """
    _require_dask()
    import dask.dataframe as dd
    import pyarrow.parquet as pq

    p = Path(path)
    first = p if p.is_file() else next(iter(sorted(p.glob("part.*.parquet"))), None)
    raw = None
    if first is not None:
        raw = (pq.read_schema(first).metadata or {}).get(EXTRACTOR_METADATA_KEY)
    return dd.read_parquet(os.fspath(path)), (json.loads(raw) if raw else None)


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


def _select_rows(part: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """The rows of ``part`` where ``mask``, with the label as 0/1 int64."""
    sub = part.loc[np.asarray(mask, dtype=bool)].copy()
    sub[_LABEL] = (sub[_LABEL].to_numpy() == 1).astype(np.int64)
    return sub


def _subset(block: dd.DataFrame, lens: list[int], mask: np.ndarray, cols: list[str]):
    """``(X, y)`` dask arrays of the rows of ``block`` where ``mask`` (over all rows).

    Each task receives only its own slice of the mask. Arrays with known chunk lengths (not
    DataFrames) keep ``xgboost.dask`` from shuffling to find the classes, and keep feature
    names out of the booster, as in the local path (which trains on numpy).
    """
    import dask
    import dask.dataframe as dd

    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(int)
    parts = block.to_delayed()
    select = dask.delayed(_select_rows, pure=True)
    meta = _select_rows(block._meta, np.zeros(0, bool))
    slices = [mask[offsets[i] : offsets[i + 1]] for i in range(len(parts))]
    sub = dd.from_delayed([select(p, m) for p, m in zip(parts, slices)], meta=meta)
    sizes = tuple(int(m.sum()) for m in slices)
    return sub[cols].to_dask_array(lengths=sizes), sub[_LABEL].to_dask_array(lengths=sizes)


def _dask_xgb(det: Any, n_estimators: int, early_stopping: int | None, client: Client) -> Any:
    """``xgboost.dask.DaskXGBClassifier`` with exactly the parameters of ``det._xgb``."""
    import xgboost.dask  # noqa: F401  (explicit: xgboost does not import its dask module)
    from xgboost.dask import DaskXGBClassifier

    params = det._xgb(n_estimators, early_stopping).get_params()
    model = DaskXGBClassifier(**params)
    model.client = client
    return model


def _local_model(det: Any, dask_model: Any, n_estimators: int) -> Any:
    """A local ``XGBClassifier`` (the detector's parameters) holding the trained booster."""
    booster = dask_model.get_booster()
    booster.feature_names = None  # the local path trains on numpy: no names, "f0" … keys
    booster.feature_types = None
    raw = bytes(booster.save_raw(raw_format="ubj"))
    model = det._xgb(n_estimators, None)
    model.load_model(bytearray(raw))
    return model


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

    Mirrors :meth:`DeepfakeDetector.fit` on a feature table step by step, with the data on
    the cluster: rows without any feature are left out; ``scale_pos_weight = n_real /
    n_fake`` is computed from the data (unless set); the grouped, stratified validation fold
    is chosen by :func:`deepfeat.grouped_splits` on the (label, group) columns exactly as
    locally (same rows in the same order give the same fold); a
    ``xgboost.dask.DaskXGBClassifier`` with the detector's own XGBoost parameters trains on
    the other folds with early stopping on that fold; calibration and validation metrics use
    its predictions on the fold; with ``refit`` it is retrained on all rows with the chosen
    number of trees. Too few samples for a fold: no early stopping, ``min(n_estimators, 200)``
    trees, as locally.

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
        Unfitted configuration (``groups``, XGBoost parameters, ``calibration`` …); fitted in
        place and returned. ``None``: ``DeepfakeDetector()``.
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
    The stacked linear probe (``linear_probe=True``, the local default) is not distributed:
    ``fit_dask`` logs a warning and trains XGBoost on all columns.

    Examples
    --------
    >>> det = fit_dask(client, features_ddf, detector=DeepfakeDetector(groups=("fft",)))
    ... # doctest: +SKIP
    >>> det.save("model/")  # doctest: +SKIP
    """
    _require_dask()
    import dask.dataframe as dd

    from .detector import (
        FALLBACK_TREES,
        DeepfakeDetector,
        _Calibrator,
        _is_feature_column,
    )

    client = _default_client(client)
    det = DeepfakeDetector(linear_probe=False) if detector is None else detector
    det._validate_params()
    if getattr(det, "linear_probe", False):
        logger.warning(
            "fit_dask: the stacked linear probe is not distributed yet; training XGBoost on "
            "all columns (pass linear_probe=False to silence this, or train locally)"
        )
        det.set_params(linear_probe=False)
    extractor = None
    if isinstance(ddf, DaskExtraction):
        extractor, ddf = ddf.extractor, ddf.features
    if isinstance(ddf, pd.DataFrame):
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        ddf = dd.from_pandas(ddf.reset_index(drop=True), npartitions=max(n_workers, 1), sort=True)
    if label not in ddf.columns:
        raise ValueError(f"the feature table has no {label!r} column")
    wanted = det._groups_tuple()
    from ._schema import feature_group

    cols = [c for c in ddf.columns if _is_feature_column(c) and feature_group(c) in wanted]
    cols = det._table_columns(cols)  # meta_sidecar_* only when sidecar= asks for them
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
    n_total = len(y)
    g = info[_GROUP].to_numpy().astype(str) if has_group else np.arange(n_total).astype(str)
    usable = info[_USABLE].to_numpy(dtype=bool)
    if not usable.all():
        logger.warning("%d samples without any feature were left out of training", (~usable).sum())
    pos = np.flatnonzero(usable)  # usable row → position among all rows
    yv, gv = y[usable], g[usable]

    det.columns_ = np.asarray(cols, dtype=object)
    det.feature_names_in_ = det.columns_
    det.n_features_in_ = len(cols)
    det.classes_ = classes
    det.probe_ = None
    det.model_columns_ = det.columns_
    n_real, n_fake = int((yv == 0).sum()), int((yv == 1).sum())
    det.scale_pos_weight_ = (
        n_real / n_fake if det.scale_pos_weight == "auto" else float(det.scale_pos_weight)
    )
    if det.features is not None:
        det.features_ = det._prefitted_extractor(cols)
    else:
        det.features_ = copy.deepcopy(extractor) if extractor is not None else None
    det.sidecar_columns_ = det._used_sidecar()

    needs_holdout = det.early_stopping_rounds is not None or det.calibration is not None
    holdout = det._holdout(yv, gv) if needs_holdout else None

    def rows(usable_idx: np.ndarray) -> tuple[Any, Any]:
        mask = np.zeros(n_total, dtype=bool)
        mask[pos[usable_idx]] = True
        return _subset(block, lens, mask, cols)

    X_all, y_all = rows(np.arange(len(yv)))
    det.validation_metrics_ = {}
    det.calibrator_ = None
    if holdout is None:
        n_trees = det.n_estimators
        if needs_holdout:
            n_trees = min(det.n_estimators, FALLBACK_TREES)
        model = _dask_xgb(det, n_trees, None, client)
        model.fit(X_all, y_all, verbose=False)
        det.best_iteration_ = n_trees
        final = _local_model(det, model, n_trees)
    else:
        train_idx, val_idx = holdout
        (X_tr, y_tr), (X_va, y_va) = rows(train_idx), rows(val_idx)
        model = _dask_xgb(det, det.n_estimators, det.early_stopping_rounds, client)
        model.fit(X_tr, y_tr, eval_set=[(X_va, y_va)], verbose=False)
        best = getattr(model, "best_iteration", None)
        det.best_iteration_ = int(best) + 1 if best is not None else det.n_estimators
        raw = np.asarray(client.compute(model.predict_proba(X_va), sync=True))[:, 1]
        # calibration quality only out-of-sample (cross-fitted), as in the local fit
        det.validation_metrics_ = det._validation_metrics(raw, yv[val_idx], gv[val_idx])
        if det.calibration is not None:
            det.calibrator_ = _Calibrator.fit(det.calibration, raw, yv[val_idx])
        if det.refit:
            model = _dask_xgb(det, det.best_iteration_, None, client)
            model.fit(X_all, y_all, verbose=False)
            final = _local_model(det, model, det.best_iteration_)
        else:
            final = _local_model(det, model, det.n_estimators)
    det.model_ = final
    det._set_importances()

    det.leakage_warnings_ = []
    audited = 0
    if det.audit:
        pick = np.arange(len(yv))
        if len(yv) > audit_rows:
            rng = np.random.default_rng(det.random_state)
            pick = np.sort(rng.choice(len(yv), size=int(audit_rows), replace=False))
            logger.info("leakage audit on a sample of %d of %d rows", len(pick), len(yv))
        X_s, _ = rows(pick)
        sample = pd.DataFrame(client.compute(X_s, sync=True), columns=cols)
        audited = len(sample)
        det._audit(sample, yv[pick], gv[pick])
    else:
        det._audit(None, yv, gv)
    det.training_summary_ = {
        **det._summary(yv, gv, int((~usable).sum()), 0 if holdout is None else len(holdout[1])),
        "backend": "dask",
        "dask_workers": len(client.scheduler_info().get("workers", {})),
        "audit_rows": audited,
    }
    logger.info(
        "fit_dask: %d rows, %d trees in %.1f s",
        len(yv),
        det.best_iteration_,
        time.perf_counter() - t0,
    )
    return det


# ----------------------------------------------------------------------------- command line
def add_dask_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--scheduler ADDRESS`` / ``--dask-local N`` to an ``extract`` or ``train`` parser.

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_dask_options(p)
    >>> args = p.parse_args(["--dask-local", "2"])
    >>> args.scheduler, args.dask_local, dask_requested(args)
    (None, 2, True)
    """
    group = parser.add_argument_group(
        "Dask", f"run on a Dask cluster instead of this process (needs {_INSTALL_HINT})"
    )
    choice = group.add_mutually_exclusive_group()
    choice.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786; the workers need deepfeat[dask] "
        "and the images at the same paths (a shared filesystem)",
    )
    choice.add_argument(
        "--dask-local",
        type=_positive_int,
        metavar="N",
        help="start a local Dask cluster with N worker processes (1 thread each)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def dask_requested(args: argparse.Namespace) -> bool:
    """Whether ``--scheduler`` or ``--dask-local`` was given."""
    return bool(getattr(args, "scheduler", None) or getattr(args, "dask_local", None))


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, n_local: int | None = None) -> Iterator[Client]:
    """A connected client: to ``scheduler``, or to a new ``LocalCluster`` of ``n_local`` workers.

    The local cluster has one thread per worker process and no dashboard; client and
    cluster are closed on exit.

    Examples
    --------
    >>> with dask_client(n_local=2) as client:  # doctest: +SKIP
    ...     print(len(client.scheduler_info()["workers"]))
    2
    """
    _require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="10s") as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=int(n_local or 1),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextlib.contextmanager
def _cli_client(args: argparse.Namespace) -> Iterator[Client]:
    """:func:`dask_client` for the command line.

    A missing extra or an unreachable scheduler raises ``ValueError`` (exit code 1 with one
    line, like every user error; not ``cli.UserError``, which is another class when the CLI
    runs as ``python -m deepfeat.cli``). Dask's own INFO logs are shown only with ``-v``.
    """
    try:
        _require_dask()
    except ImportError as exc:
        raise ValueError(str(exc)) from exc
    if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with contextlib.ExitStack() as stack:
        try:
            client = stack.enter_context(
                dask_client(getattr(args, "scheduler", None), getattr(args, "dask_local", None))
            )
        except OSError as exc:  # includes TimeoutError: no scheduler at that address
            raise ValueError(
                f"cannot connect to the Dask scheduler {args.scheduler}: {exc}"
            ) from exc
        workers = client.scheduler_info().get("workers", {})
        print(f"dask: {client.scheduler.address} with {len(workers)} workers", file=sys.stderr)
        yield client


def run_extract_dask(args: argparse.Namespace, data: pd.DataFrame) -> int:
    """``deepfeat extract … --scheduler/--dask-local``: the ``extract`` command on Dask.

    ``--out x.parquet`` writes the same single file (and ``x.errors.csv`` beside it when
    something failed) as the local command, gathered on this machine; any other ``--out``
    is written by the workers as a parquet dataset folder (:meth:`DaskExtraction.to_parquet`)
    plus ``OUT.errors.csv`` beside it. ``--chunk-size`` is the partition size. The feature
    cache is used only with an explicit ``--cache`` (on a filesystem the workers share).

    Returns
    -------
    int
        The exit code (0, or 3 when every input failed).
    """
    from .cli import (
        EXIT_NOTHING_USABLE,
        EXIT_OK,
        _failed_rows,
        _make_extractor,
        _summary_line,
        _write_features,
        errors_path,
        own_output,
    )
    from .detector import _extractor_to_json

    out = Path(args.out)
    cache = None if getattr(args, "no_cache", False) else getattr(args, "cache", None)
    extractor = _make_extractor(args, data)
    with own_output(out), _cli_client(args) as client:  # one run per --out
        t0 = time.perf_counter()
        res = extract_features(
            data, client, extractor=extractor, partition_size=args.chunk_size, cache_dir=cache
        )
        errors = errors_path(out)
        if out.suffix.lower() == ".parquet":
            feats, fails = res.compute()
            failed = _failed_rows(feats[res.feature_names])
            table = feats.loc[~failed].reset_index(drop=True)
            _write_features(table, out, _extractor_to_json(res.extractor))
            n_rows, n_failed = len(table), int(failed.sum())
        else:
            import pyarrow.parquet as pq

            fails = res.to_parquet(out, overwrite=True)
            n_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in out.glob("part.*.parquet"))
            n_failed = len(data) - n_rows
        seconds = time.perf_counter() - t0
    if len(fails):
        fails.to_csv(errors, index=False)
    else:
        errors.unlink(missing_ok=True)
    where = f"failures: {errors}" if len(fails) else "no failures"
    print(f"wrote {out} ({n_rows} rows, {len(res.feature_names)} features); {where}")
    print(_summary_line(len(data), fails, n_failed, seconds))
    return EXIT_NOTHING_USABLE if n_rows == 0 else EXIT_OK


def _train_input(args: argparse.Namespace, client: Client) -> tuple[Any, Any]:
    """(dask feature table, extractor) for ``deepfeat train INPUT`` on Dask."""
    import dask.dataframe as dd

    from .cli import _make_extractor, resolve_input
    from .detector import _extractor_from_json

    spec = Path(args.input)
    if spec.is_file() and spec.suffix == ".parquet":  # the local single-file format
        from .cli import _read_features

        table, ext_json = _read_features(spec)
        extractor = _extractor_from_json(ext_json, spec) if ext_json else None
        ddf = dd.from_pandas(table, chunksize=max(1, args.chunk_size), sort=True)
        return ddf, extractor
    if spec.is_dir() and any(spec.glob("part.*.parquet")):  # a dataset from extract on Dask
        ddf, ext_json = read_features_parquet(spec)
        extractor = _extractor_from_json(ext_json, spec) if ext_json else None
        return ddf, extractor
    data = resolve_input(args.input)
    if "label" not in data.columns:
        raise ValueError(f"{args.input}: training needs labels (a dataset layout, not a folder)")
    cache = getattr(args, "cache", None)
    res = extract_features(
        data,
        client,
        extractor=_make_extractor(args, data),
        partition_size=args.chunk_size,
        cache_dir=cache,
    )
    feats = res.features.map_partitions(_drop_failed, res.feature_names, meta=res.features._meta)
    return feats, res.extractor


def run_train_dask(args: argparse.Namespace, table: pd.DataFrame | None = None) -> int:
    """``deepfeat train … --scheduler/--dask-local``: extraction and XGBoost on Dask.

    ``INPUT`` may be a labelled dataset (extracted on the cluster), a features ``.parquet``
    file, or a parquet dataset folder written by ``extract`` on Dask; ``table`` (a pandas
    feature table) skips reading ``INPUT``. Prints what the local command prints and saves
    the model with :meth:`DeepfakeDetector.save` (same card format).

    Returns
    -------
    int
        The exit code.
    """
    from .cli import EXIT_NOTHING_USABLE, report_training
    from .detector import DeepfakeDetector

    with _cli_client(args) as client:
        if table is not None:
            ddf, extractor = table, None
        else:
            ddf, extractor = _train_input(args, client)
        det = DeepfakeDetector(
            groups=args.groups,
            features=extractor,
            sidecar=getattr(args, "sidecar", None) or None,
            calibration=None if args.calibration == "none" else args.calibration,
            n_jobs=args.threads,
            random_state=args.seed,
        )
        t0 = time.perf_counter()
        try:
            fit_dask(client, ddf, detector=det)
        except NothingUsableError:
            print("nothing usable: every input failed", file=sys.stderr)
            return EXIT_NOTHING_USABLE
    n = det.training_summary_["n_samples"]
    print(
        f"trained on {n} images in {time.perf_counter() - t0:.1f} s on Dask; "
        f"{det.best_iteration_} trees"
    )
    return report_training(det, args.out)
