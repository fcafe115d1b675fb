"""``deepfeat serve``: a saved model as a local HTTP service (needs ``deepfeat[serve]``)."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import (
    EXIT_OK,
    UserError,
    add_threshold_options,
    configure_model,
    load_model,
    set_threshold,
    stage_line,
)

TOKEN_ENV = "DEEPFEAT_TOKEN"


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model folder or .zip written by 'train'")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_threshold_options(
        p,
        "real images (or labelled data: its reals are used): their mean radial spectrum "
        "is drawn next to each image's on the page, and --fpr is measured on them",
        default="the model's",
    )
    p.add_argument(
        "--token",
        help=f"require 'Authorization: Bearer TOKEN' on every /v1/ route (default: the "
        f"{TOKEN_ENV} environment variable; none when unset)",
    )
    p.add_argument("--top", type=int, default=3, help="reasons listed per image (3)")
    p.add_argument("--max-body-mb", type=float, default=20.0, help="request body limit in MB (20)")
    p.add_argument("--max-files", type=int, default=32, help="files per request (32)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request (60)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="prediction threads (1: each CNN run already uses every core; queued "
        "requests are scored together in one batch)",
    )
    p.add_argument(
        "--max-pending",
        type=int,
        default=64,
        help="requests queued or running before new ones get a 503 (64)",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..serve import PredictionService, ServeLimits, create_app
        from ..serve._service import reference_spectrum
    except ImportError as exc:
        raise UserError(
            f"deepfeat serve needs the optional extra: pip install deepfeat[serve] ({exc})"
        ) from exc
    from ..datasets._load import resolve_input

    limits = ServeLimits(
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        max_files=args.max_files,
        timeout=args.timeout,
        workers=args.workers,
        max_pending=args.max_pending,
    )
    det = configure_model(load_model(args.model), args)
    det.set_params(progress=False)
    reference = args.reference
    if args.fpr is None:
        args.reference = None  # here --reference alone is the spectrum reference
    set_threshold(det, args)
    source = "model"
    if args.threshold is not None:
        source = "--threshold"
    elif args.fpr is not None:
        source = f"--fpr {args.fpr} on the reals of {reference}"
    ref = None
    if reference:
        ref = reference_spectrum(det, resolve_input(reference), source=str(reference))
        if ref is not None:
            stage_line(f"reference spectrum: mean of {ref['n_images']} real images of {reference}")
    service = PredictionService(
        det,
        limits=limits,
        top=args.top,
        reference=ref,
        model_path=str(args.model),
        threshold_source=source,
    ).start()
    token = args.token or os.environ.get(TOKEN_ENV) or None
    app = create_app(service, token=token)
    stage_line(
        f"serving {args.model} on http://{args.host}:{args.port}/ "
        f"(threshold {det.threshold:.4f}; token {'required' if token else 'off'}; "
        f"warm-up {service.warmup_seconds:.2f} s)",
        stream=sys.stderr,
    )
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    finally:
        service.close()
    return EXIT_OK
