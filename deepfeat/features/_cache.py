"""Restartable, cached extraction of feature tables.

Feature rows are cached per *(file content hash and file ending, extractor settings hash)*
(the ending because ``meta_file_ext_mismatch`` depends on it); the settings hash
covers every extractor parameter, the package version and the backbone sha256, so changing a
setting never reuses stale rows and re-running on a grown folder only extracts new files.

A run works through its inputs in fixed chunks (positions ``k*chunk_size …``); each finished
chunk is written as one parquet file to a temporary name and atomically renamed into place.
A run killed at any point therefore leaves only whole chunks behind, and a restart recomputes
exactly the unfinished chunks, with the same batch composition, so its output is identical to
an uninterrupted run. Failed inputs are cached too (with their stage and reason), so every
input ends up either with features or with a recorded reason, but only failures that are a
function of the file's bytes (a decode error): an I/O failure (a file missing, unreadable or
not a regular file while the run looked at it) is never cached, so it is retried next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .._io import open_regular
from .._schema import FAILURE_COLUMNS, json_safe
from .._version import __version__
from ._base import as_items

logger = logging.getLogger(__name__)

__all__ = [
    "ExtractedChunk",
    "FeatureCache",
    "extract_table",
    "file_digest",
    "iter_extract",
    "model_sha256",
    "settings_digest",
]

_HASH_COL = "content_sha256"
_STAGE_COL = "failed_stage"
_REASON_COL = "failed_reason"


def file_digest(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """sha256 of a file's bytes (hex); anything but a regular file raises an OSError first.

    Raises
    ------
    OSError
        :class:`~deepfeat._io.SpecialFileError` for a FIFO, device or directory (which are
        never opened for reading: a FIFO would block forever, ``/dev/zero`` never ends).
    """
    h = hashlib.sha256()
    with open_regular(path) as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def cache_key(path: str | os.PathLike) -> str:
    """Cache key of a file: the sha256 of its bytes plus its lower-cased file ending.

    The ending is part of the key because a metadata feature depends on it
    (``meta_file_ext_mismatch``): a PNG copied to ``x.jpg`` must not reuse the row of
    ``x.png``.
    """
    return file_digest(path) + os.path.splitext(os.fspath(path))[1].lower()[:16]


_MODEL_DIGESTS: dict[tuple[str, int, int], str] = {}


def model_sha256(transformer: Any) -> str | None:
    """sha256 of the ONNX model a CNN transformer runs (bundled or user-supplied), else None.

    Cached per (path, size, mtime), so hashing a 13 MB model costs once per process.
    """
    path_of = getattr(transformer, "_model_path", None)
    if path_of is None:
        return None
    path = path_of()
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _MODEL_DIGESTS:
        _MODEL_DIGESTS[key] = file_digest(path)
    return _MODEL_DIGESTS[key]


def settings_digest(extractor: Any) -> str:
    """A hash of everything that changes feature values: settings, versions, backbone."""
    config: dict[str, Any] = {"deepfeat": __version__}
    transformers = getattr(extractor, "transformers_", None)
    if transformers is None:
        raise ValueError("settings_digest needs a fitted extractor")
    config["features"] = list(extractor.get_feature_names_out())
    config["crop_faces"] = json_safe(getattr(extractor, "crop_faces", False), lenient=True)
    config["max_pixels"] = getattr(extractor, "max_pixels", None)
    if getattr(extractor, "canonical_size", None) is not None:  # absent: old digests hold
        config["canonical_size"] = int(extractor.canonical_size)
    for group, tr in transformers.items():
        params = tr.get_params(deep=False)
        params.pop("on_error", None)
        params.pop("batch_size", None)
        params.pop("n_threads", None)
        if params.get("precision") == "fp32":  # the default: digests from before it hold
            params.pop("precision")
        entry = {"class": type(tr).__name__, "params": json_safe(params, lenient=True)}
        digest = model_sha256(tr)
        if digest is not None:
            entry["model_sha256"] = digest
        config[group] = entry
    blob = json.dumps(config, sort_keys=True, default=repr).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class FeatureCache:
    """A folder of parquet chunks keyed by file content hash, one sub-folder per settings hash.

    Parameters
    ----------
    root : path-like
        Cache folder (created on first write).
    settings : str
        The :func:`settings_digest` of the extractor.
    """

    def __init__(self, root: str | os.PathLike, settings: str) -> None:
        self.root = Path(root)
        self.settings = settings
        self.folder = self.root / settings
        self._index: dict[str, tuple[Path, int]] | None = None

    def _chunks(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("chunk-*.parquet"))

    def index(self) -> dict[str, tuple[Path, int]]:
        """Map content hash → (chunk file, row) over every finished chunk."""
        if self._index is None:
            import pyarrow.parquet as pq

            index: dict[str, tuple[Path, int]] = {}
            for chunk in self._chunks():
                try:
                    hashes = pq.read_table(chunk, columns=[_HASH_COL]).column(0).to_pylist()
                except Exception as exc:
                    logger.warning("ignoring unreadable cache chunk %s: %s", chunk, exc)
                    continue
                for row, h in enumerate(hashes):
                    index[h] = (chunk, row)
            self._index = index
        return self._index

    def __contains__(self, digest: str) -> bool:
        return digest in self.index()

    def write(self, table: pd.DataFrame) -> Path:
        """Atomically add a chunk (columns: content hash, features, failure stage/reason)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"chunk-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        final = self.folder / name
        tmp = self.folder / f".{name}.tmp"
        table.to_parquet(tmp, index=False)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        if self._index is not None:
            for row, h in enumerate(table[_HASH_COL]):
                self._index[h] = (final, row)
        return final

    def read(self, digests: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
        """Rows for ``digests`` (all must be cached), in that order."""
        index = self.index()
        by_chunk: dict[Path, list[int]] = {}
        for d in digests:
            chunk, _ = index[d]
            by_chunk.setdefault(chunk, [])
        frames = {}
        for chunk in by_chunk:
            frames[chunk] = pd.read_parquet(chunk).set_index(_HASH_COL)
        rows = [frames[index[d][0]].loc[[d]] for d in digests]
        out = pd.concat(rows) if rows else pd.DataFrame(columns=[*columns, _STAGE_COL, _REASON_COL])
        return out.reset_index(drop=True)


class ExtractedChunk(NamedTuple):
    """One chunk of :func:`iter_extract`: inputs ``start:stop`` in input order."""

    start: int
    stop: int
    values: np.ndarray
    failures: list[dict[str, str]]
    n_extracted: int
    #: Which rows of the chunk were computed in this run (the others: cache or unreadable).
    computed: np.ndarray | None = None


def iter_extract(
    inputs: Any,
    extractor: Any,
    *,
    cache_dir: str | os.PathLike | None = None,
    chunk_size: int = 256,
    progress: bool = False,
) -> Iterator[ExtractedChunk]:
    """Extract features chunk by chunk, in input order, with an optional restartable cache.

    The streaming form of :func:`extract_table`: memory is bounded by a few chunks, not by
    the number of inputs, so the caller can write each chunk out as it arrives (the
    ``deepfeat extract`` command appends them to its parquet file). Chunks are computed
    through :meth:`ImageFeatures.iter_blocks`, whose workers run across chunk boundaries;
    each finished chunk is written to the cache as soon as it is complete.

    Parameters
    ----------
    inputs, extractor, cache_dir, chunk_size, progress
        As in :func:`extract_table`.

    Yields
    ------
    ExtractedChunk
        ``start, stop`` positions, ``float32`` values (sidecar columns filled), failure
        records and how many of the chunk's inputs were computed (not read from cache).
    """
    items = as_items(inputs)
    names = list(extractor.get_feature_names_out())
    n = len(items)
    unreadable: dict[int, dict[str, str]] = {}
    cache = None if cache_dir is None else FeatureCache(cache_dir, settings_digest(extractor))
    digests: list[str | None] = [None] * n
    if cache is not None:
        for i, item in enumerate(items):
            if isinstance(item, str):
                try:
                    digests[i] = cache_key(item)
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                    unreadable[i] = {"path": item, "stage": "read", "reason": reason}
    chunks = [range(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
    todo = [
        [i for i in c if i not in unreadable and (cache is None or digests[i] not in cache)]
        for c in chunks
    ]
    computing = [k for k, t in enumerate(todo) if t]
    meta = getattr(extractor, "transformers_", {}).get("meta")
    if hasattr(meta, "check_sidecar"):
        meta.check_sidecar(inputs)  # a missing sidecar column is an error, before any work
    with_sidecar = hasattr(meta, "fill_sidecar")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="img", desc="extract")
    stream = extractor.iter_blocks(
        [[items[i] for i in todo[k]] for k in computing],
        offsets=[chunks[k].start for k in computing],
        bar=bar,
    )
    done: dict[int, tuple[np.ndarray, list[dict[str, str]]]] = {}
    try:
        for k, c in enumerate(chunks):
            out = np.full((len(c), len(names)), np.nan, dtype=np.float32)
            failures = [unreadable[i] for i in c if i in unreadable]
            if todo[k]:
                while k not in done:
                    b, values, fails = next(stream)
                    done[computing[b]] = (values, fails)
                    _write_chunk(cache, computing[b], todo, digests, items, names, values, fails)
                values, fails = done.pop(k)
                out[[i - c.start for i in todo[k]]] = values
                failures.extend(fails)
            cached = [i for i in c if i not in unreadable and i not in set(todo[k])]
            if cached and cache is not None:
                rows = cache.read([digests[i] for i in cached], names)  # type: ignore[misc]
                out[[i - c.start for i in cached]] = rows[names].to_numpy(dtype=np.float32)
                for i, stage, reason in zip(cached, rows[_STAGE_COL], rows[_REASON_COL]):
                    if stage:
                        failures.append({"path": items[i], "stage": stage, "reason": reason})
                if bar is not None:
                    bar.update(len(cached))
            if bar is not None:
                bar.update(sum(1 for i in c if i in unreadable))
            if with_sidecar:
                part = inputs.iloc[c.start : c.stop] if isinstance(inputs, pd.DataFrame) else c
                meta.fill_sidecar(part, out, names)
            computed = np.zeros(len(c), dtype=bool)
            computed[[i - c.start for i in todo[k]]] = True
            yield ExtractedChunk(c.start, c.stop, out, failures, len(todo[k]), computed)
    finally:
        stream.close()
        if bar is not None:
            bar.close()


def _write_chunk(cache, k, todo, digests, items, names, values, fails) -> None:
    """Cache the computed rows of chunk ``k`` (features or the failure that explains them)."""
    if cache is None:
        return
    transient = {rec["path"] for rec in fails if rec.get("transient")}
    keep = [
        j
        for j, i in enumerate(todo[k])
        if digests[i] is not None and items[i] not in transient  # I/O failures: never cached
    ]
    if not keep:
        return
    first: dict[str, tuple[str, str]] = {}
    for rec in fails:
        first.setdefault(rec["path"], (rec["stage"], rec["reason"]))
    table = pd.DataFrame(values[keep], columns=names)
    paths = [items[todo[k][j]] for j in keep]
    table.insert(0, _HASH_COL, [digests[todo[k][j]] for j in keep])
    table[_STAGE_COL] = [first.get(p, ("", ""))[0] for p in paths]
    table[_REASON_COL] = [first.get(p, ("", ""))[1] for p in paths]
    cache.write(table.drop_duplicates(_HASH_COL))


def extract_table(
    inputs: Any,
    extractor: Any,
    *,
    cache_dir: str | os.PathLike | None = None,
    chunk_size: int = 256,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Extract features for every input, with an optional restartable cache.

    Parameters
    ----------
    inputs : paths, or a dataset DataFrame with ``path`` (its sidecar columns feed
        ``meta_sidecar_*``)
    extractor : fitted ImageFeatures
    cache_dir : path-like, optional
        Cache folder; without it nothing is written and nothing is reused.
    chunk_size : int, default=256
        Inputs per chunk (the unit of atomic writes and of restart).
    progress : bool, default=False
        tqdm progress bar over inputs.

    Returns
    -------
    features : pandas.DataFrame
        One row per input, in input order, float32 feature columns (NaN where failed).
    failures : pandas.DataFrame
        ``path, stage, reason`` for every input that failed in some stage.

    See Also
    --------
    iter_extract : the same, chunk by chunk (bounded memory).

    Examples
    --------
    >>> import tempfile
    >>> from deepfeat import ImageFeatures, load_dataset, make_demo_dataset
    >>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=8))
    >>> ext = ImageFeatures(groups=("fft",)).fit(df)
    >>> feats, fails = extract_table(df, ext, cache_dir=tempfile.mkdtemp())
    >>> feats.shape[0], len(fails)
    (8, 0)
    """
    names = list(extractor.get_feature_names_out())
    n = len(inputs) if isinstance(inputs, pd.DataFrame) else None
    t0 = time.perf_counter()
    parts: list[np.ndarray] = []
    failures: list[dict[str, str]] = []
    n_new = n_unreadable = 0
    for chunk in iter_extract(
        inputs, extractor, cache_dir=cache_dir, chunk_size=chunk_size, progress=progress
    ):
        parts.append(chunk.values)
        failures.extend(chunk.failures)
        n_new += chunk.n_extracted
        n_unreadable += sum(f["stage"] == "read" for f in chunk.failures)
    out = np.concatenate(parts) if parts else np.empty((0, len(names)), np.float32)
    n = out.shape[0] if n is None else n
    logger.info(
        "%d inputs (%d extracted, %d from cache) in %.1f s",
        n,
        n_new,
        n - n_new - n_unreadable,
        time.perf_counter() - t0,
    )
    features = pd.DataFrame(out, columns=names)
    features.attrs["n_extracted"] = n_new
    features.attrs["n_cached"] = n - n_new - n_unreadable
    return features, pd.DataFrame(failures, columns=FAILURE_COLUMNS)
