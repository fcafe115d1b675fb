"""``deepfeat train``: a features parquet or a dataset (with optional synthesis) to a model."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..features._table import read_features
from ._common import (
    EXIT_NOTHING_USABLE,
    UserError,
    all_failed,
    extract_dataset,
    note_duplicates,
    progress_on,
    report_training,
    stage_line,
    summary_line,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


def training_table(args: argparse.Namespace):
    """(table, extractor) from a features parquet or by extracting a dataset.

    With ``--pseudo-fakes`` / ``--augment`` the synthesized images (under ``--cache``, or a
    temporary folder removed once their features are extracted) join the table.
    """
    import pandas as pd

    from ..datasets._load import resolve_input
    from ..features._spec import extractor_from_json

    synthesis = bool(getattr(args, "pseudo_fakes", None) or getattr(args, "augment", None))
    cache = Path(args.cache) if getattr(args, "cache", None) else None
    spec = Path(args.input)
    with tempfile.TemporaryDirectory(prefix="deepfeat-synth-") as tmp:
        out_dir = cache / "synthesis" if cache is not None else Path(tmp)
        if spec.suffix == ".parquet" and spec.is_file():
            table, ext_json = read_features(spec)
            extractor = extractor_from_json(ext_json, spec) if ext_json else None
            if synthesis:
                table = _synthesised_table(args, table, extractor, out_dir, cache)
            return table, extractor
        data = resolve_input(args.input)
        if "label" not in data.columns:
            raise UserError(f"{args.input}: training needs labels (a dataset layout, not a folder)")
        note_duplicates(data)
        if synthesis:
            data = _expand(args, data, out_dir)
        extractor, feats, fails, seconds = extract_dataset(args, data, cache)
    failed = all_failed(feats)
    computed = feats.attrs.get("n_extracted")
    stage_line("extract: " + summary_line(len(data), fails, int(failed.sum()), seconds, computed))
    table = (
        pd.concat([data.reset_index(drop=True), feats], axis=1).loc[~failed].reset_index(drop=True)
    )
    return table, extractor


def sources_table(args: argparse.Namespace):
    """(table, extractor) of one or several inputs; several inputs get a ``source`` each.

    Groups are prefixed by the source so that two sources never share a group; every input
    must have been extracted with the same settings.
    """
    import pandas as pd

    from .._schema import json_safe
    from ..features._spec import extractor_to_json

    inputs = [args.input] if isinstance(args.input, str) else list(args.input)
    if len(inputs) == 1:
        return training_table(argparse.Namespace(**{**vars(args), "input": inputs[0]}))
    tables, extractor, names = [], None, []
    for spec in inputs:
        table, ext = training_table(argparse.Namespace(**{**vars(args), "input": spec}))
        name = Path(spec.rstrip("/")).stem or spec
        if "source" not in table.columns:
            table["source"] = name
        if "group" in table.columns:
            table["group"] = table["source"].astype(str) + ":" + table["group"].astype(str)
        if extractor is not None and ext is not None:
            same = json_safe(extractor_to_json(ext)) == json_safe(extractor_to_json(extractor))
            if not same:
                raise UserError(f"{spec}: extracted with other settings than {inputs[0]}")
        extractor = extractor or ext
        tables.append(table)
        names.append(name)
    if len(set(names)) < len(names):
        raise UserError(f"two inputs have the same name: {names}; give each a 'source' column")
    table = pd.concat(tables, ignore_index=True)
    counts = table["source"].value_counts()
    stage_line("sources: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return table, extractor


def _expand(args: argparse.Namespace, data: pd.DataFrame, out_dir: Path) -> pd.DataFrame:
    """The dataset with pseudo-fakes and degradations (``--pseudo-fakes``, ``--augment``)."""
    from ..synthesis import expand_training_set

    try:
        expanded, fails = expand_training_set(
            data,
            out_dir,
            pseudo_fakes=args.pseudo_fakes,
            augment=args.augment,
            random_state=args.seed,
            progress=not args.quiet,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    counts = expanded["origin"].value_counts()
    parts = [f"{n} {k}" for k, n in counts.items() if k != "original"]
    if "degraded" in expanded.columns:
        parts.append(f"{int((expanded['degraded'] != '').sum())} degraded")
    print(
        f"synthesis: {', '.join(parts) or 'nothing'} from {len(data)} inputs; "
        f"{len(fails)} could not be used",
        file=sys.stderr,
    )
    return expanded


def _synthesised_table(args, table: pd.DataFrame, extractor, out_dir: Path, cache):
    """A features parquet plus the features of pseudo-fakes / degraded copies of its rows."""
    import numpy as np
    import pandas as pd

    from ..features._cache import extract_table

    if extractor is None or "path" not in table.columns or "label" not in table.columns:
        raise UserError(
            "--pseudo-fakes/--augment on a features parquet need its 'path' and 'label' "
            "columns and extractor settings (a parquet written by 'deepfeat extract')"
        )
    missing = [p for p in table["path"] if not Path(p).is_file()]
    if missing:
        raise UserError(
            f"--pseudo-fakes/--augment need the images: {len(missing)} missing, e.g. {missing[0]}"
        )
    cols = [c for c in ("path", "label", "group") if c in table.columns]
    expanded = _expand(args, table[cols], out_dir)
    n = len(table)
    changed = expanded.index >= n
    if "degraded" in expanded.columns:
        changed |= (expanded["degraded"] != "").to_numpy()
    feats, fails = extract_table(
        expanded.loc[changed, ["path"]],
        extractor,
        cache_dir=cache,
        progress=not args.quiet,
        chunk_size=args.chunk_size,
    )
    names = list(extractor.get_feature_names_out())
    out = expanded.copy()
    values = np.full((len(out), len(names)), np.nan, dtype=np.float32)
    keep = np.flatnonzero(~changed)
    values[keep] = table[names].to_numpy(dtype=np.float32)[keep]
    values[np.flatnonzero(changed)] = feats[names].to_numpy(dtype=np.float32)
    out = pd.concat([out.reset_index(drop=True), pd.DataFrame(values, columns=names)], axis=1)
    ok = ~np.isnan(values).all(axis=1)
    print(
        f"synthesis: {int(changed.sum())} synthesized images extracted, "
        f"{len(fails)} failure records",
        file=sys.stderr,
    )
    return out.loc[ok].reset_index(drop=True)


def cmd_train(args: argparse.Namespace) -> int:
    from ..detector._estimator import DeepfakeDetector
    from ._dask import dask_requested, run_train_dask

    if dask_requested(args):
        if getattr(args, "pseudo_fakes", None) or getattr(args, "augment", None):
            raise UserError(
                "--pseudo-fakes/--augment are not available with Dask yet: train locally, or "
                "write the expanded set first (deepfeat.synthesis.expand_training_set) and "
                "train on it"
            )
        return run_train_dask(args)

    table, extractor = sources_table(args)
    if "label" not in table.columns:
        raise UserError("the feature table has no 'label' column")
    if len(table) == 0:
        print("nothing usable: every input failed", file=sys.stderr)
        return EXIT_NOTHING_USABLE
    det = DeepfakeDetector(
        feature_groups=args.groups,
        features=extractor,
        sidecar=args.sidecar or None,
        calibration=None if args.calibration == "none" else args.calibration,
        n_jobs=args.threads,
        random_state=args.seed,
        progress=progress_on(args),
        domain_fpr=args.domain_fpr or None,
    )
    t0 = time.perf_counter()
    det.fit(table, table["label"].to_numpy(), groups=table.get("group"))
    for line in det.training_summary_.get("stages", []):
        stage_line(line)
    stage_line(
        f"trained on {len(table)} images in {time.perf_counter() - t0:.1f} s; "
        f"{det.best_iteration_} trees"
    )
    return report_training(det, args.out)
