"""Feature tables on disk: one parquet file with the extractor JSON in its schema metadata."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._schema import EXTRACTOR_KEY

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


#: Minimum rows per parquet row group written by ``deepfeat extract`` (see stream_features).
ROW_GROUP_ROWS = 4096


def read_features(path: Path) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    import pandas as pd
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    counts = pd.Series(schema.names, dtype=object).value_counts()
    dup = sorted(counts.index[counts > 1])
    if dup:
        raise ValueError(
            f"{path}: {len(dup)} duplicated column names (first: {dup[:5]}); each column "
            "must appear once"
        )
    table = pd.read_parquet(path)
    meta = schema.metadata or {}
    raw = meta.get(EXTRACTOR_KEY)
    return table, (json.loads(raw) if raw else None)


def write_features(table: pd.DataFrame, path: Path, extractor_json: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[EXTRACTOR_KEY] = json.dumps(extractor_json).encode()
    arrow = arrow.replace_schema_metadata(meta)
    from .._lock import temporary_name

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)  # unique: concurrent writers never share a temporary file
    try:
        pq.write_table(arrow, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def stream_features(
    data: pd.DataFrame,
    extractor: Any,
    out: Path,
    *,
    cache: Path | None = None,
    progress: bool = False,
    chunk_size: int = 256,
) -> tuple[int, int, dict[str, int], int, pd.DataFrame]:
    """Extract chunk by chunk and append each chunk's usable rows to the parquet file.

    Memory holds at most one row group of output (plus the footer metadata the writer keeps
    per row group) whatever the number of images; the file is written under a temporary
    name of its own and renamed into place only when complete (the caller holds the lock of
    ``out``: :class:`deepfeat._lock.OutputLock`; the CLI refuses a second run on it).
    Chunks are gathered into row groups of at least :data:`ROW_GROUP_ROWS` rows: the writer
    keeps every row
    group's footer metadata in memory until it closes (about 1 MiB per row group of 1169
    feature columns), so a row group per 256-input chunk made memory grow with the number
    of inputs. Feature columns are written without min/max statistics and dictionary
    encoding (never useful on float features; they slow the writer and bloat the footer).
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .._lock import temporary_name
    from .._schema import FAILURE_COLUMNS
    from ._cache import iter_extract
    from ._spec import extractor_to_json

    names = [str(c) for c in extractor.get_feature_names_out()]
    schema = pa.Schema.from_pandas(data, preserve_index=False)
    for name in names:
        schema = schema.append(pa.field(name, pa.float32()))
    meta = dict(schema.metadata or {})
    meta[EXTRACTOR_KEY] = json.dumps(extractor_to_json(extractor)).encode()
    schema = schema.with_metadata(meta)
    tmp = temporary_name(out)
    n_rows = failed_rows = 0
    counts = {"computed": 0, "extracted": 0, "cached": 0}
    failures: list[dict[str, str]] = []
    pending: list[pa.Table] = []

    def flush(writer: pq.ParquetWriter) -> None:
        if pending:
            writer.write_table(pa.concat_tables(pending), row_group_size=1 << 30)
            pending.clear()

    try:
        # statistics and dictionary pages for path, label, group and sidecar columns only:
        # on float features they are never used, slow the writer and bloat the footer
        plain = [str(c) for c in data.columns]
        with pq.ParquetWriter(tmp, schema, write_statistics=plain, use_dictionary=plain) as writer:
            for chunk in iter_extract(
                data,
                extractor,
                cache_dir=cache,
                progress=progress,
                chunk_size=chunk_size,
            ):
                feats = pd.DataFrame(chunk.values, columns=names)
                ok = ~np.isnan(chunk.values).all(axis=1)
                part = pd.concat(
                    [data.iloc[chunk.start : chunk.stop].reset_index(drop=True), feats], axis=1
                ).loc[ok]
                pending.append(pa.Table.from_pandas(part, schema=schema, preserve_index=False))
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    flush(writer)
                n_rows += int(ok.sum())
                failed_rows += int((~ok).sum())
                computed = chunk.computed if chunk.computed is not None else np.ones_like(ok)
                counts["computed"] += int(computed.sum())
                counts["extracted"] += int((ok & computed).sum())
                counts["cached"] += int((ok & ~computed).sum())
                failures.extend(chunk.failures)
            flush(writer)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return n_rows, len(names), counts, failed_rows, pd.DataFrame(failures, columns=FAILURE_COLUMNS)
