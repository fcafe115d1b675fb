"""Benchmark: throughput and memory of feature extraction (`deepfeat extract`, issue 7).

Measured in one run, on the DFDC face crops (224×224 JPEG) of ``../shared/data``:

1. **All three groups vs the raw backbone.** ``extract_table(paths, ImageFeatures())`` (the
   library defaults, no cache: decode, CNN, spectrum, metadata) with ``n_jobs`` 1 and 2,
   against the raw backbone: ``session.run`` of the *same* onnxruntime session (same
   layers, same native input size, same threads) on pre-decoded, preprocessed float32
   batches of the embedder's batch size, i.e. the model alone. Many short trials (256
   images) alternate between the three, in rotating order, so that all see the same machine
   load; reported: best trial of each, the median and quartiles of the per-trial ratios, and
   the ratio of CPU time per image of this process (``n_jobs=1``: all the work runs here),
   which other tenants of a shared machine disturb much less than wall time.
   Target: ≥ 0.9 × raw.
2. **Spectrum + metadata only.** ``deepfeat extract --groups fft,meta --no-cache`` in a
   fresh process with ``--jobs`` 1 and 2: img/s of the extraction phase as printed by the
   command (worker start-up included) and the wall time of the whole process (Python start
   and imports included); plus the steady state in one process (a second pass over the
   same images with the worker pool already running). Target: ≥ 800 img/s on 2 cores.
3. **Peak memory vs number of images.** ``deepfeat extract`` over a list file of N inputs
   for two N; peak RSS (``VmHWM``) of the main process, which holds the onnxruntime session
   and writes the parquet file chunk by chunk, and its resident size sampled every 0.25 s.
   The list has the same make-up at every length: periods of 512 inputs, 256 DFDC (224 px)
   and k140 (256 px) crops alternating, then 256 DFDC crops (each source cycles through its
   images; no cache, so a repeated path is extracted again). The CNN's peak memory is set
   by its largest batch tensor (32 × 224² after an all-DFDC stretch, 16 × 256² + 16 × 224²
   while alternating), so a list whose make-up changed with N would measure that, not
   growth. Target: flat in N.

Usage::

    python scripts/benchmarks/run.py extract           # full run
    python scripts/benchmarks/run.py extract --quick   # fewer images and trials
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench_extract_report import TITLE, _markdown

#: The document this topic regenerates: a section of it (the ``overview`` topic writes
#: the page; ``run.py extract`` prints the section).
DOCUMENT = "docs/benchmarks.md"
#: One line for ``run.py --list``.
SUMMARY = "extraction throughput and memory (deepfeat extract)"

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))
#: ``scripts/benchmarks/run.py`` runs this topic in full mode in a full run (the targets of
#: issue 7 name 1k and 5k images).
FULL_IN_FULL_RUN = True

# VmHWM, not ru_maxrss: a forked child inherits its parent's ru_maxrss (this benchmark
# process is large), while VmHWM belongs to the address space that exec created.
# The sampler thread records VmRSS every 0.25 s: the trace shows whether memory still
# climbs late in the run.
_RSS_SNIPPET = (
    "import re, sys, threading, time\n"
    "from deepfeat.cli import main\n"
    "def rss(key):\n"
    "    status = open('/proc/self/status').read()\n"
    "    return int(re.search(key + r':\\s+(\\d+)', status).group(1))\n"
    "trace, done = [], threading.Event()\n"
    "def sample():\n"
    "    while not done.wait(0.25):\n"
    "        trace.append(rss('VmRSS'))\n"
    "threading.Thread(target=sample, daemon=True).start()\n"
    "rc = main(sys.argv[1:])\n"
    "done.set()\n"
    "print('PEAK_RSS_KIB', rss('VmHWM'))\n"
    "print('RSS_TRACE_KIB', ' '.join(map(str, trace)))\n"
    "sys.exit(rc)\n"
)


def _faces(name: str) -> list[str]:
    folder = SHARED / name
    if not folder.is_dir():
        return []
    exts = (".jpg", ".jpeg", ".png")
    return sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in exts)


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cli(args: list[str], rss: bool = False) -> tuple[str, float]:
    """Run ``deepfeat <args>`` in a fresh interpreter; return (stdout, wall seconds)."""
    cmd = (
        [sys.executable, "-c", _RSS_SNIPPET, *args]
        if rss
        else [
            sys.executable,
            "-m",
            "deepfeat",
            *args,
        ]
    )
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout, wall


def _rate_of(stdout: str) -> float:
    match = re.search(r"\(([\d.]+) img/s\b", stdout)  # "(409.3 img/s over … computed)"
    if not match:
        raise RuntimeError(f"no img/s in output: {stdout!r}")
    return float(match.group(1))


def _all_groups(paths: list[str], trials: int) -> dict:
    import numpy as np

    from deepfeat import ImageFeatures, load_image
    from deepfeat.features._cache import extract_table

    extractors = {n: ImageFeatures(n_jobs=n).fit() for n in (1, 2)}
    for ext in extractors.values():
        extract_table(paths[:16], ext)  # warm-up: session, worker pool, first allocations
    emb = extractors[1].transformers_["cnn"]
    session, spec = emb._get_session(), emb._get_spec()
    prepared = [spec.prepare(load_image(p)) for p in paths]
    bs = int(emb.batch_size)
    batches = [spec.tensor(prepared[i : i + bs]) for i in range(0, len(prepared), bs)]

    def raw() -> None:
        for x in batches:
            session.run(spec.output_names, {spec.input_name: x})

    def full(n_jobs: int) -> None:
        feats, _ = extract_table(paths, extractors[n_jobs])
        assert np.isfinite(feats.to_numpy()).any(axis=1).all()

    runs = {"raw": raw, "jobs1": lambda: full(1), "jobs2": lambda: full(2)}
    rates: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}  # CPU seconds of this process
    order = list(runs)
    for t in range(trials):
        for name in order[t % 3 :] + order[: t % 3]:  # rotate: no setting always goes first
            c0, t0 = time.process_time(), time.perf_counter()
            runs[name]()
            rates[name].append(len(paths) / (time.perf_counter() - t0))
            cpu[name].append(time.process_time() - c0)
    res = {k: round(max(v), 1) for k, v in rates.items()}
    for j in ("jobs1", "jobs2"):
        pairs = [a / r for a, r in zip(rates[j], rates["raw"])]
        res[f"{j}_ratio_best"] = round(res[j] / res["raw"], 3)
        res[f"{j}_ratio_median"] = round(statistics.median(pairs), 3)
        res[f"{j}_ratio_quartiles"] = [
            round(q, 3) for q in statistics.quantiles(pairs, n=4, method="inclusive")[::2]
        ]
    # CPU time per image, all threads of this process (n_jobs=1 does all its work here):
    # the wall-clock ratio if both kept every core busy (no onnxruntime spinning here)
    cpu_raw, cpu_full = statistics.median(cpu["raw"]), statistics.median(cpu["jobs1"])
    res["jobs1_cpu_ratio"] = round(cpu_raw / cpu_full, 3)
    res["cpu_ms_per_image"] = {
        k: round(1e3 * statistics.median(v) / len(paths), 2) for k, v in cpu.items() if k != "jobs2"
    }
    res["trials"] = {k: [round(x, 1) for x in v] for k, v in rates.items()}
    res["cnn"] = {"layers": emb.layers, "resize": emb.resize, "batch_size": bs}
    res["n_features"] = int(extractors[1].n_features_out_)
    return res


def _fft_meta(dataset: Path, paths: list[str], tmp: Path, trials: int) -> dict:
    from deepfeat import ImageFeatures
    from deepfeat.features._cache import extract_table

    cli: dict[int, list[float]] = {1: [], 2: []}
    wall: dict[int, list[float]] = {1: [], 2: []}
    steady: dict[int, list[float]] = {1: [], 2: []}
    for t in range(trials):  # the two settings alternate, so both see the same load
        for jobs in (1, 2):
            out = tmp / f"fm{jobs}_{t}.parquet"
            args = ["extract", str(dataset), "--out", str(out), "--groups", "fft,meta"]
            stdout, seconds = _cli([*args, "--jobs", str(jobs), "--no-cache", "-q"])
            cli[jobs].append(_rate_of(stdout))
            wall[jobs].append(len(paths) / seconds)
    extractors = {j: ImageFeatures(groups=("fft", "meta"), n_jobs=j).fit() for j in (1, 2)}
    for ext in extractors.values():
        extract_table(paths, ext)  # first pass starts the pool
    for _ in range(trials):
        for jobs, ext in extractors.items():
            t0 = time.perf_counter()
            extract_table(paths, ext)
            steady[jobs].append(len(paths) / (time.perf_counter() - t0))
    return {
        f"jobs{j}": {
            "cli_img_s": round(max(cli[j]), 1),
            "cli_img_s_median": round(statistics.median(cli[j]), 1),
            "process_img_s": round(max(wall[j]), 1),
            "steady_img_s": round(max(steady[j]), 1),
            "trials_cli": cli[j],
        }
        for j in (1, 2)
    }


def _memory(dfdc: list[str], k140: list[str], sizes: tuple[int, ...], tmp: Path) -> list[dict]:
    rows = []
    for label, groups, jobs, counts in (
        ("all groups, --jobs 1", "cnn,fft,meta", 1, sizes),
        ("fft,meta, --jobs 2", "fft,meta", 2, sizes),
    ):
        for n in counts:
            listing = tmp / f"list_{n}.txt"
            listing.write_text("\n".join(_memory_list(dfdc, k140, n)) + "\n")
            out = tmp / f"mem_{n}.parquet"
            args = ["extract", str(listing), "--out", str(out), "--groups", groups]
            stdout, wall = _cli([*args, "--jobs", str(jobs), "--no-cache", "-q"], rss=True)
            peak = int(re.search(r"PEAK_RSS_KIB (\d+)", stdout).group(1))  # type: ignore[union-attr]
            trace_line = re.search(r"RSS_TRACE_KIB ?([\d ]*)", stdout).group(1)  # type: ignore[union-attr]
            trace = [int(x) / 1024 for x in trace_line.split()]
            rows.append(
                {
                    "setup": label,
                    "n_inputs": n,
                    "peak_rss_mib": round(peak / 1024, 1),
                    # resident size at the end of each fifth of the run (empty if too short)
                    "rss_fifths_mib": [
                        round(trace[max(0, len(trace) * k // 5 - 1)]) for k in range(1, 6)
                    ]
                    if len(trace) >= 5
                    else [],
                    "img_s": _rate_of(stdout),
                    "wall_s": round(wall, 1),
                }
            )
    return rows


def _memory_list(dfdc: list[str], k140: list[str], n: int) -> list[str]:
    """``n`` inputs of the same make-up at every length (see the module docstring)."""
    out: list[str] = []
    i = j = 0
    while len(out) < n:
        for _ in range(128):  # 256 alternating
            out += [dfdc[i % len(dfdc)], k140[j % len(k140)]]
            i, j = i + 1, j + 1
        for _ in range(256):  # 256 DFDC only
            out.append(dfdc[i % len(dfdc)])
            i += 1
    return out[:n]


def run(quick: bool = False) -> dict:
    """Run the three measurements; return ``{"title", "markdown", "results"}``."""
    dfdc = SHARED / "dfdc_faces"
    paths = _faces("dfdc_faces/faces_224")
    if not paths:
        why = f"real data not available: {dfdc}"
        return {"title": TITLE, "markdown": f"*Skipped: {why}.*", "results": {"skipped": why}}
    k140 = _faces("k140_faces")
    mixed = bool(k140)  # without k140 the memory lists hold DFDC crops only
    n_full = 256
    trials_full = 3 if quick else 11
    trials = 2 if quick else 5
    load_start = _load()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="deepfeat-bench-extract-") as tmp_name:
        tmp = Path(tmp_name)
        full = _all_groups(paths[:n_full], trials_full)
        fm = _fft_meta(dfdc, paths, tmp, trials)
        # 10k too: "deepfeat extract" buffers up to 4096 output rows (one parquet row
        # group, ~19 MB of 1169 float32 columns), which the 1k run never fills
        sizes = (512, 1024) if quick else (1000, 5000, 10000)
        memory = _memory(paths, k140 or paths, sizes, tmp)
    results = {
        "n_images_full": n_full,
        "n_images_fft_meta": len(paths),
        "trials": trials,
        "trials_full": trials_full,
        "cpu_count": os.cpu_count(),
        "load_start": load_start,
        "load_end": _load(),
        "all_groups": full,
        "fft_meta": fm,
        "memory": memory,
        "memory_mixed_sizes": mixed,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return {"title": TITLE, "markdown": _markdown(results), "results": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and trials")
    args = parser.parse_args(argv)
    print(run(quick=args.quick)["markdown"])
