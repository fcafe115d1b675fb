"""Feature extraction on Dask: every partition runs the local extraction code."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._schema import DEFAULT_GROUPS, EXTRACTOR_KEY
from ._client import require_dask
from ._workers import extract_partition, failure_frame, prepare_extractor, settings_key

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

    from ..features._combined import ImageFeatures

logger = logging.getLogger(__name__)


#: Images per partition by default: the local cache's chunk size, a multiple of the CNN batch.
DEFAULT_PARTITION_SIZE = 256


#: The failure table inside a dataset folder written by :meth:`DaskExtraction.to_parquet`
#: (CSV: ``dask.dataframe.read_parquet`` would read any ``*.parquet`` below the folder as data).
FAILURES_FILE = "_failures.csv"


def drop_failed_rows(part: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Rows with at least one feature (the rows ``deepfeat extract`` writes)."""
    if not len(part):
        return part
    failed = part[names].isna().all(axis=1).to_numpy()
    return part.loc[~failed]


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
    from ..features._base import as_items

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
        from ..features._spec import extractor_to_json

        feats = self.features
        if drop_failed:
            feats = feats.map_partitions(drop_failed_rows, self.feature_names, meta=feats._meta)
        meta = {EXTRACTOR_KEY: json.dumps(extractor_to_json(self.extractor)).encode()}
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
    groups: Sequence[str] = DEFAULT_GROUPS,
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
    groups : sequence of {"cnn", "fft", "forensic", "meta"}, default=("cnn", "fft", "meta")
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
    require_dask()
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
    ext = prepare_extractor(data, extractor, groups, y)
    names = list(ext.get_feature_names_out())
    clash = [c for c in data.columns if c in set(names)]
    if clash:
        raise ValueError(f"the input already has feature columns {clash[:3]}; pass a dataset")
    key = settings_key(ext)
    cache = None if cache_dir is None else os.fspath(cache_dir)
    ext_task = dask.delayed(ext, pure=True, traverse=False)
    func = dask.delayed(extract_partition, pure=True, nout=2)

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
    failures = dd.from_delayed([o[1] for o in outs], meta=failure_frame())
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
    require_dask()
    import dask.dataframe as dd
    import pyarrow.parquet as pq

    p = Path(path)
    first = p if p.is_file() else next(iter(sorted(p.glob("part.*.parquet"))), None)
    raw = None
    if first is not None:
        raw = (pq.read_schema(first).metadata or {}).get(EXTRACTOR_KEY)
    return dd.read_parquet(os.fspath(path)), (json.loads(raw) if raw else None)
