"""Benchmark :class:`deepfeat.FaceCropper`: speed of detect + crop, detection rate on real faces.

Real face crops from ``../shared/data`` (k140: 256² FFHQ and StyleGAN faces; DFDC: 224²
video-frame faces) are pasted at random places into 768×768 noisy grey canvases (a stand-in
for generated portraits and photos), so where the face is is known exactly. Reported:

* milliseconds per image for ``crop()`` (detection + crop) on the 768² canvases, on the bare
  224²/256² face crops and on a few 4000×3000 "phone photos" (a 3× up-scaled face pasted
  into noise), as wall-clock median / 90th percentile and as process CPU time (the machine
  may be shared: CPU time is the steadier number);
* detection rate: the share of pasted faces that are found *and* whose square crop contains
  the pasted face's centre (or overlaps it with IoU > 0.3), and the share of bare crops in
  which a face is found.

Without the shared data only the timings on face-free noise canvases are reported.

Usage::

    .venv/bin/python scripts/benchmarks/run.py face            # 30 faces per source
    .venv/bin/python scripts/benchmarks/run.py face --quick    # 5 faces per source

``run(quick)`` returns ``{"title", "markdown", "results"}`` for a benchmark driver.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

#: The document this topic regenerates: a section of it (the ``overview`` topic writes
#: the page; ``run.py face`` prints the section).
DOCUMENT = "docs/benchmarks.md"
#: One line for ``run.py --list``.
SUMMARY = "FaceCropper: detect + crop speed, detection rate on real faces"

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))
CANVAS = 768
PHOTO = (3000, 4000)
SOURCES = {
    "k140 real (FFHQ)": ("k140_faces", "real"),
    "k140 ai (StyleGAN)": ("k140_faces", "ai"),
    "DFDC (224², real+fake)": ("dfdc_faces", "faces_224"),
}


def _pick(files: list[Path], n: int) -> list[Path]:
    files = sorted(files)
    if not files:
        return []
    idx = np.linspace(0, len(files) - 1, num=min(n, len(files))).round().astype(int)
    return [files[i] for i in idx]


def _canvas(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return np.clip(rng.normal(128, 20, (*shape, 3)), 0, 255).astype(np.uint8)


def _paste(face: np.ndarray, rng: np.random.Generator, shape: tuple[int, int]):
    canvas = _canvas(rng, shape)
    h, w = face.shape[:2]
    y = int(rng.integers(0, shape[0] - h + 1))
    x = int(rng.integers(0, shape[1] - w + 1))
    canvas[y : y + h, x : x + w] = face
    return canvas, (x, y, x + w, y + h)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _on_face(box, placed) -> bool:
    cx, cy = (placed[0] + placed[2]) / 2, (placed[1] + placed[3]) / 2
    inside = box[0] <= cx < box[2] and box[1] <= cy < box[3]
    return inside or _iou(box, placed) > 0.3


def _timed(cropper, images: list[np.ndarray]) -> dict[str, float]:
    """``crop()`` on every image (one detection each): wall and CPU milliseconds per image."""
    walls = []
    cpu0 = time.process_time()
    for img in images:
        t0 = time.perf_counter()
        cropper.crop(img)
        walls.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / max(len(images), 1)
    return {
        "n": len(images),
        "wall_ms_median": 1000 * float(np.median(walls)) if walls else float("nan"),
        "wall_ms_p90": 1000 * float(np.percentile(walls, 90)) if walls else float("nan"),
        "cpu_ms_mean": 1000 * cpu,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark.

    Parameters
    ----------
    quick : bool, default=False
        5 faces per source and one phone photo instead of 30 and three.

    Returns
    -------
    dict
        ``title`` (str), ``markdown`` (str, a report with tables) and ``results`` (the
        numbers: ``config``, ``timing`` per input kind, ``detection`` per source).
    """
    import cv2

    from deepfeat import FaceCropper, load_image

    n_faces = 5 if quick else 30
    n_photos = 1 if quick else 3
    rng = np.random.default_rng(0)
    cropper = FaceCropper(no_face="skip")
    cropper.detect(np.zeros((64, 64, 3), dtype=np.uint8))  # build the sessions first

    faces: dict[str, list[tuple[str, np.ndarray]]] = {}
    for label, (folder, sub) in SOURCES.items():
        files = _pick(list((SHARED_DATA / folder / sub).glob("*.jpg")), n_faces)
        if files:
            faces[label] = [(p.name, load_image(p)) for p in files]
    if not faces:
        logger.warning("no real data under %s: timing on noise canvases only", SHARED_DATA)

    timing: dict[str, dict[str, float]] = {}
    detection: dict[str, dict[str, Any]] = {}
    all_canvases, all_crops = [], []
    for label, items in faces.items():
        pasted, raw_found, misses = 0, 0, []
        canvases = []
        for name, face in items:
            canvas, placed = _paste(face, rng, (CANVAS, CANVAS))
            canvases.append(canvas)
            box = cropper.crop_box(canvas)
            if box is not None and _on_face(box, placed):
                pasted += 1
            else:
                misses.append(name)
            raw_found += bool(cropper.detect(face))
        detection[label] = {
            "n": len(items),
            "pasted_rate": pasted / len(items),
            "raw_rate": raw_found / len(items),
            "misses": misses,
        }
        all_canvases.extend(canvases)
        all_crops.extend(face for _, face in items)

    if not all_canvases:  # no data: face-free canvases still time the detector
        all_canvases = [_canvas(rng, (CANVAS, CANVAS)) for _ in range(n_faces)]
        all_crops = [_canvas(rng, (224, 224)) for _ in range(n_faces)]
    timing[f"{CANVAS}×{CANVAS} canvas"] = _timed(cropper, all_canvases)
    sizes = sorted({f"{c.shape[1]}²" for c in all_crops})
    timing[f"bare face crop ({', '.join(sizes)})"] = _timed(cropper, all_crops)
    photos = []
    for face in all_crops[:n_photos]:
        big = cv2.resize(
            face, (3 * face.shape[1], 3 * face.shape[0]), interpolation=cv2.INTER_CUBIC
        )
        photos.append(_paste(big, rng, PHOTO)[0])
    timing[f"{PHOTO[1]}×{PHOTO[0]} photo"] = _timed(cropper, photos)

    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cropper.get_params().items()}
    results = {
        "config": config,
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(),
        },
        "timing": timing,
        "detection": detection,
    }
    return {
        "title": "Face detection and cropping (FaceCropper: MTCNN on onnxruntime)",
        "markdown": _markdown(results),
        "results": results,
    }


def _markdown(results: dict[str, Any]) -> str:
    cfg = results["config"]
    machine = results["machine"]
    lines = [
        f"Settings: `max_side={cfg['max_side']}`, `min_face_size={cfg['min_face_size']}`, "
        f"`margin={cfg['margin']}`, `n_threads={cfg['n_threads']}`; "
        f"{machine['cpus']} CPUs, 1-min load average {machine['load_avg_1min']}.",
        "",
        "| input | n | wall ms/img (median) | wall ms/img (p90) | CPU ms/img |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, t in results["timing"].items():
        lines.append(
            f"| {label} | {t['n']} | {t['wall_ms_median']:.0f} | {t['wall_ms_p90']:.0f} "
            f"| {t['cpu_ms_mean']:.0f} |"
        )
    lines.append("")
    if results["detection"]:
        lines += [
            f"Detection rate: a face found and its square crop on the pasted face "
            f"(contains its centre or IoU > 0.3), faces pasted into {CANVAS}² noise canvases; "
            "and a face found in the bare crop.",
            "",
            "| source | n | pasted into canvas | bare crop | misses |",
            "|---|---:|---:|---:|---|",
        ]
        for label, d in results["detection"].items():
            lines.append(
                f"| {label} | {d['n']} | {d['pasted_rate']:.0%} | {d['raw_rate']:.0%} "
                f"| {', '.join(d['misses']) or '-'} |"
            )
    else:
        lines.append(f"Detection rate: n/a (no real data under `{SHARED_DATA}`).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="5 faces per source")
    args = parser.parse_args(argv)
    out = run(quick=args.quick)
    print(f"## {out['title']}\n\n{out['markdown']}")
