"""Benchmark: the cost of running extraction and training on Dask instead of locally.

On the same synthetic demo images (``deepfeat.make_demo_dataset``), this times:

* feature extraction (all groups: CNN, spectrum, metadata): local ``extract_table`` in this
  process (onnxruntime uses every core) vs :func:`deepfeat.distributed.extract_features` on
  a ``LocalCluster`` of 2 worker processes × 1 thread;
* training: ``DeepfakeDetector.fit`` on the feature table vs
  :func:`deepfeat.distributed.fit_dask` (``xgboost.dask``) on the same table and cluster.

Both sides are warmed up first (imports, the onnxruntime session in every worker), so the
figures are steady-state. Cluster start-up and the one-off warm-up are reported separately.
The ratio ``dask / local`` is the overhead of the Dask path on one machine. On several
machines the Dask path scales out, while the local path cannot. The extraction check
confirms the Dask table is bitwise equal to the local one.

Run ``python scripts/benchmarks/run.py distributed`` (``--quick`` for 48 images instead of 240);
:func:`run` returns the same table for ``scripts/benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from typing import Any

#: The document this topic regenerates: a section of it (the ``overview`` topic writes
#: the page; ``run.py distributed`` prints the section).
DOCUMENT = "docs/benchmarks.md"
#: One line for ``run.py --list``.
SUMMARY = "the cost of extraction and training on Dask vs locally"

TITLE = "Dask scale-out: LocalCluster vs local"


def _timed(func, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = func(*args, **kwargs)
    return time.perf_counter() - t0, out


def run(quick: bool = False) -> dict:
    """Time local vs Dask extraction and training; return ``{"title", "markdown", "results"}``.

    Parameters
    ----------
    quick : bool, default=False
        48 demo images instead of 240.
    """
    import numpy as np
    import pandas as pd
    from distributed import Client, LocalCluster
    from sklearn.metrics import roc_auc_score

    from deepfeat import (
        DeepfakeDetector,
        ImageFeatures,
        grouped_splits,
        load_dataset,
        make_demo_dataset,
    )
    from deepfeat.distributed import extract_features, fit_dask, warm_up
    from deepfeat.features._cache import extract_table

    n_images = 48 if quick else 240
    partition_size = 16 if quick else 64
    n_workers = 2
    for name in ("distributed", "deepfeat"):  # leakage/demo warnings are expected here
        logging.getLogger(name).setLevel(logging.ERROR)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="deepfeat-bench-dask-") as tmp:
        data = load_dataset(
            make_demo_dataset(tmp, n_images=n_images, fake_fraction=0.5, random_state=0)
        )
        ext = ImageFeatures(groups=("cnn", "fft", "meta")).fit(data, data["label"])
        extract_table(data.iloc[:4], ext)  # warm-up: imports and the onnxruntime session
        t_local_x, (local, _) = _timed(extract_table, data, ext)
        table = pd.concat([data, local], axis=1)
        params = {"feature_groups": ("cnn", "fft", "meta"), "features": ext}
        small = table.iloc[:: max(1, n_images // 40)]  # both classes (reals come first)
        DeepfakeDetector(**params, n_estimators=5).fit(small)
        t_local_fit, det_local = _timed(DeepfakeDetector(**params).fit, table)

        t_start = time.perf_counter()
        with (
            LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            t_start = time.perf_counter() - t_start
            t_warm, _ = _timed(warm_up, client, ext)  # imports + onnxruntime session per worker
            res = extract_features(data, client, extractor=ext, partition_size=partition_size)
            t_dask_x, (feats, _) = _timed(res.compute)
            equal = bool(
                np.array_equal(
                    feats[res.feature_names].to_numpy(), local.to_numpy(), equal_nan=True
                )
            )
            fit_dask(
                client,
                small,
                detector=DeepfakeDetector(**params, n_estimators=5),
            )  # warm-up: xgboost.dask imports on the workers
            t_dask_fit, det_dask = _timed(
                fit_dask, client, table, detector=DeepfakeDetector(**params)
            )
            # one training recipe: the same held-out AUC with the stacked probe on both
            y, g = table["label"].to_numpy(), table["group"].to_numpy()
            train, test = next(grouped_splits(y, g, n_splits=4, random_state=0))
            tr, te = table.iloc[train], table.iloc[test]
            on_tr = DeepfakeDetector(**params).fit(tr)
            on_tr_dask = fit_dask(client, tr, detector=DeepfakeDetector(**params))
            auc_local = roc_auc_score(te["label"], on_tr.predict_proba(te)[:, 1])
            auc_dask = roc_auc_score(te["label"], on_tr_dask.predict_proba(te)[:, 1])
            same_probe = on_tr_dask.probe_ is not None and bool(
                np.allclose(on_tr_dask.probe_.coef, on_tr.probe_.coef)
            )

    results.append(
        {
            "stage": "extract (cnn+fft+meta)",
            "images": n_images,
            "local_s": round(t_local_x, 3),
            "dask_s": round(t_dask_x, 3),
            "ratio": round(t_dask_x / t_local_x, 2),
            "note": f"{partition_size} images/partition; bitwise equal: {equal}",
        }
    )
    results.append(
        {
            "stage": "train (early stopping + refit)",
            "images": n_images,
            "local_s": round(t_local_fit, 3),
            "dask_s": round(t_dask_fit, 3),
            "ratio": round(t_dask_fit / t_local_fit, 2),
            "note": f"trees: local {det_local.best_iteration_}, dask {det_dask.best_iteration_}",
        }
    )
    results.append(
        {
            "stage": "held-out AUC, stacked probe (grouped fold)",
            "images": len(test),
            "local_s": None,
            "dask_s": None,
            "ratio": None,
            "auc_local": round(float(auc_local), 4),
            "auc_dask": round(float(auc_dask), 4),
            "note": f"AUC local {auc_local:.4f}, dask {auc_dask:.4f}; same probe: {same_probe}",
        }
    )
    results.append(
        {
            "stage": "cluster start + worker warm-up (once)",
            "images": None,
            "local_s": None,
            "dask_s": round(t_start + t_warm, 3),
            "ratio": None,
            "note": f"start {t_start:.2f} s, imports + onnxruntime sessions {t_warm:.2f} s",
        }
    )

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"### {TITLE}",
        "",
        f"{n_images} demo images (128×128 JPEG, half fake), {os.cpu_count()} CPU(s), load "
        f"average {load:.1f} at the end; LocalCluster of {n_workers} worker processes × 1 "
        "thread vs the local path in one process (onnxruntime and XGBoost on all cores). "
        "Steady-state wall-clock seconds after a warm-up; ratio = dask / local (the overhead "
        "of the Dask path on one machine; it pays off only across machines).",
        "",
        "| stage | images | local s | dask s | dask / local | note |",
        "|---|---:|---:|---:|---:|---|",
    ]

    def cell(value: Any, fmt: str) -> str:
        return "–" if value is None else format(value, fmt)

    for r in results:
        lines.append(
            f"| {r['stage']} | {cell(r['images'], 'd')} | {cell(r['local_s'], '.2f')} | "
            f"{cell(r['dask_s'], '.2f')} | {cell(r['ratio'], '.2f')} | {r['note']} |"
        )
    return {"title": TITLE, "markdown": "\n".join(lines) + "\n", "results": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="48 images instead of 240")
    print(run(quick=parser.parse_args(argv).quick)["markdown"])
