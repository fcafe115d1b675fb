"""The argument parser of ``deepfeat`` and :func:`main`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .._version import __version__
from ._common import (
    EXIT_OK,
    EXIT_USER_ERROR,
    UserError,
    add_threshold_options,
    configure_logging,
    groups_arg,
)
from ._dask import add_dask_options
from ._extract import cmd_demo, cmd_extract
from ._score import cmd_ablation, cmd_evaluate, cmd_predict, cmd_report
from ._serve import add_serve_arguments, cmd_serve
from ._train import cmd_train
from ._video import add_video_options, cmd_faces

logger = logging.getLogger(__name__)


def add_extract_options(p: argparse.ArgumentParser, cache_default: str) -> None:
    p.add_argument(
        "--groups",
        type=groups_arg,
        default=("cnn", "fft", "meta"),
        help="feature groups, comma separated: cnn, fft, forensic (opt-in residual traces "
        "at native resolution), meta (default cnn,fft,meta)",
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
    add_quiet(p)


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars (shown only on a terminal)"
    )


def add_predict_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-missing-sidecar",
        action="store_true",
        help="score inputs that lack the model's sidecar columns with NaN for them "
        "(default: an error, since the scores then differ from training)",
    )
    add_quiet(p)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""

    parser = argparse.ArgumentParser(
        prog="deepfeat",
        description="Tell real face images from deepfakes: CNN + FFT + metadata features, XGBoost.",
        epilog="Run 'deepfeat COMMAND --help' for the options and an example of each command. "
        "Exit codes: 0 ok (some inputs may have failed: see the error column or OUT.errors.csv), "
        "1 user error, 2 usage error, 3 nothing usable (every input failed).",
    )
    parser.add_argument("--version", action="version", version=f"deepfeat {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from ..detector._calibration import CALIBRATIONS, DEFAULT_CALIBRATION
    from ..video._io import DEFAULT_AGGREGATE

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
        type=groups_arg,
        default=("cnn", "fft", "meta"),
        help="feature groups (default cnn,fft,meta)",
    )
    demo.set_defaults(func=cmd_demo)

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
    add_extract_options(ext, "default: OUT.cache; resumes an interrupted run")
    ext.add_argument("--no-cache", action="store_true", help="do not cache or resume")
    add_dask_options(ext)
    ext.set_defaults(func=cmd_extract)

    train = command(
        "train",
        "train a detector on a labelled dataset or a features parquet",
        "deepfeat train features.parquet --out model/ --calibration isotonic",
    )
    train.add_argument(
        "input",
        nargs="+",
        help="labelled dataset(s) or features .parquet from 'extract'; several inputs are "
        "several sources (each named after its file or folder; a 'source' column wins), "
        "audited by the source audit and covered by the out-of-domain threshold",
    )
    train.add_argument("--out", required=True, help="model folder (or .zip) to write")
    train.add_argument(
        "--domain-fpr",
        type=float,
        default=0.05,
        help="share of held-out training images the out-of-domain warning may flag (0.05); "
        "0 turns the warning off",
    )
    add_extract_options(train, "default: none")
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
    train.set_defaults(func=cmd_train)

    faces = command(
        "faces",
        "cut face crops out of videos into the faces_224/ + metadata.csv layout",
        "deepfeat faces dfdc_train_part_0/ --out faces/ --frames 16",
    )
    faces.add_argument(
        "inputs",
        nargs="+",
        help="video files or folders (searched recursively for .mp4 .avi .mov .mkv .webm); "
        "labels come from a DFDC metadata.json beside the videos, if any",
    )
    faces.add_argument(
        "--out",
        required=True,
        help="output folder: faces_<size>/<video stem>_<frame>.jpg and metadata.csv (read by "
        "load_dataset as the dfdc layout); failures, if any, go to OUT.errors.csv beside it. "
        "Re-running skips the videos already done. Exit code 3 when no crop was made",
    )
    add_video_options(faces, "frames sampled per video, spread evenly over the clip (16)")
    add_quiet(faces)
    faces.set_defaults(func=cmd_faces)

    pred = command(
        "predict",
        "fake-probabilities, labels and top reasons for images and videos",
        "deepfeat predict model/ photos/ clip.mp4 --out predictions.csv",
    )
    pred.add_argument("model", help="model folder or .zip written by 'train'")
    pred.add_argument(
        "inputs",
        nargs="+",
        help="images, videos, folders (of either), globs, lists or datasets",
    )
    pred.add_argument(
        "--out",
        help="CSV to write ('-' for stdout); one image or one video prints JSON",
    )
    pred.add_argument(
        "--aggregate",
        choices=("mean", "logit", "topk"),
        default=DEFAULT_AGGREGATE,
        help="videos: how frame probabilities make one per video: mean probability, mean "
        f"log-odds, mean of the top quarter (default {DEFAULT_AGGREGATE}, chosen by "
        "docs/benchmarks_video.md)",
    )
    pred.add_argument(
        "--per-frame", action="store_true", help="videos: add a row per sampled frame"
    )
    add_video_options(pred, "videos: frames scored per video, spread evenly (16)")
    pred.add_argument("--top", type=int, default=3, help="reasons listed per image (3)")
    add_threshold_options(
        pred,
        "with --fpr: labelled data (its reals are used) or a folder of real images",
        default="the model's, 0.5 unless set",
    )
    add_predict_options(pred)
    pred.set_defaults(func=cmd_predict)

    ev = command(
        "evaluate",
        "metrics of a trained detector on a labelled held-out set",
        "deepfeat evaluate model/ data/test_set --out metrics.json",
    )
    ev.add_argument("model", help="model folder or .zip written by 'train'")
    ev.add_argument("input", help="labelled dataset or features .parquet")
    ev.add_argument("--out", help="write the metrics as JSON")
    add_predict_options(ev)
    ev.set_defaults(func=cmd_evaluate)

    ab = command(
        "ablation",
        "grouped cross-validation per feature group, pair and all",
        "deepfeat ablation features.parquet --cv 5",
    )
    ab.add_argument("input", help="labelled dataset or features .parquet")
    add_extract_options(ab, "default: none")
    ab.add_argument("--cv", type=int, default=5, help="grouped folds (5)")
    ab.add_argument("--seed", type=int, default=0, help="random seed of folds and trees (0)")
    ab.add_argument("--out", help="per-fold results CSV")
    ab.set_defaults(func=cmd_ablation)

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
    add_predict_options(rep)
    rep.set_defaults(func=cmd_report)

    srv = command(
        "serve",
        "a saved model as a local HTTP service with a drop-an-image page (deepfeat[serve])",
        "deepfeat serve model/ --port 8000 --reference real_faces/",
    )
    add_serve_arguments(srv)
    add_predict_options(srv)
    srv.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    deepfeat 0.1.0
    """
    from .._schema import ModelFileError

    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
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
