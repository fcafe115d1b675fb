"""Benchmark: throughput and memory of feature extraction (`deepfeat extract`, issue 7).

Measured in one run, on the DFDC face crops (224×224 JPEG) of ``../shared/data``:

1. **All three groups vs the raw backbone.** ``extract_table(paths, ImageFeatures())`` (the
   library defaults, no cache: decode, CNN, spectrum, metadata) with ``n_jobs`` 1 and 2,
   against the raw backbone: ``session.run`` of the *same* onnxruntime session (same
   layers, same native input size, same threads) on pre-decoded, preprocessed float32
   batches of the embedder's batch size, i.e. the model alone. Trials alternate between
   the three so that all see the same machine load; reported: best trial of each and the
   median of the per-trial ratios. Target: ≥ 0.9 × raw.
2. **Spectrum + metadata only.** ``deepfeat extract --groups fft,meta --no-cache`` in a
   fresh process with ``--jobs`` 1 and 2: img/s of the extraction phase as printed by the
   command (worker start-up included) and the wall time of the whole process (Python start
   and imports included); plus the steady state in one process (a second pass over the
   same images with the worker pool already running). Target: ≥ 800 img/s on 2 cores.
3. **Peak memory vs number of images.** ``deepfeat extract`` over a list file of N inputs
   (DFDC and k140 images alternating from the start, then the rest of DFDC, cycling; repeated
   paths are extracted again, there is no cache) for two N; peak RSS (``VmHWM``) of the
   main process, which holds the onnxruntime session and writes the parquet file chunk by
   chunk. Target: flat in N.

Usage::

    python scripts/bench_extract.py           # full run
    python scripts/bench_extract.py --quick   # fewer images and trials
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))
TITLE = "Extraction throughput and memory (issue 7)"
#: ``scripts/benchmark.py`` runs this topic in full mode in a full run (the targets of
#: issue 7 name 1k and 5k images).
FULL_IN_FULL_RUN = True
RATIO_TARGET = 0.9
FFT_META_TARGET = 800.0

# VmHWM, not ru_maxrss: a forked child inherits its parent's ru_maxrss (this benchmark
# process is large), while VmHWM belongs to the address space that exec created.
_RSS_SNIPPET = (
    "import re, sys\n"
    "from deepfeat.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "status = open('/proc/self/status').read()\n"
    "print('PEAK_RSS_KIB', re.search(r'VmHWM:\\s+(\\d+)', status).group(1))\n"
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
    match = re.search(r"\(([\d.]+) img/s\)", stdout)
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

    def raw() -> float:
        t0 = time.perf_counter()
        for x in batches:
            session.run(spec.output_names, {spec.input_name: x})
        return len(paths) / (time.perf_counter() - t0)

    def full(n_jobs: int) -> float:
        t0 = time.perf_counter()
        feats, _ = extract_table(paths, extractors[n_jobs])
        rate = len(paths) / (time.perf_counter() - t0)
        assert np.isfinite(feats.to_numpy()).any(axis=1).all()
        return rate

    rates: dict[str, list[float]] = {"raw": [], "jobs1": [], "jobs2": []}
    for _ in range(trials):
        rates["raw"].append(raw())
        rates["jobs1"].append(full(1))
        rates["jobs2"].append(full(2))
    res = {k: round(max(v), 1) for k, v in rates.items()}
    for j in ("jobs1", "jobs2"):
        pairs = [a / r for a, r in zip(rates[j], rates["raw"])]
        res[f"{j}_ratio_best"] = round(res[j] / res["raw"], 3)
        res[f"{j}_ratio_median"] = round(statistics.median(pairs), 3)
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


def _memory(images: list[str], sizes: tuple[int, int], tmp: Path) -> list[dict]:
    rows = []
    for label, groups, jobs, counts in (
        ("all groups, --jobs 1", "cnn,fft,meta", 1, sizes),
        ("fft,meta, --jobs 2", "fft,meta", 2, (1000, 5000)),
    ):
        for n in counts:
            listing = tmp / f"list_{n}.txt"
            listing.write_text("\n".join(images[i % len(images)] for i in range(n)) + "\n")
            out = tmp / f"mem_{n}.parquet"
            args = ["extract", str(listing), "--out", str(out), "--groups", groups]
            stdout, wall = _cli([*args, "--jobs", str(jobs), "--no-cache", "-q"], rss=True)
            peak = int(re.search(r"PEAK_RSS_KIB (\d+)", stdout).group(1))  # type: ignore[union-attr]
            rows.append(
                {
                    "setup": label,
                    "n_inputs": n,
                    "peak_rss_mib": round(peak / 1024, 1),
                    "img_s": _rate_of(stdout),
                    "wall_s": round(wall, 1),
                }
            )
    return rows


def run(quick: bool = False) -> dict:
    """Run the three measurements; return ``{"title", "markdown", "results"}``."""
    dfdc = SHARED / "dfdc_faces"
    paths = _faces("dfdc_faces/faces_224")
    if not paths:
        why = f"real data not available: {dfdc}"
        return {"title": TITLE, "markdown": f"*Skipped: {why}.*", "results": {"skipped": why}}
    k140 = _faces("k140_faces")
    # both sources alternate from the first input on, so that every list holds 224- and
    # 256-px images: memory then depends on N only, not on which sizes a short list reached
    everything = [p for pair in zip(paths, k140) for p in pair] + paths[len(k140) :]
    n_full = 256 if quick else 512
    trials = 2 if quick else 5
    load_start = _load()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="deepfeat-bench-extract-") as tmp_name:
        tmp = Path(tmp_name)
        full = _all_groups(paths[:n_full], trials)
        fm = _fft_meta(dfdc, paths, tmp, trials)
        sizes = (200, 1000) if quick else (1000, 5000)
        memory = _memory(everything, sizes, tmp)
    results = {
        "n_images_full": n_full,
        "n_images_fft_meta": len(paths),
        "trials": trials,
        "cpu_count": os.cpu_count(),
        "load_start": load_start,
        "load_end": _load(),
        "all_groups": full,
        "fft_meta": fm,
        "memory": memory,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return {"title": TITLE, "markdown": _markdown(results), "results": results}


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _markdown(r: dict) -> str:
    full, fm = r["all_groups"], r["fft_meta"]
    cnn = full["cnn"]
    best_ratio = max(full["jobs1_ratio_median"], full["jobs2_ratio_median"])
    lines = [
        f"### {TITLE}",
        "",
        f"{r['cpu_count']} CPU cores ({platform.machine()}), 1-min load average "
        f"{r['load_start'][:1]} → {r['load_end'][:1]} (above the core count other processes "
        "competed for the CPU). DFDC face crops, 224×224 JPEG.",
        "",
        f"**All three groups vs the raw backbone** ({r['n_images_full']} images, "
        f"{r['trials']} alternating trials; CNN `layers={cnn['layers']!r}`, "
        f"`resize={cnn['resize']!r}`, batches of {cnn['batch_size']}; "
        f"{full['n_features']} features):",
        "",
        "| | img/s (best) | × raw (best) | × raw (median of trials) |",
        "|---|---:|---:|---:|",
        f"| raw backbone (`session.run` on ready tensors) | {full['raw']:.1f} | 1.00 | 1.00 |",
    ]
    for j in (1, 2):
        lines.append(
            f"| `extract_table`, all groups, `n_jobs={j}` | {full[f'jobs{j}']:.1f} | "
            f"{full[f'jobs{j}_ratio_best']:.2f} | {full[f'jobs{j}_ratio_median']:.2f} |"
        )
    lines += [
        "",
        f"Target ≥ {RATIO_TARGET} × raw: {_verdict(best_ratio >= RATIO_TARGET)} "
        f"(median ratio {best_ratio:.3f}).",
        "",
        f"**Spectrum + metadata only** (all {r['n_images_fft_meta']} DFDC images; best of "
        f"{r['trials']}):",
        "",
        "| `--jobs` | `deepfeat extract` img/s (extraction phase) | whole process img/s | "
        "steady state img/s (warm pool) |",
        "|---:|---:|---:|---:|",
    ]
    for j in (1, 2):
        x = fm[f"jobs{j}"]
        lines.append(
            f"| {j} | {x['cli_img_s']:.0f} | {x['process_img_s']:.0f} | {x['steady_img_s']:.0f} |"
        )
    best_fm = max(fm[f"jobs{j}"]["cli_img_s"] for j in (1, 2))
    lines += [
        "",
        f"Target ≥ {FFT_META_TARGET:.0f} img/s on 2 cores (extraction phase of the command): "
        f"{_verdict(best_fm >= FFT_META_TARGET)} ({best_fm:.0f} img/s). The whole-process "
        "figure adds Python start-up and imports (~2–3 s), paid once per command.",
        "",
        "**Peak memory of `deepfeat extract` vs number of inputs** (main process, "
        "`VmHWM`; no cache):",
        "",
        "| setup | inputs | peak RSS MiB | img/s | wall s |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in r["memory"]:
        lines.append(
            f"| {m['setup']} | {m['n_inputs']} | {m['peak_rss_mib']:.0f} | {m['img_s']:.0f} | "
            f"{m['wall_s']:.1f} |"
        )
    growth = []
    for setup in dict.fromkeys(m["setup"] for m in r["memory"]):
        rows = [m for m in r["memory"] if m["setup"] == setup]
        small, large = rows[0], rows[-1]
        growth.append(
            f"{setup}: {large['peak_rss_mib'] - small['peak_rss_mib']:+.0f} MiB from "
            f"{small['n_inputs']} to {large['n_inputs']} inputs"
        )
    lines += ["", "Growth: " + "; ".join(growth) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and trials")
    args = parser.parse_args()
    print(run(quick=args.quick)["markdown"])


if __name__ == "__main__":
    main()
