"""The Dask options of ``deepfeat extract`` / ``train`` and the commands they run."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..distributed._client import INSTALL_HINT

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

logger = logging.getLogger(__name__)


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
        "Dask", f"run on a Dask cluster instead of this process (needs {INSTALL_HINT})"
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
        type=positive_int,
        metavar="N",
        help="start a local Dask cluster with N worker processes (1 thread each)",
    )


def positive_int(text: str) -> int:
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
def cli_client(args: argparse.Namespace) -> Iterator[Client]:
    """:func:`dask_client` for the command line.

    A missing extra or an unreachable scheduler raises ``ValueError`` (exit code 1 with one
    line, like every user error; not ``cli.UserError``, which is another class when the CLI
    runs as ``python -m deepfeat.cli``). Dask's own INFO logs are shown only with ``-v``.
    """
    from ..distributed import dask_client
    from ..distributed._client import require_dask

    try:
        require_dask()
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
    from ..distributed import extract_features
    from ..features._spec import extractor_to_json
    from ..features._table import write_features
    from ._common import (
        EXIT_NOTHING_USABLE,
        EXIT_OK,
        all_failed,
        errors_path,
        make_extractor,
        own_output,
        summary_line,
    )

    out = Path(args.out)
    cache = None if getattr(args, "no_cache", False) else getattr(args, "cache", None)
    extractor = make_extractor(args, data)
    with own_output(out), cli_client(args) as client:  # one run per --out
        t0 = time.perf_counter()
        res = extract_features(
            data, client, extractor=extractor, partition_size=args.chunk_size, cache_dir=cache
        )
        errors = errors_path(out)
        if out.suffix.lower() == ".parquet":
            feats, fails = res.compute()
            failed = all_failed(feats[res.feature_names])
            table = feats.loc[~failed].reset_index(drop=True)
            write_features(table, out, extractor_to_json(res.extractor))
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
    print(summary_line(len(data), fails, n_failed, seconds))
    return EXIT_NOTHING_USABLE if n_rows == 0 else EXIT_OK


def train_input(args: argparse.Namespace, client: Client) -> tuple[Any, Any]:
    """(dask feature table, extractor) for ``deepfeat train INPUT`` on Dask."""
    import dask.dataframe as dd

    from ..datasets._load import resolve_input
    from ..distributed import extract_features, read_features_parquet
    from ..distributed._extract import drop_failed_rows
    from ..features._spec import extractor_from_json
    from ._common import make_extractor

    if not isinstance(args.input, str):
        if len(args.input) != 1:
            raise ValueError("several training inputs are not supported with Dask yet")
        args.input = args.input[0]
    spec = Path(args.input)
    if spec.is_file() and spec.suffix == ".parquet":  # the local single-file format
        from ..features._table import read_features

        table, ext_json = read_features(spec)
        extractor = extractor_from_json(ext_json, spec) if ext_json else None
        ddf = dd.from_pandas(table, chunksize=max(1, args.chunk_size), sort=True)
        return ddf, extractor
    if spec.is_dir() and any(spec.glob("part.*.parquet")):  # a dataset from extract on Dask
        ddf, ext_json = read_features_parquet(spec)
        extractor = extractor_from_json(ext_json, spec) if ext_json else None
        return ddf, extractor
    data = resolve_input(args.input)
    if "label" not in data.columns:
        raise ValueError(f"{args.input}: training needs labels (a dataset layout, not a folder)")
    cache = getattr(args, "cache", None)
    res = extract_features(
        data,
        client,
        extractor=make_extractor(args, data),
        partition_size=args.chunk_size,
        cache_dir=cache,
    )
    feats = res.features.map_partitions(
        drop_failed_rows, res.feature_names, meta=res.features._meta
    )
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
    from ..detector._estimator import DeepfakeDetector
    from ..distributed import NothingUsableError, fit_dask
    from ._common import EXIT_NOTHING_USABLE, report_training

    with cli_client(args) as client:
        if table is not None:
            ddf, extractor = table, None
        else:
            ddf, extractor = train_input(args, client)
        det = DeepfakeDetector(
            feature_groups=args.groups,
            features=extractor,
            sidecar=getattr(args, "sidecar", None) or None,
            calibration=None if args.calibration == "none" else args.calibration,
            n_jobs=args.threads,
            random_state=args.seed,
            domain_fpr=getattr(args, "domain_fpr", 0.05) or None,
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
