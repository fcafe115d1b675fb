"""Benchmark: parse cost of :func:`deepfeat.read_metadata` (ms per file).

Measures, on the real data under ``../shared/data`` (``DEEPFEAT_SHARED_DATA`` overrides it):

* ``read_metadata`` on DFDC face crops (``dfdc_faces/faces_224``, small JPEGs without EXIF),
* ``read_metadata`` on the camera/phone JPEGs of ``exif_samples`` (rich EXIF, MakerNotes),
* ``exifread.process_file(details=False)`` alone on the same files, for comparison.

Each figure is the median over repeats of (total time / number of files), wall-clock and
CPU (``time.process_time``), files read from the page cache (one warm-up pass first).
Run ``python scripts/benchmarks/run.py metadata`` (add ``--quick`` for fewer files and repeats);
:func:`run` returns the same table for ``scripts/benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: The document this topic regenerates: a section of it (the ``overview`` topic writes
#: the page; ``run.py metadata`` prints the section).
DOCUMENT = "docs/benchmarks.md"
#: One line for ``run.py --list``.
SUMMARY = "parse cost of read_metadata (ms per file)"

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))

TITLE = "Metadata parse cost"


def _jpegs(folder: Path, limit: int | None) -> list[Path]:
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    return files[:limit] if limit else files


def _ms_per_file(
    func: Callable[[Path], object], files: Sequence[Path], repeats: int
) -> tuple[float, float]:
    """Median wall-clock and CPU milliseconds per file."""
    for p in files:  # warm-up: page cache, imports, compiled patterns
        func(p)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for p in files:
            func(p)
        wall.append((time.perf_counter() - t0) / len(files) * 1e3)
        cpu.append((time.process_time() - c0) / len(files) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def _exifread_only(path: Path) -> object:
    import exifread

    with open(path, "rb") as fh:
        return exifread.process_file(fh, details=False, extract_thumbnail=False)


def run(quick: bool = False) -> dict:
    """Time the metadata reader; return ``{"title", "markdown", "results"}``.

    Parameters
    ----------
    quick : bool, default=False
        Fewer files (200 DFDC crops instead of 1000) and one repeat instead of five.
    """
    from deepfeat import read_metadata

    repeats = 1 if quick else 5
    dfdc = _jpegs(SHARED_DATA / "dfdc_faces" / "faces_224", 200 if quick else 1000)
    exif = _jpegs(SHARED_DATA / "exif_samples" / "jpg", None)

    cases = [
        ("read_metadata", "DFDC face crops (224×224 JPEG, no EXIF)", read_metadata, dfdc),
        ("read_metadata", "exif_samples JPEGs (camera EXIF)", read_metadata, exif),
        ("exifread alone", "DFDC face crops", _exifread_only, dfdc),
        ("exifread alone", "exif_samples JPEGs", _exifread_only, exif),
    ]
    exif_logger = logging.getLogger("exifread")
    level = exif_logger.level
    exif_logger.setLevel(logging.ERROR)  # exifread alone logs every corrupt sample
    results = []
    try:
        for what, data, func, files in cases:
            if not files:
                results.append(
                    {"what": what, "data": data, "files": 0, "ms_per_file": None, "cpu_ms": None}
                )
                continue
            wall, cpu = _ms_per_file(func, files, repeats)
            results.append(
                {
                    "what": what,
                    "data": data,
                    "files": len(files),
                    "ms_per_file": round(wall, 3),
                    "cpu_ms": round(cpu, 3),
                }
            )
    finally:
        exif_logger.setLevel(level)

    lines = [
        f"### {TITLE}",
        "",
        f"Median of {repeats} pass(es), files in the page cache, {os.cpu_count()} CPU(s); "
        "wall-clock and CPU time per file (CPU time is the robust figure on a busy machine).",
        "",
        "| measured | data | files | wall ms / file | CPU ms / file |",
        "|---|---|---:|---:|---:|",
    ]
    for r in results:
        if r["ms_per_file"] is None:
            wall = cpu = "n/a (data absent)"
        else:
            wall, cpu = f"{r['ms_per_file']:.3f}", f"{r['cpu_ms']:.3f}"
        lines.append(f"| {r['what']} | {r['data']} | {r['files']} | {wall} | {cpu} |")
    return {"title": TITLE, "markdown": "\n".join(lines) + "\n", "results": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer files, one repeat")
    args = parser.parse_args(argv)
    print(run(quick=args.quick)["markdown"])
