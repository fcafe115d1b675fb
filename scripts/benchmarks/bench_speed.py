"""Benchmark (issue 21): the speed ladder, each step before and after, in one run.

Every row is timed on the same images (real DFDC and k140 face crops, 3:1, from
``../shared/data``; generated JPEGs without it) in one interleaved block: each trial runs
every row once, in a rotated order, so load from other processes hits all rows alike. The
reference is the **raw fp32 full-graph backbone**: ``session.run`` of the bundled
``efficientnet_lite0.onnx`` on ready float32 batches (model time only, nothing decoded).
Reported per row: best img/s, the median over trials of the per-trial ratio to the
reference, and CPU ms per image (this process's threads plus its worker processes).

Steps measured:

1. **trimmed graph**: the default ``layers="mid"`` reads stem … s6 only; the bundled
   ``efficientnet_lite0_mid.onnx`` (``scripts/backbone/trim.py``) stops there. Before =
   the full file, after = the trimmed one, raw and in ``CNNEmbedder`` / ``ImageFeatures``.
2. **int8**: the statically quantised full graph (``precision="int8"``); its AUC cost is
   measured by the ``precision`` topic (read from ``docs/benchmarks_precision.json``).
3. **overlap**: ``ImageFeatures(n_jobs=1)`` decodes the next slice in a helper thread while
   this one runs spectrum, metadata and CNN (the default), against the helper computing
   spectrum and metadata too, concurrently with the CNN (``_combined.GROUPS_AHEAD``).
4. **spectrum + metadata** alone with ``n_jobs=1`` and ``2`` (the ``--jobs 2`` goal).
5. **torch peer**: ``bench_cnn._torch_peer`` (needs the ``export`` extra).
6. **a shallower cut** (not shipped): the graph cut after s5 (raw speed, built here with
   ``onnx.utils.Extractor``) and the AUC that dropping the s6 (and s5) columns costs: the
   default extractor's features of ``dfdc_faces`` and ``k140_faces`` minus those columns (the
   exact features of the shallower graph), ``DeepfakeDetector()`` grouped 5-fold in each
   source and cross-source. Full mode only.

Rows whose features must not change are checked for equality on these images; the AUC of
the default setup on both dev sets is that of the in-domain section of the same report.

Usage::

    python scripts/benchmarks/run.py speed           # 256 images, 5 trials
    python scripts/benchmarks/run.py speed --quick   # 64 images, 2 trials
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench_speed_report import REFERENCE, _goals, _markdown

#: The document this topic regenerates: a section of it (the ``overview`` topic writes
#: the page; ``run.py speed`` prints the section).
DOCUMENT = "docs/benchmarks.md"
#: One line for ``run.py --list``.
SUMMARY = "the speed ladder: trimmed graph, int8, overlap, torch peer"

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))
TITLE = "Speed ladder: trimmed graph, int8, overlap, torch peer (issue 21)"
FULL_IN_FULL_RUN = True


def _images(n: int, tmp: Path) -> tuple[list[str], str]:
    dfdc = sorted((SHARED / "dfdc_faces").rglob("*.jpg"))
    k140 = sorted((SHARED / "k140_faces").rglob("*.jpg"))
    n_k = n // 4
    if len(dfdc) >= n - n_k and len(k140) >= n_k:
        picked = [str(p) for p in dfdc[: n - n_k] + k140[:n_k]]
        return picked, f"{n - n_k} DFDC (224 px) + {n_k} k140 (256 px) face crops"
    import bench_cnn

    return bench_cnn._images(n, tmp)


def _worker_cpu() -> float:
    """CPU seconds so far of the reusable loky workers (the ``n_jobs > 1`` processes)."""
    try:
        from joblib.externals.loky.reusable_executor import _executor
    except ImportError:  # pragma: no cover
        return 0.0
    if _executor is None:
        return 0.0
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in list(getattr(_executor, "_processes", {}) or {}):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


@contextlib.contextmanager
def _full_graph():
    """Make CNNEmbedder run the full fp32 file (the state before the trimmed graph)."""
    from deepfeat.features import _cnn

    original = _cnn._run_file
    _cnn._run_file = lambda name, precision, outputs: _cnn._verified_backbone(name, precision)
    try:
        yield
    finally:
        _cnn._run_file = original


@contextlib.contextmanager
def _groups_ahead():
    from deepfeat.features import _combined

    _combined.GROUPS_AHEAD = True
    try:
        yield
    finally:
        _combined.GROUPS_AHEAD = False


def _cut_after_s5(source: Path, tmp: Path) -> Path | None:
    """The bundled graph cut after stage s5, for timing only (``None`` without ``onnx``)."""
    try:
        import onnx
        from onnx.utils import Extractor
    except ImportError:
        return None
    outs = [f"{st}_{k}" for st in ("stem", "s1", "s2", "s3", "s4", "s5") for k in ("mean", "std")]
    path = tmp / "cut_after_s5.onnx"
    onnx.save(Extractor(onnx.load(str(source))).extract_model(["image"], outs), str(path))
    return path


def _rows(paths: list[str], tmp: str) -> tuple[dict, dict]:
    """name -> (step, callable returning the features or None); and the raw sessions."""
    from deepfeat import CNNEmbedder, ImageFeatures, load_image
    from deepfeat._onnx import cpu_session
    from deepfeat.features._backbone import _run_file, _verified_backbone
    from deepfeat.features._cache import extract_table

    emb = CNNEmbedder().fit()
    spec = emb._get_spec()
    by_shape: dict[tuple, list[np.ndarray]] = {}
    for p in paths:
        img = spec.prepare(load_image(p))
        by_shape.setdefault(img.shape, []).append(img)
    bs = int(emb.batch_size)
    batches = [spec.tensor(v[i : i + bs]) for v in by_shape.values() for i in range(0, len(v), bs)]
    outs = spec.output_names
    name = "efficientnet_lite0"
    files = {
        REFERENCE: _verified_backbone(name, "fp32"),
        "raw fp32 trimmed graph": _run_file(name, "fp32", tuple(outs)),
        "raw int8 full graph": _verified_backbone(name, "int8"),
    }
    cut = _cut_after_s5(Path(files[REFERENCE]), Path(tmp))
    if cut is not None:
        files["raw fp32 graph cut after s5 (not shipped)"] = str(cut)
    sessions = {k: cpu_session(f, None, spin=False) for k, f in files.items()}

    def raw(session):
        names = [o for o in outs if o in {x.name for x in session.get_outputs()}]
        return lambda: [session.run(names, {spec.input_name: x}) for x in batches] and None

    cnn_before, cnn_after = CNNEmbedder().fit(), CNNEmbedder().fit()
    fe_before, fe_after, fe_ahead = (ImageFeatures(n_jobs=1).fit() for _ in range(3))
    fm = {j: ImageFeatures(groups=("fft", "meta"), n_jobs=j).fit() for j in (1, 2)}

    def table(ext):
        return extract_table(paths, ext)[0].to_numpy()

    def within(ctx, f):
        def run():
            with ctx():
                return f()

        return run

    rows = {
        REFERENCE: ("reference", raw(sessions[REFERENCE])),
        "raw fp32 trimmed graph": ("1 trim", raw(sessions["raw fp32 trimmed graph"])),
        "raw int8 full graph": ("2 int8", raw(sessions["raw int8 full graph"])),
        **{
            k: ("6 cut after s5", raw(sessions[k]))
            for k in sessions
            if k.startswith("raw fp32 graph cut after s5")
        },
        "CNNEmbedder on files, full graph (before)": (
            "1 trim",
            within(_full_graph, lambda: cnn_before.transform(paths)),
        ),
        "CNNEmbedder on files, trimmed graph (after, default)": (
            "1 trim",
            lambda: cnn_after.transform(paths),
        ),
        "ImageFeatures default, full graph (before)": (
            "1 trim",
            within(_full_graph, lambda: table(fe_before)),
        ),
        "ImageFeatures default, trimmed graph (after, default)": (
            "1 trim",
            lambda: table(fe_after),
        ),
        "ImageFeatures default + spectrum/metadata overlapping the CNN": (
            "3 overlap",
            within(_groups_ahead, lambda: table(fe_ahead)),
        ),
        "spectrum + metadata, n_jobs=1": ("4 fft+meta", lambda: table(fm[1])),
        "spectrum + metadata, n_jobs=2": ("4 fft+meta", lambda: table(fm[2])),
    }
    return rows, files


def _time(rows: dict, n_images: int, trials: int) -> tuple[dict, dict]:
    for _, f in rows.values():  # warm-up: sessions, worker pool, first allocations
        f()
    rates: dict[str, list[float]] = {k: [] for k in rows}
    cpu: dict[str, list[float]] = {k: [] for k in rows}
    features: dict[str, np.ndarray] = {}
    order = list(rows)
    for t in range(trials):
        shift = t % len(order)
        for name in order[shift:] + order[:shift]:
            c0, w0, t0 = time.process_time(), _worker_cpu(), time.perf_counter()
            out = rows[name][1]()
            rates[name].append(n_images / (time.perf_counter() - t0))
            cpu[name].append(time.process_time() - c0 + max(0.0, _worker_cpu() - w0))
            if out is not None and name not in features:
                features[name] = np.asarray(out)
    ref = rates[REFERENCE]
    table = {
        name: {
            "step": rows[name][0],
            "img_s": round(max(rates[name]), 1),
            "ratio_vs_raw_full": round(
                statistics.median(a / r for a, r in zip(rates[name], ref)), 3
            ),
            "cpu_ms_per_image": round(1e3 * statistics.median(cpu[name]) / n_images, 2),
            "trials": [round(x, 1) for x in rates[name]],
        }
        for name in rows
    }
    return table, features


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def run(quick: bool = False) -> dict:
    import bench_cnn

    n, trials = (64, 2) if quick else (256, 5)
    with tempfile.TemporaryDirectory() as tmp:
        paths, source = _images(n, Path(tmp))
        rows, files = _rows(paths, tmp)
        table, feats = _time(rows, len(paths), trials)
        peer = bench_cnn._torch_peer(paths, trials)
    checks = {
        "cnn trimmed == full graph": _same(
            feats["CNNEmbedder on files, full graph (before)"],
            feats["CNNEmbedder on files, trimmed graph (after, default)"],
        ),
        "ImageFeatures trimmed == full graph": _same(
            feats["ImageFeatures default, full graph (before)"],
            feats["ImageFeatures default, trimmed graph (after, default)"],
        ),
        "ImageFeatures overlap == sequential": _same(
            feats["ImageFeatures default, trimmed graph (after, default)"],
            feats["ImageFeatures default + spectrum/metadata overlapping the CNN"],
        ),
    }
    cut_auc = None if quick else _cut_auc()
    precision = REPO / "docs" / "benchmarks_precision.json"
    auc = json.loads(precision.read_text())["auc"] if precision.is_file() else None
    results = {
        "images": source,
        "n_images": len(paths),
        "trials": trials,
        "files": {k: os.path.basename(v) for k, v in files.items()},
        "rows": table,
        "identical_features": checks,
        "torch_peer": peer,
        "int8_auc": auc,
        "cut_auc": cut_auc,
    }
    results["goals"] = _goals(results)
    return {"title": TITLE, "markdown": _markdown(results), "results": results}


CUTS = {"stem … s6 (default)": (), "stem … s5": ("cnn_s6_",), "stem … s4": ("cnn_s6_", "cnn_s5_")}


def _cut_auc() -> dict | None:
    """AUC of the default setup with the columns of the stages after a cut dropped."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from deepfeat import DeepfakeDetector, ImageFeatures, grouped_splits, load_dataset
    from deepfeat.features._cache import extract_table

    sources = ("dfdc_faces", "k140_faces")
    if not all((SHARED / s).is_dir() for s in sources):
        return None
    cache = Path(os.environ.get("DEEPFEAT_BENCH_CACHE", "/tmp/deepfeat-bench")) / "speed"
    tables = {}
    for src in sources:
        df = load_dataset(SHARED / src)
        feats, _ = extract_table(df, ImageFeatures().fit(), cache_dir=cache)
        tables[src] = pd.concat([df.reset_index(drop=True), feats], axis=1)
    out = {}
    with threadpool_limits(1, "blas"):
        for cut, drop in CUTS.items():
            t = {
                s: v[[c for c in v.columns if not c.startswith(drop or ("\0",))]]
                for s, v in tables.items()
            }
            res = {}
            for src, v in t.items():
                y, g = v["label"].to_numpy(), v["group"].to_numpy()
                aucs = [
                    roc_auc_score(
                        y[te],
                        DeepfakeDetector(n_jobs=1, audit=False)
                        .fit(v.iloc[tr])
                        .predict_proba(v.iloc[te])[:, 1],
                    )
                    for tr, te in grouped_splits(y, g, n_splits=5, random_state=0)
                ]
                res[f"{src} (grouped 5-fold)"] = round(float(np.mean(aucs)), 4)
            for a, b in (sources, sources[::-1]):
                p = DeepfakeDetector(n_jobs=1, audit=False).fit(t[a]).predict_proba(t[b])[:, 1]
                res[f"{a} → {b}"] = round(float(roc_auc_score(t[b]["label"], p)), 4)
            out[cut] = res
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    res = run(quick=parser.parse_args(argv).quick)
    print(res["markdown"])
