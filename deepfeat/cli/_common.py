"""Shared pieces of the command line: exit codes, errors, logging, progress, extraction."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


EXIT_OK = 0


EXIT_USER_ERROR = 1


EXIT_NOTHING_USABLE = 3


class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit code 1."""


def progress_on(args: argparse.Namespace) -> bool:
    """Progress bars: on a terminal, unless ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def stage_line(text: str, stream: Any = None) -> None:
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


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def note_duplicates(data: pd.DataFrame) -> None:
    dups = data.attrs.get("duplicates") or {}
    if dups:
        a, b = next(iter(dups.items()))
        print(
            f"note: {len(dups)} input(s) are the same file as another input (a symlink or a "
            f"repeat), e.g. {a} = {b}; each is scored as given",
            file=sys.stderr,
        )


@contextlib.contextmanager
def own_output(out: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``out`` (:class:`deepfeat._lock.OutputLock`) or raise a
    one-line UserError when another run holds it."""
    from .._lock import OutputBusyError, OutputLock

    try:
        lock = OutputLock(out).acquire()
    except OutputBusyError as exc:
        raise UserError(str(exc)) from None
    try:
        yield
    finally:
        lock.release()


def groups_arg(text: str) -> tuple[str, ...]:
    from .._schema import GROUPS, check_groups  # light: parsing must not import scikit-learn

    try:
        return check_groups(tuple(g.strip() for g in text.split(",") if g.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"groups must be a comma list of {','.join(GROUPS)}"
        ) from None


def make_extractor(args: argparse.Namespace, data: pd.DataFrame):
    from ..features._combined import ImageFeatures
    from ..features._meta import MetadataFeatures

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


def extract_dataset(args: argparse.Namespace, data: pd.DataFrame, cache: Path | None):
    """Features for ``data`` (cached/resumable when ``cache``), plus failures and rate."""
    from ..features._cache import extract_table

    extractor = make_extractor(args, data)
    t0 = time.perf_counter()
    feats, fails = extract_table(
        data, extractor, cache_dir=cache, progress=progress_on(args), chunk_size=args.chunk_size
    )
    return extractor, feats, fails, time.perf_counter() - t0


def summary_line(
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


def write_failures(out: Path, fails: pd.DataFrame) -> str:
    """Write the failure records of a run on ``out`` to :func:`errors_path` (or remove a
    stale list when there are none); the words for the summary line."""
    errors = errors_path(out)
    if len(fails):
        fails.to_csv(errors, index=False)
        return f"failures: {errors}"
    errors.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
    return "no failures"


def all_failed(feats: pd.DataFrame) -> Any:
    return feats.isna().all(axis=1).to_numpy()


def print_metrics(metrics: dict[str, Any], title: str) -> None:
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


def report_training(det: Any, out: str) -> int:
    """Print validation metrics, group gain shares and leakage warnings; save the model."""
    origin = det.training_summary_.get("origin")
    if origin:
        print("training set by origin: " + ", ".join(f"{k} {v}" for k, v in origin.items()))
    if det.validation_metrics_:
        print_metrics(
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
    for text in getattr(det, "source_warnings_", []):
        print(f"SOURCE WARNING: {text}", file=sys.stderr)
    det.save(out)
    print(f"saved {out}")
    return EXIT_OK


def load_model(path: str):
    """The saved detector at ``path`` (:meth:`DeepfakeDetector.load`)."""
    from ..detector._estimator import DeepfakeDetector

    return DeepfakeDetector.load(path)


def configure_model(det: Any, args: argparse.Namespace) -> Any:
    """Prediction options shared by predict, evaluate and report."""
    return det.set_params(
        allow_missing_sidecar=bool(getattr(args, "allow_missing_sidecar", False)),
        progress=progress_on(args),
    )


def reason_text(row: Any) -> str:
    return "; ".join(f"{name} {value:+.3f}" for name, value in row)


def add_threshold_options(p: Any, reference_help: str, default: str) -> None:
    """``--threshold T | --fpr F --reference INPUT`` (read by :func:`set_threshold`)."""
    p.add_argument(
        "--threshold",
        type=float,
        help=f"decision threshold on probability_fake (default: {default})",
    )
    p.add_argument(
        "--fpr",
        type=float,
        help="choose the threshold so that at most this share of the real images of "
        "--reference is flagged as fake (e.g. 0.05)",
    )
    p.add_argument("--reference", metavar="INPUT", help=reference_help)


def set_threshold(det: Any, args: argparse.Namespace) -> None:
    """``--threshold T`` or ``--fpr F --reference INPUT`` (reals of INPUT)."""
    import numpy as np

    from ..datasets._load import resolve_input

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
    stage_line(
        f"threshold {det.threshold:.4f}: at most {args.fpr:.1%} of the {n_real} real images "
        f"of {args.reference} flagged as fake",
        stream=sys.stderr,
    )


def prediction_input(det, spec_list: Sequence[str]):
    import pandas as pd

    from ..datasets._load import duplicate_paths, resolve_input

    frames = [resolve_input(s) for s in spec_list]
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    data.attrs["duplicates"] = duplicate_paths(data["path"])
    note_duplicates(data)
    if det.features_ is None:
        raise UserError("this model was trained on a feature table without extractor settings")
    return data
