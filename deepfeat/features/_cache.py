"""Restartable, cached extraction of feature tables.

Feature rows are cached per *(file content hash, extractor settings hash)*; the settings hash
covers every extractor parameter, the package version and the backbone sha256, so changing a
setting never reuses stale rows and re-running on a grown folder only extracts new files.

A run works through its inputs in fixed chunks (positions ``k*chunk_size …``); each finished
chunk is written as one parquet file to a temporary name and atomically renamed into place.
A run killed at any point therefore leaves only whole chunks behind, and a restart recomputes
exactly the unfinished chunks, with the same batch composition, so its output is identical to
an uninterrupted run. Failed inputs are cached too (with their stage and reason), so every
input ends up either with features or with a recorded reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ._base import FAILURE_COLUMNS, as_items

logger = logging.getLogger(__name__)

__all__ = ["FeatureCache", "extract_table", "file_digest", "model_sha256", "settings_digest"]

_HASH_COL = "content_sha256"
_STAGE_COL = "failed_stage"
_REASON_COL = "failed_reason"


def file_digest(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


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


def _jsonable(value: Any) -> Any:
    if hasattr(value, "get_params"):
        return {"class": type(value).__name__, **_jsonable(value.get_params(deep=False))}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def settings_digest(extractor: Any) -> str:
    """A hash of everything that changes feature values: settings, versions, backbone."""
    config: dict[str, Any] = {"deepfeat": __version__}
    transformers = getattr(extractor, "transformers_", None)
    if transformers is None:
        raise ValueError("settings_digest needs a fitted extractor")
    config["features"] = list(extractor.get_feature_names_out())
    config["crop_faces"] = _jsonable(getattr(extractor, "crop_faces", False))
    config["max_pixels"] = getattr(extractor, "max_pixels", None)
    for group, tr in transformers.items():
        params = tr.get_params(deep=False)
        params.pop("on_error", None)
        params.pop("batch_size", None)
        params.pop("n_threads", None)
        entry = {"class": type(tr).__name__, "params": _jsonable(params)}
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
    items = as_items(inputs)
    names = list(extractor.get_feature_names_out())
    n = len(items)
    out = np.full((n, len(names)), np.nan, dtype=np.float32)
    failures: list[dict[str, str]] = []
    cache = None
    if cache_dir is not None:
        cache = FeatureCache(cache_dir, settings_digest(extractor))
    digests: list[str | None] = [None] * n
    if cache is not None:
        for i, item in enumerate(items):
            if isinstance(item, str):
                try:
                    digests[i] = file_digest(item)
                except OSError as exc:
                    failures.append(
                        {"path": item, "stage": "read", "reason": exc.strerror or str(exc)}
                    )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="img", desc="extract")
    unreadable = {f["path"] for f in failures}
    t0 = time.perf_counter()
    n_new = 0
    try:
        for start in range(0, n, chunk_size):
            idx = list(range(start, min(start + chunk_size, n)))
            todo = [
                i
                for i in idx
                if not (isinstance(items[i], str) and items[i] in unreadable)
                and (cache is None or digests[i] is None or digests[i] not in cache)
            ]
            if todo:
                values = extractor.transform([items[i] for i in todo])
                failed = extractor.failures_
                n_new += len(todo)
                out[todo] = values
                fail_by_path: dict[str, tuple[str, str]] = {}
                for rec in failed.to_dict("records"):
                    failures.append(rec)
                    fail_by_path.setdefault(rec["path"], (rec["stage"], rec["reason"]))
                if cache is not None:
                    keep = [k for k, i in enumerate(todo) if digests[i] is not None]
                    if keep:
                        table = pd.DataFrame(values[keep], columns=names)
                        stages = [fail_by_path.get(items[todo[k]], ("", ""))[0] for k in keep]
                        reasons = [fail_by_path.get(items[todo[k]], ("", ""))[1] for k in keep]
                        table.insert(0, _HASH_COL, [digests[todo[k]] for k in keep])
                        table[_STAGE_COL] = stages
                        table[_REASON_COL] = reasons
                        cache.write(table.drop_duplicates(_HASH_COL))
            if cache is not None:
                cached = [i for i in idx if i not in todo and digests[i] is not None]
                if cached:
                    rows = cache.read([digests[i] for i in cached], names)
                    out[cached] = rows[names].to_numpy(dtype=np.float32)
                    for i, stage, reason in zip(cached, rows[_STAGE_COL], rows[_REASON_COL]):
                        if stage:
                            failures.append({"path": items[i], "stage": stage, "reason": reason})
            if bar is not None:
                bar.update(len(idx))
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    logger.info("%d inputs (%d extracted, %d from cache) in %.1f s", n, n_new, n - n_new, elapsed)
    meta = getattr(extractor, "transformers_", {}).get("meta")
    if meta is not None and hasattr(meta, "sidecar_features") and isinstance(inputs, pd.DataFrame):
        side = meta.sidecar_features(inputs, n)
        if side is not None:
            for col in side.columns:
                out[:, names.index(col)] = side[col].to_numpy(dtype=np.float32)
    features = pd.DataFrame(out, columns=names)
    features.attrs["n_extracted"] = n_new
    features.attrs["n_cached"] = n - n_new - len(unreadable)
    fails = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    return features, fails
