"""The data of the leave-one-source-out protocol: the two dev sets, the unseen generators and
real photos, and their cached feature tables (pseudo-fakes and degraded copies included).

Shared by the ``generalise``, ``forensic`` and ``domain`` topics.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _bench_common as bc
import pandas as pd

logger = logging.getLogger("bench_sources")
ROOT = bc.CACHE_ROOT / "generalise"
UNSEEN_FAKES = {"stylegan3": "stylegan3_faces", "genphotos": "genphotos_faces"}
FPR = 0.05


def _load_folder(name: str, folder: str) -> pd.DataFrame | None:
    from deepfeat import load_dataset

    root = bc.SHARED_DATA / folder
    if not root.is_dir():
        return None
    df = load_dataset(root)[["path", "label", "group"]].copy()
    df["source"] = name
    return df.reset_index(drop=True)


def load_all(quick: bool) -> dict[str, pd.DataFrame]:
    sets = bc.load_sets(quick)
    for name, df in sets.items():  # group names of two sources must never collide
        df["group"] = name + ":" + df["group"].astype(str)
    for name, folder in UNSEEN_FAKES.items():
        df = _load_folder(name, folder)
        if df is not None:
            sets[name] = df.iloc[: 150 if quick else None].reset_index(drop=True)
    exif = _load_folder("exif", "exif_samples")
    if exif is not None:
        sets["exif"] = exif[exif["label"] == 0].reset_index(drop=True)
    return sets


def extractor(canonical_size: int | None = None):
    """The v0.1 default extractor (native resolution, spectrum without local statistics),
    or with the scale policy; the ``+local`` recipes add the ``fft_local_*`` columns."""
    from deepfeat import FFTSpectrum, ImageFeatures

    return ImageFeatures(fft=FFTSpectrum(local=False), canonical_size=canonical_size).fit()


def features(df: pd.DataFrame, ext, progress: bool = True) -> pd.DataFrame:
    from deepfeat.features._cache import extract_table

    table, fails = extract_table(df[["path"]], ext, cache_dir=ROOT / "features", progress=progress)
    if len(fails):
        logger.warning("%d extraction failures (first: %s)", len(fails), fails.iloc[0].to_dict())
    table.index = df.index
    return table


def build_tables(sets: dict[str, pd.DataFrame], canonical_sizes=(None,)) -> dict[str, Any]:
    """Every table the protocol needs: dev, unseen, pseudo-fakes, degraded copies."""
    from deepfeat.synthesis import degrade_dataset, make_pseudo_fakes

    t0 = time.perf_counter()
    dev = pd.concat([sets[s] for s in ("dfdc", "k140") if s in sets], ignore_index=True)
    dev["origin"] = "original"
    reals = dev[dev["label"] == 0]
    pseudo, fails = make_pseudo_fakes(
        reals, ROOT / "synth", faces="center", random_state=0, progress=True
    )
    src = dict(zip(reals["path"], reals["source"]))
    pseudo["source"] = pseudo["source_path"].map(src)
    synth_s = time.perf_counter() - t0
    # Degraded copy of every dev row and pseudo-fake (a recipe picks rows with probability p).
    pool = pd.concat([dev, pseudo[dev.columns]], ignore_index=True)
    degraded, dfails = degrade_dataset(
        pool, ROOT / "synth", probability=1.0, random_state=0, progress=True
    )
    out: dict[str, Any] = {"dev": dev, "pseudo": pseudo, "pool": pool, "degraded": degraded}
    ext = extractor()
    t1 = time.perf_counter()
    out["X_pool"] = features(pool, ext)
    out["X_degraded"] = features(degraded, ext)
    extract_s = time.perf_counter() - t1
    for name in ("stylegan3", "genphotos", "exif"):
        if name in sets:
            out[f"X_{name}"] = features(sets[name], ext)
    for size in canonical_sizes:
        if size is None:
            continue
        ext_s = extractor(size)
        for name in ("stylegan3", "genphotos", "exif"):
            if name in sets:
                out[f"X_{name}@{size}"] = features(sets[name], ext_s)
        # No dev image (224 / 256 px) exceeds 256 px, so their tables are the same under
        # both policies; only the unseen folders are re-extracted.
    # Local-consistency statistics (FFTSpectrum(local=True)): only their 14 columns are
    # joined to the default tables by the recipes that ask for them.
    from deepfeat import FFTSpectrum, ImageFeatures

    ext_l = ImageFeatures(groups=("fft",), fft=FFTSpectrum(local=True), canonical_size=None).fit()
    local_cols = [c for c in ext_l.get_feature_names_out() if c.startswith("fft_local_")]
    for key, frame in (("pool", pool), ("degraded", degraded)):
        out[f"L_{key}"] = features(frame, ext_l)[local_cols]
    for name in ("stylegan3", "genphotos", "exif"):
        if name in sets:
            out[f"L_{name}"] = features(sets[name], ext_l)[local_cols]
            for size in canonical_sizes:
                if size is not None:
                    ext_ls = ImageFeatures(
                        groups=("fft",), fft=FFTSpectrum(local=True), canonical_size=size
                    ).fit()
                    out[f"L_{name}@{size}"] = features(sets[name], ext_ls)[local_cols]
    out["seconds"] = {"synthesis": synth_s, "extract_train": extract_s}
    out["n_failures"] = len(fails) + len(dfails)
    return out


def protocol_main(
    argv: list[str] | None,
    *,
    doc: str,
    topic: str,
    title: str,
    page: str,
    run: Callable[..., dict[str, Any]],
    build: Callable[[dict[str, pd.DataFrame]], Any] | None = None,
    options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """``main`` of a leave-one-source-out topic: ``--quick``, ``--folds``, ``--out-md``
    (``--extract-only`` when ``build`` makes the tables; ``options`` adds a topic's own),
    INFO logs without the library's, one BLAS thread, then the page and its JSON.
    ``run`` gets ``quick``, ``folds`` and the topic's own options as keywords."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--folds", type=int, default=3)
    if build is not None:
        p.add_argument("--extract-only", action="store_true")
    p.add_argument("--out-md", type=Path, default=bc.REPO / page)
    own = set()
    if options is not None:
        before = {a.dest for a in p._actions}
        options(p)
        own = {a.dest for a in p._actions} - before
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("deepfeat").setLevel(logging.WARNING)
    if build is not None and args.extract_only:
        build(load_all(args.quick))
        return 0
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        res = run(quick=args.quick, folds=args.folds, **{k: getattr(args, k) for k in own})
    bc.write_topic(args.out_md, topic, title, res)
    return 0
