"""The ``deepfeat`` command line: a thin layer over the library.

Exit codes
----------
0  success (also when some files failed: they are listed in OUT.errors.csv / on stderr)
1  user error (missing input, bad model folder, unknown option value), one line on stderr
2  usage error (argparse)
3  nothing usable: every input failed
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._schema import EXTRACTOR_KEY
from ._version import __version__

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_NOTHING_USABLE = 3
#: Minimum rows per parquet row group written by ``deepfeat extract`` (see _stream_features).
ROW_GROUP_ROWS = 4096


class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit code 1."""


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars: on a terminal, unless ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _stage(text: str, stream: Any = None) -> None:
    """One summary line per stage of a command (stdout unless ``stream``)."""
    print(text, file=stream or sys.stdout, flush=True)


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record comes.

    ``logging.basicConfig`` binds the stream once; when ``main`` runs in-process (tests,
    notebooks) that stream may be replaced and closed later, and every later record then
    fails with "I/O operation on closed file".
    """

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; ignored
        pass


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def _cmd_demo(args: argparse.Namespace) -> int:
    """Synthetic data → features → grouped train/test → detector → metrics → ablation."""
    import numpy as np

    from .datasets import load_dataset, make_demo_dataset
    from .detector import DeepfakeDetector
    from .evaluation import ablation, evaluate, grouped_splits
    from .features._cache import extract_table
    from .features._combined import ImageFeatures

    if args.n_images < 40:
        raise UserError("the demo needs --n-images of at least 40 (for grouped folds)")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="deepfeat-demo-"))
    t0 = time.perf_counter()
    root = make_demo_dataset(out / "data", n_images=args.n_images, random_state=args.seed)
    df = load_dataset(root)
    counts = df["label"].value_counts().reindex([0, 1], fill_value=0)
    print(
        f"1. demo data: {root}  ({len(df)} images: {counts[0]} real, {counts[1]} fake, "
        f"{df['group'].nunique()} source groups; synthetic, NOT a benchmark)"
    )

    extractor = ImageFeatures(groups=args.groups).fit(df, df["label"])
    t1 = time.perf_counter()
    feats, fails = extract_table(df, extractor, progress=False)
    rate = len(df) / (time.perf_counter() - t1)
    print(
        f"2. features: {feats.shape[1]} columns "
        + ", ".join(
            f"{g} {sum(c.startswith(g + '_') for c in feats.columns)}"
            for g in extractor.transformers_
        )
        + f"; {rate:.0f} img/s; {len(fails)} failures"
    )

    y, groups = df["label"].to_numpy(), df["group"].to_numpy()
    train, test = next(grouped_splits(y, groups, n_splits=4, random_state=args.seed))
    det = DeepfakeDetector(
        groups=args.groups, features=extractor, random_state=args.seed, audit=False
    )
    det.fit(feats.iloc[train], y[train], groups=groups[train])
    print(
        f"3. trained XGBoost on {len(train)} images ({det.best_iteration_} trees, "
        f"scale_pos_weight {det.scale_pos_weight_:.3f}); test: {len(test)} images from "
        f"{len(set(groups[test]))} groups never seen in training"
    )
    metrics = evaluate(det, feats.iloc[test], y[test])
    _print_metrics(metrics, "4. held-out metrics:")
    model_dir = out / "model"
    if model_dir.exists():
        import shutil

        shutil.rmtree(model_dir)
    det.save(model_dir)
    print(f"   model saved to {model_dir}")

    n_folds = int(min(3, len(np.unique(groups))))
    res = ablation(
        feats,
        y,
        groups,
        cv=n_folds,
        random_state=args.seed,
        estimator=DeepfakeDetector(n_estimators=200, audit=False, random_state=args.seed),
    )
    summary = res.attrs["summary"]
    print(f"5. ablation, grouped {n_folds}-fold CV (ROC AUC, balanced accuracy; mean ± std):")
    for name, row in summary.iterrows():
        print(
            f"   {name:<14}{row[('roc_auc', 'mean')]:.3f} ± {row[('roc_auc', 'std')]:.3f}   "
            f"{row[('balanced_accuracy', 'mean')]:.3f} ± {row[('balanced_accuracy', 'std')]:.3f}"
        )
    print(
        "   group gain share: "
        + ", ".join(f"{g} {v:.0%}" for g, v in det.group_importances_.items())
    )
    if len(res.attrs["leakage"]):
        print(
            f"   leakage audit: {len(res.attrs['leakage'])} single features separate the "
            "classes almost perfectly (expected on this synthetic set)"
        )
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


# ----------------------------------------------------------------------------- inputs


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def resolve_input(spec: str) -> pd.DataFrame:
    """Turn a command-line INPUT into a table with at least a ``path`` column.

    A dataset folder or manifest CSV (anything :func:`deepfeat.load_dataset` understands)
    gives ``path, label, group`` and sidecar columns; a plain folder, a glob pattern, a
    ``.txt`` list of paths or a single image gives unlabelled ``path`` rows. Paths keep the
    form the user gave (relative stays relative, symbolic links are not resolved);
    ``df.attrs["duplicates"]`` maps inputs that are the same file as an earlier one.
    """
    from .datasets import duplicate_paths

    data = _resolve_input(spec)
    data.attrs["duplicates"] = duplicate_paths(data["path"])
    return data


def _resolve_input(spec: str) -> pd.DataFrame:
    import pandas as pd

    from .datasets import IMAGE_EXTENSIONS, list_images, load_dataset

    if _is_glob(spec):
        paths = sorted(p for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not paths:
            raise UserError(f"no files match {spec!r}")
        return pd.DataFrame({"path": paths})
    path = Path(spec).expanduser()
    if not path.exists():
        raise UserError(f"input not found: {spec}")
    if not (path.is_dir() or path.is_file()):  # a FIFO or device: never read as a list
        return pd.DataFrame({"path": [str(path.absolute())]})  # refused with a reason
    if path.is_file() and path.suffix.lower() == ".txt":
        lines = [ln.strip() for ln in path.read_text().splitlines()]
        paths = [
            str(path.parent / ln) if not Path(ln).is_absolute() else ln
            for ln in lines
            if ln and not ln.startswith("#")
        ]
        return pd.DataFrame({"path": paths})
    if path.is_file() and path.suffix.lower() != ".csv":
        return pd.DataFrame({"path": [str(path)]})
    try:
        return load_dataset(path)
    except ValueError as exc:
        if path.is_dir() and "cannot detect" in str(exc):
            paths = list_images(path)
            if not paths:
                raise UserError(f"{spec}: no images ({', '.join(IMAGE_EXTENSIONS[:4])} …)") from exc
            return pd.DataFrame({"path": paths})
        raise


def _note_duplicates(data: pd.DataFrame) -> None:
    dups = data.attrs.get("duplicates") or {}
    if dups:
        a, b = next(iter(dups.items()))
        print(
            f"note: {len(dups)} input(s) are the same file as another input (a symlink or a "
            f"repeat), e.g. {a} = {b}; each is scored as given",
            file=sys.stderr,
        )


def _read_features(path: Path) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    import pandas as pd
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    counts = pd.Series(schema.names, dtype=object).value_counts()
    dup = sorted(counts.index[counts > 1])
    if dup:
        raise UserError(
            f"{path}: {len(dup)} duplicated column names (first: {dup[:5]}); each column "
            "must appear once"
        )
    table = pd.read_parquet(path)
    meta = schema.metadata or {}
    raw = meta.get(EXTRACTOR_KEY)
    return table, (json.loads(raw) if raw else None)


def _write_features(table: pd.DataFrame, path: Path, extractor_json: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[EXTRACTOR_KEY] = json.dumps(extractor_json).encode()
    arrow = arrow.replace_schema_metadata(meta)
    from ._lock import temporary_name

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)  # unique: concurrent writers never share a temporary file
    try:
        pq.write_table(arrow, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def own_output(out: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``out`` (:class:`deepfeat._lock.OutputLock`) or raise a
    one-line UserError when another run holds it."""
    from ._lock import OutputBusyError, OutputLock

    try:
        lock = OutputLock(out).acquire()
    except OutputBusyError as exc:
        raise UserError(str(exc)) from None
    try:
        yield
    finally:
        lock.release()


def _groups_arg(text: str) -> tuple[str, ...]:
    from ._schema import GROUPS  # light: parsing must not import scikit-learn

    groups = tuple(g.strip() for g in text.split(",") if g.strip())
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise argparse.ArgumentTypeError(f"groups must be a comma list of {','.join(GROUPS)}")
    return groups


def _make_extractor(args: argparse.Namespace, data: pd.DataFrame):
    from .features._combined import ImageFeatures
    from .features._meta import MetadataFeatures

    sidecar = getattr(args, "sidecar", None)
    if sidecar and "meta" not in args.groups:
        raise UserError("--sidecar columns are meta features: add meta to --groups")
    extractor = ImageFeatures(
        groups=args.groups,
        n_jobs=args.jobs,
        batch_size=args.batch_size,
        crop_faces=bool(getattr(args, "crop_faces", False)),
        canonical_size=getattr(args, "canonical_size", 256) or None,
        meta=MetadataFeatures(sidecar=list(sidecar)) if sidecar else None,
    )
    y = data["label"].to_numpy() if "label" in data.columns else None
    return extractor.fit(data, y)


def _extract(args: argparse.Namespace, data: pd.DataFrame, cache: Path | None):
    """Features for ``data`` (cached/resumable when ``cache``), plus failures and rate."""
    from .features._cache import extract_table

    extractor = _make_extractor(args, data)
    t0 = time.perf_counter()
    feats, fails = extract_table(
        data, extractor, cache_dir=cache, progress=_progress(args), chunk_size=args.chunk_size
    )
    return extractor, feats, fails, time.perf_counter() - t0


def _summary_line(
    n: int, fails: pd.DataFrame, failed_rows: int, seconds: float, n_computed: int | None = None
) -> str:
    """``ok, failed of n in s (rate)``; the rate counts only the inputs computed in this
    run (``n_computed``; rows reused from a cache cost nothing)."""
    n_computed = n if n_computed is None else n_computed
    rate = n_computed / seconds if seconds > 0 and n_computed else float("nan")
    return (
        f"{n - failed_rows} ok, {failed_rows} failed of {n} inputs in {seconds:.1f} s "
        f"({rate:.1f} img/s over the {n_computed} inputs computed); "
        f"{len(fails)} failure records"
    )


def errors_path(out: Path) -> Path:
    """Where ``deepfeat extract --out OUT`` lists its failures: ``OUT`` without its suffix
    plus ``.errors.csv`` (``feats.parquet`` → ``feats.errors.csv``)."""
    return out.with_name(f"{out.stem}.errors.csv")


def _failed_rows(feats: pd.DataFrame) -> Any:
    return feats.isna().all(axis=1).to_numpy()


# ----------------------------------------------------------------------------- commands


def _cmd_extract(args: argparse.Namespace) -> int:
    from .features._work import start_workers

    if not (getattr(args, "scheduler", None) or getattr(args, "dask_local", None)):
        # the worker processes start and import while this one imports the rest
        start_workers(args.jobs)
    from .distributed import dask_requested, run_extract_dask

    if dask_requested(args):
        return run_extract_dask(args, resolve_input(args.input))

    data = resolve_input(args.input)
    duplicates = data.attrs.get("duplicates")
    data = data.reset_index(drop=True)
    data.attrs["duplicates"] = duplicates
    _note_duplicates(data)
    out = Path(args.out)
    cache = None if args.no_cache else Path(args.cache or f"{out}.cache")
    extractor = _make_extractor(args, data)
    t0 = time.perf_counter()
    n_rows, n_features, counts, failed_rows, fails = _stream_features(
        args, data, extractor, cache, out
    )
    seconds = time.perf_counter() - t0
    errors = errors_path(out)
    if len(fails):
        fails.to_csv(errors, index=False)
        where = f"failures: {errors}"
    else:
        errors.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
        where = "no failures"
    print(f"wrote {out} ({n_rows} rows, {n_features} features); {where}")
    print(_summary_line(len(data), fails, failed_rows, seconds, counts["computed"]))
    print(
        f"{counts['extracted']} extracted, {counts['cached']} reused from cache, "
        f"{failed_rows} failed"
    )
    return EXIT_NOTHING_USABLE if n_rows == 0 else EXIT_OK


def _stream_features(args, data: pd.DataFrame, extractor, cache: Path | None, out: Path):
    """Extract chunk by chunk and append each chunk's usable rows to the parquet file.

    Memory holds at most one row group of output (plus the footer metadata the writer keeps
    per row group) whatever the number of images; the file is written under a temporary
    name of its own and renamed into place only when complete, under an exclusive lock of
    ``out`` (a second run on the same ``--out`` is refused at once). Chunks are gathered
    into row groups of at least :data:`ROW_GROUP_ROWS` rows: the writer keeps every row
    group's footer metadata in memory until it closes (about 1 MiB per row group of 1169
    feature columns), so a row group per 256-input chunk made memory grow with the number
    of inputs. Feature columns are written without min/max statistics and dictionary
    encoding (never useful on float features; they slow the writer and bloat the footer).
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ._lock import temporary_name
    from ._schema import FAILURE_COLUMNS
    from .detector import _extractor_to_json
    from .features._cache import iter_extract

    names = [str(c) for c in extractor.get_feature_names_out()]
    schema = pa.Schema.from_pandas(data, preserve_index=False)
    for name in names:
        schema = schema.append(pa.field(name, pa.float32()))
    meta = dict(schema.metadata or {})
    meta[EXTRACTOR_KEY] = json.dumps(_extractor_to_json(extractor)).encode()
    schema = schema.with_metadata(meta)
    owner = contextlib.ExitStack()
    owner.enter_context(own_output(out))  # a second run on this --out is refused at once
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
                progress=_progress(args),
                chunk_size=args.chunk_size,
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
        owner.close()
    return n_rows, len(names), counts, failed_rows, pd.DataFrame(failures, columns=FAILURE_COLUMNS)


def pd_concat(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    return pd.concat([left, right], axis=1)


def _training_table(args: argparse.Namespace):
    """(table, extractor) from a features parquet or by extracting a dataset.

    With ``--pseudo-fakes`` / ``--augment`` the synthesized images (under ``--cache``, or a
    temporary folder removed once their features are extracted) join the table.
    """
    from .detector import _extractor_from_json

    synthesis = bool(getattr(args, "pseudo_fakes", None) or getattr(args, "augment", None))
    cache = Path(args.cache) if getattr(args, "cache", None) else None
    spec = Path(args.input)
    with tempfile.TemporaryDirectory(prefix="deepfeat-synth-") as tmp:
        out_dir = cache / "synthesis" if cache is not None else Path(tmp)
        if spec.suffix == ".parquet" and spec.is_file():
            table, ext_json = _read_features(spec)
            extractor = _extractor_from_json(ext_json, spec) if ext_json else None
            if synthesis:
                table = _synthesised_table(args, table, extractor, out_dir, cache)
            return table, extractor
        data = resolve_input(args.input)
        if "label" not in data.columns:
            raise UserError(f"{args.input}: training needs labels (a dataset layout, not a folder)")
        _note_duplicates(data)
        if synthesis:
            data = _expand(args, data, out_dir)
        extractor, feats, fails, seconds = _extract(args, data, cache)
    failed = _failed_rows(feats)
    computed = feats.attrs.get("n_extracted")
    _stage("extract: " + _summary_line(len(data), fails, int(failed.sum()), seconds, computed))
    table = pd_concat(data.reset_index(drop=True), feats).loc[~failed].reset_index(drop=True)
    return table, extractor


def _expand(args: argparse.Namespace, data: pd.DataFrame, out_dir: Path) -> pd.DataFrame:
    """The dataset with pseudo-fakes and degradations (``--pseudo-fakes``, ``--augment``)."""
    from .synthesis import expand_training_set

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

    from .features._cache import extract_table

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
    out = pd_concat(out.reset_index(drop=True), pd.DataFrame(values, columns=names))
    ok = ~np.isnan(values).all(axis=1)
    print(
        f"synthesis: {int(changed.sum())} synthesized images extracted, "
        f"{len(fails)} failure records",
        file=sys.stderr,
    )
    return out.loc[ok].reset_index(drop=True)


def _print_metrics(metrics: dict[str, Any], title: str) -> None:
    print(title)
    for key in (
        "roc_auc",
        "average_precision",
        "balanced_accuracy",
        "tpr_at_5pct_fpr",
        "tpr_at_1pct_fpr",
        "brier",
        "ece",
    ):
        if key in metrics:
            print(f"  {key:<20}{metrics[key]:.4f}")
    if "confusion_matrix" in metrics:
        (tn, fp), (fn, tp) = metrics["confusion_matrix"]
        print(
            f"  confusion @ {metrics['threshold']:.3f}: real→real {tn}, real→fake {fp}, "
            f"fake→real {fn}, fake→fake {tp}"
        )
    print(f"  n={metrics.get('n')} (real {metrics.get('n_real')}, fake {metrics.get('n_fake')})")


def _cmd_train(args: argparse.Namespace) -> int:
    from .detector import DeepfakeDetector
    from .distributed import dask_requested, run_train_dask

    if dask_requested(args):
        if getattr(args, "pseudo_fakes", None) or getattr(args, "augment", None):
            raise UserError(
                "--pseudo-fakes/--augment are not available with Dask yet: train locally, or "
                "write the expanded set first (deepfeat.synthesis.expand_training_set) and "
                "train on it"
            )
        return run_train_dask(args)

    table, extractor = _training_table(args)
    if "label" not in table.columns:
        raise UserError("the feature table has no 'label' column")
    if len(table) == 0:
        print("nothing usable: every input failed", file=sys.stderr)
        return EXIT_NOTHING_USABLE
    det = DeepfakeDetector(
        groups=args.groups,
        features=extractor,
        sidecar=args.sidecar or None,
        calibration=None if args.calibration == "none" else args.calibration,
        n_jobs=args.threads,
        random_state=args.seed,
        progress=_progress(args),
    )
    t0 = time.perf_counter()
    det.fit(table, table["label"].to_numpy(), groups=table.get("group"))
    for line in det.training_summary_.get("stages", []):
        _stage(line)
    _stage(
        f"trained on {len(table)} images in {time.perf_counter() - t0:.1f} s; "
        f"{det.best_iteration_} trees"
    )
    return report_training(det, args.out)


def report_training(det: Any, out: str) -> int:
    """Print validation metrics, group gain shares and leakage warnings; save the model."""
    origin = det.training_summary_.get("origin")
    if origin:
        print("training set by origin: " + ", ".join(f"{k} {v}" for k, v in origin.items()))
    if det.validation_metrics_:
        _print_metrics(
            det.validation_metrics_,
            "grouped validation fold (also used for early stopping, so slightly optimistic):",
        )
        note = det.validation_metrics_.get("calibration_evaluation")
        if note:
            print(f"  brier/ece: {note}")
        rows = det.validation_metrics_.get("rows")
        if rows:
            print(f"  scored rows: {rows}")
    else:
        print("no grouped validation fold: too few samples per class (see the log)")
    print(
        "gain share per group: "
        + ", ".join(f"{g} {v:.1%}" for g, v in det.group_importances_.items())
    )
    for text in det.leakage_warnings_[:10]:
        print(f"LEAKAGE WARNING: {text}", file=sys.stderr)
    if len(det.leakage_warnings_) > 10:
        print(f"… and {len(det.leakage_warnings_) - 10} more leakage warnings", file=sys.stderr)
    det.save(out)
    print(f"saved {out}")
    return EXIT_OK


def _load_model(path: str):
    from .detector import DeepfakeDetector

    return DeepfakeDetector.load(path)


def _prediction_input(det, spec_list: Sequence[str]):
    import pandas as pd

    from .datasets import duplicate_paths

    frames = [resolve_input(s) for s in spec_list]
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    data.attrs["duplicates"] = duplicate_paths(data["path"])
    _note_duplicates(data)
    if det.features_ is None:
        raise UserError("this model was trained on a feature table without extractor settings")
    return data


def _configure_model(det: Any, args: argparse.Namespace) -> Any:
    """Prediction options shared by predict, evaluate and report."""
    return det.set_params(
        allow_missing_sidecar=bool(getattr(args, "allow_missing_sidecar", False)),
        progress=_progress(args),
    )


def _reasons(row: Any) -> str:
    return "; ".join(f"{name} {value:+.3f}" for name, value in row)


def _set_threshold(det: Any, args: argparse.Namespace) -> None:
    """``--threshold T`` or ``--fpr F --reference INPUT`` (reals of INPUT)."""
    import numpy as np

    if args.threshold is not None:
        if not 0.0 <= args.threshold <= 1.0:
            raise UserError("--threshold must be in [0, 1]")
        det.set_params(threshold=args.threshold)
    if args.fpr is None:
        if args.reference:
            raise UserError("--reference is used only with --fpr")
        return
    if args.threshold is not None:
        raise UserError("give --threshold or --fpr, not both")
    if not args.reference:
        raise UserError(
            "--fpr needs --reference: labelled data (its reals are used) or a folder of real "
            "images, on which at most that share is flagged as fake"
        )
    ref = resolve_input(args.reference)
    labels = ref["label"].to_numpy() if "label" in ref.columns else [0] * len(ref)
    det.set_threshold_for_fpr(ref, labels, fpr=args.fpr)
    n_real = int((np.asarray(labels) == 0).sum())
    _stage(
        f"threshold {det.threshold:.4f}: at most {args.fpr:.1%} of the {n_real} real images "
        f"of {args.reference} flagged as fake",
        stream=sys.stderr,
    )


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    det = _configure_model(_load_model(args.model), args)
    _set_threshold(det, args)
    data = _prediction_input(det, args.inputs)
    feats = det.extract(data)  # extracted once, then explained
    fails = det.extraction_failures_
    ex = det.explain(feats, top=args.top)
    failed = feats.isna().all(axis=1).to_numpy()
    proba = np.where(failed, np.nan, ex["proba"].to_numpy(dtype=float))
    label = np.where(failed, "", np.where(proba >= det.threshold, "fake", "real"))
    out = data[["path"]].copy()
    out["probability_fake"] = proba
    out["label"] = label
    for col in [c for c in ex.columns if c.startswith("contrib_")]:
        out[col] = np.where(failed, np.nan, ex[col].to_numpy(dtype=float))  # no score, no why
    out["top_reasons"] = [_reasons(r) if not f else "" for r, f in zip(ex["top_features"], failed)]
    reasons = {r["path"]: f"{r['stage']}: {r['reason']}" for r in fails.to_dict("records")}
    out["error"] = [reasons.get(p, "") if f else "" for p, f in zip(out["path"], failed)]
    if len(out) == 1 and not args.out:
        row = {
            k: (None if isinstance(v, float) and np.isnan(v) else v)
            for k, v in out.iloc[0].to_dict().items()
        }
        row["threshold"] = det.threshold
        print(json.dumps(row, indent=2, default=float))
    else:
        target = args.out or "-"
        if target == "-":
            out.to_csv(sys.stdout, index=False)
        else:
            out.to_csv(target, index=False)
            print(f"wrote {target}: {int((~failed).sum())} predictions, {int(failed.sum())} failed")
    return EXIT_NOTHING_USABLE if failed.all() else EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate

    det = _configure_model(_load_model(args.model), args)
    spec = Path(args.input)
    if spec.suffix == ".parquet" and spec.is_file():
        data, _ = _read_features(spec)
    else:
        data = _prediction_input(det, [args.input])
    if "label" not in data.columns:
        raise UserError(f"{args.input}: evaluation needs labels")
    t0 = time.perf_counter()
    metrics = evaluate(det, data, data["label"].to_numpy())
    _stage(f"scored {metrics['n']} images in {time.perf_counter() - t0:.1f} s")
    _print_metrics(metrics, f"held-out metrics on {args.input}:")
    if args.out:
        Path(args.out).write_text(json.dumps(metrics, indent=2))
        print(f"wrote {args.out}")
    return EXIT_OK


def _cmd_ablation(args: argparse.Namespace) -> int:
    from ._schema import GROUPS, feature_group
    from .evaluation import ablation

    table, _ = _training_table(args)
    cols = [c for c in table.columns if feature_group(str(c)) in GROUPS and c not in ("group",)]
    cols = [c for c in cols if str(c) not in ("label", "path")]
    t0 = time.perf_counter()
    res = ablation(
        table[cols],
        table["label"].to_numpy(),
        table.get("group"),
        cv=args.cv,
        random_state=args.seed,
        progress=_progress(args),
    )
    summary = res.attrs["summary"]
    _stage(
        f"ablation: {len(summary)} feature subsets × {args.cv} grouped folds on {len(table)} "
        f"images in {time.perf_counter() - t0:.1f} s"
    )
    n_flag = len(res.attrs["leakage"])
    _stage(
        "leakage audit: nothing flagged"
        if not n_flag
        else f"leakage audit: {n_flag} feature(s) alone separate the classes (warnings below)"
    )
    print(f"grouped {args.cv}-fold CV (mean ± std over folds):")
    print(f"{'features':<16}{'ROC AUC':>16}{'avg precision':>18}{'balanced acc':>18}")
    for name, row in summary.iterrows():
        print(
            f"{name:<16}"
            f"{row[('roc_auc', 'mean')]:>9.3f} ± {row[('roc_auc', 'std')]:.3f}"
            f"{row[('average_precision', 'mean')]:>11.3f} ± {row[('average_precision', 'std')]:.3f}"
            f"{row[('balanced_accuracy', 'mean')]:>11.3f} ± {row[('balanced_accuracy', 'std')]:.3f}"
        )
    for text in res.attrs["leakage"]["explanation"][:10]:
        print(f"LEAKAGE WARNING: {text}", file=sys.stderr)
    if args.out:
        res.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from . import plots

    spec = Path(args.input)
    if spec.suffix == ".parquet" and spec.is_file():
        data = str(spec)  # the table 'extract' wrote: read, nothing is re-extracted
        _stage(f"features: read from {spec} (not re-extracted)")
        labelled = "label" in _parquet_columns(spec)
    else:
        data = resolve_input(args.input)
        _note_duplicates(data)
        labelled = "label" in data.columns
    if not labelled:
        _stage("no labels: the figures that need them (classes, metrics, curves) are left out")
    det = _configure_model(_load_model(args.model), args) if args.model else None
    training = {"yes": True, "no": False, None: None}[args.training_data]
    page = plots.write_report(
        data, args.out, detector=det, training_data=training, progress=_progress(args)
    )
    _stage(f"wrote {page}")
    return EXIT_OK


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


# ----------------------------------------------------------------------------- parser


def _add_extract_options(p: argparse.ArgumentParser, cache_default: str) -> None:
    p.add_argument(
        "--groups",
        type=_groups_arg,
        default=("cnn", "fft", "meta"),
        help="feature groups, comma separated (default cnn,fft,meta)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes for decoding, spectrum and metadata (default 1; "
        "-1 = all cores). The CNN runs in the main process on all cores "
        "(onnxruntime threads); with it, --jobs 1 is fastest on face crops (a helper "
        "thread decodes ahead, nothing else competes with the CNN) and --jobs N "
        "alternates N workers with the CNN (for large photos). Without the CNN "
        "(--groups fft,meta), --jobs N runs N workers continuously",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="images per slice of work (64). Peak memory is set by the slice (decoded "
        "images) and the CNN's largest call (at most its batch size, 32 by default, of "
        "these images), not by the number of inputs",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        default=256,
        help="images per cache chunk: the unit of atomic writes and resume (256)",
    )
    p.add_argument("--cache", help=f"feature cache folder ({cache_default})")
    p.add_argument(
        "--crop-faces",
        action="store_true",
        help="crop the largest face before the pixel features (needs deepfeat[face])",
    )
    p.add_argument(
        "--canonical-size",
        type=int,
        default=256,
        metavar="PX",
        help="scale policy of the pixel features: shrink images whose shorter side exceeds "
        "PX to PX (area interpolation; smaller ones stay native, nothing is enlarged); "
        "0 = native resolution (default 256, chosen by docs/benchmarks_generalisation.md)",
    )
    p.add_argument(
        "--sidecar",
        action="append",
        metavar="COL",
        default=[],
        help="use dataset column COL (e.g. DFDC original_width) as a meta_sidecar_* feature "
        "(repeatable). Off by default: a default model uses only what the image file gives; "
        "with it, every input to predict must provide COL",
    )
    _add_quiet(p)


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars (shown only on a terminal)"
    )


def _add_predict_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-missing-sidecar",
        action="store_true",
        help="score inputs that lack the model's sidecar columns with NaN for them "
        "(default: an error, since the scores then differ from training)",
    )
    _add_quiet(p)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from .distributed import add_dask_options

    parser = argparse.ArgumentParser(
        prog="deepfeat",
        description="Tell real face images from deepfakes: CNN + FFT + metadata features, XGBoost.",
        epilog="Run 'deepfeat COMMAND --help' for the options and an example of each command. "
        "Exit codes: 0 ok, 1 user error, 2 usage error, 3 nothing usable.",
    )
    parser.add_argument("--version", action="version", version=f"deepfeat {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from ._calibration import CALIBRATIONS, DEFAULT_CALIBRATION

    def command(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    demo = command(
        "demo",
        "make the synthetic demo set and run extract → train → evaluate",
        "deepfeat demo --n-images 200 --out demo_out",
    )
    demo.add_argument("--out", help="output folder (default: a new temporary folder)")
    demo.add_argument("--n-images", type=int, default=200, help="images to make (default 200)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--groups",
        type=_groups_arg,
        default=("cnn", "fft", "meta"),
        help="feature groups (default cnn,fft,meta)",
    )
    demo.set_defaults(func=_cmd_demo)

    ext = command(
        "extract",
        "extract features of images into a parquet table",
        "deepfeat extract data/dfdc_faces --out features.parquet --jobs 2",
    )
    ext.add_argument(
        "input", help="dataset folder/manifest, plain image folder, glob, or .txt list"
    )
    ext.add_argument(
        "--out",
        required=True,
        help="output .parquet; failures, if any, go to OUT.errors.csv beside it "
        "(feats.parquet → feats.errors.csv)",
    )
    _add_extract_options(ext, "default: OUT.cache; resumes an interrupted run")
    ext.add_argument("--no-cache", action="store_true", help="do not cache or resume")
    add_dask_options(ext)
    ext.set_defaults(func=_cmd_extract)

    train = command(
        "train",
        "train a detector on a labelled dataset or a features parquet",
        "deepfeat train features.parquet --out model/ --calibration isotonic",
    )
    train.add_argument("input", help="labelled dataset or features .parquet from 'extract'")
    train.add_argument("--out", required=True, help="model folder (or .zip) to write")
    _add_extract_options(train, "default: none")
    train.add_argument(
        "--calibration",
        choices=["none", *CALIBRATIONS],
        default=DEFAULT_CALIBRATION,
        help=f"map raw scores to probabilities, fitted on the grouped validation fold "
        f"(default {DEFAULT_CALIBRATION}, chosen by out-of-sample ECE/Brier in "
        "docs/benchmarks.md; isotonic gives coarse steps, smooth joins their centres)",
    )
    train.add_argument(
        "--threads", type=int, default=None, help="XGBoost threads (default: all cores)"
    )
    train.add_argument("--seed", type=int, default=0, help="random seed of splits and trees (0)")
    train.add_argument(
        "--pseudo-fakes",
        default=None,
        metavar="KINDS",
        help="add fakes synthesized from the training reals, comma separated: blend "
        "(self-blended face swaps), upsample (generator up-sampling traces); works with "
        "reals only. Files go under --cache/synthesis (or a temporary folder)",
    )
    train.add_argument(
        "--augment",
        default=None,
        metavar="SPEC",
        help="degrade training images of both classes: 'on' (p=0.5, blur/jpeg/downscale), "
        "a probability '0.3', kinds 'blur,jpeg', or both '0.3:blur,jpeg'",
    )
    add_dask_options(train)
    train.set_defaults(func=_cmd_train)

    pred = command(
        "predict",
        "fake-probabilities, labels and top reasons for images",
        "deepfeat predict model/ photos/ --out predictions.csv",
    )
    pred.add_argument("model", help="model folder or .zip written by 'train'")
    pred.add_argument("inputs", nargs="+", help="images, folders, globs, lists or datasets")
    pred.add_argument("--out", help="CSV to write ('-' for stdout); one image prints JSON")
    pred.add_argument("--top", type=int, default=3, help="reasons listed per image (3)")
    pred.add_argument(
        "--threshold",
        type=float,
        help="decision threshold on probability_fake (default: the model's, 0.5 unless set)",
    )
    pred.add_argument(
        "--fpr",
        type=float,
        help="choose the threshold so that at most this share of the real images of "
        "--reference is flagged as fake (e.g. 0.05)",
    )
    pred.add_argument(
        "--reference",
        metavar="INPUT",
        help="with --fpr: labelled data (its reals are used) or a folder of real images",
    )
    _add_predict_options(pred)
    pred.set_defaults(func=_cmd_predict)

    ev = command(
        "evaluate",
        "metrics of a trained detector on a labelled held-out set",
        "deepfeat evaluate model/ data/test_set --out metrics.json",
    )
    ev.add_argument("model", help="model folder or .zip written by 'train'")
    ev.add_argument("input", help="labelled dataset or features .parquet")
    ev.add_argument("--out", help="write the metrics as JSON")
    _add_predict_options(ev)
    ev.set_defaults(func=_cmd_evaluate)

    ab = command(
        "ablation",
        "grouped cross-validation per feature group, pair and all",
        "deepfeat ablation features.parquet --cv 5",
    )
    ab.add_argument("input", help="labelled dataset or features .parquet")
    _add_extract_options(ab, "default: none")
    ab.add_argument("--cv", type=int, default=5, help="grouped folds (5)")
    ab.add_argument("--seed", type=int, default=0, help="random seed of folds and trees (0)")
    ab.add_argument("--out", help="per-fold results CSV")
    ab.set_defaults(func=_cmd_ablation)

    rep = command(
        "report",
        "EDA and model figures plus one self-contained HTML page",
        "deepfeat report features.parquet --model model/ --out report/",
    )
    rep.add_argument(
        "input",
        help="features .parquet from 'extract' (read, not re-extracted; its paths feed the "
        "picture grids), dataset folder/manifest, or unlabelled images (figures that need "
        "labels are left out with a note)",
    )
    rep.add_argument("--model", help="trained model folder for the model figures")
    rep.add_argument("--out", required=True, help="output folder")
    rep.add_argument(
        "--training-data",
        choices=["yes", "no"],
        help="whether INPUT is the model's training data ('no': held out); the page says so "
        "next to the metrics (default: guessed from the class counts)",
    )
    _add_predict_options(rep)
    rep.set_defaults(func=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    deepfeat 0.1.0
    """
    from .detector import ModelFileError

    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    try:
        return int(args.func(args))
    except (UserError, FileNotFoundError, ValueError, ModelFileError) as exc:
        print(f"deepfeat {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
