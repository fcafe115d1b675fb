"""The ``deepfeat`` command line: a thin layer over the library.

Exit codes: 0 success (also when some files failed and were recorded), 1 user error
(bad arguments, missing input), 2 argparse usage error, 3 nothing usable (every input failed).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_NOTHING_USABLE = 3


class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit code 1."""


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._io import ImageLoadError, load_image
    from .datasets import load_dataset, make_demo_dataset

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="deepfeat-demo-"))
    t0 = time.perf_counter()
    root = make_demo_dataset(out / "data", n_images=args.n_images, random_state=args.seed)
    df = load_dataset(root)
    print(f"demo data set: {root} ({len(df)} images, made in {time.perf_counter() - t0:.1f} s)")
    shapes, failed = [], 0
    for path in df["path"]:
        try:
            shapes.append(load_image(path).shape)
        except ImageLoadError as exc:
            failed += 1
            print(f"  failed: {exc}", file=sys.stderr)
    counts = df["label"].value_counts().reindex([0, 1], fill_value=0)
    print()
    print(f"{'class':<8}{'images':>8}{'share':>8}")
    for label, name in ((0, "real"), (1, "fake")):
        print(f"{name:<8}{counts[label]:>8}{counts[label] / len(df):>8.1%}")
    print(f"{'total':<8}{len(df):>8}")
    print(f"groups: {df['group'].nunique()}, decoded: {len(shapes)}, failed: {failed}")
    if shapes:
        h = sorted({s[0] for s in shapes})
        w = sorted({s[1] for s in shapes})
        print(f"image sizes: height {h[0]}..{h[-1]}, width {w[0]}..{w[-1]}")
    return EXIT_OK if not failed else EXIT_NOTHING_USABLE


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="deepfeat",
        description="Tell real face images from deepfakes: CNN + FFT + metadata features, XGBoost.",
        epilog="Run 'deepfeat COMMAND --help' for the options and an example of each command.",
    )
    parser.add_argument("--version", action="version", version=f"deepfeat {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="make the synthetic demo set and run the pipeline on it",
        description="Make the synthetic demo data set (not a benchmark) and run the pipeline.",
        epilog="example: deepfeat demo --n-images 200 --out demo_out",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out", help="output folder (default: a new temporary folder)")
    demo.add_argument("--n-images", type=int, default=200, help="images to make (default 200)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    deepfeat 0.1.0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    try:
        return int(args.func(args))
    except (UserError, FileNotFoundError, ValueError) as exc:
        print(f"deepfeat {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
