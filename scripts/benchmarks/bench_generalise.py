"""Generalisation benchmark (issue 17): pseudo-fakes, degradations and the scale policy.

Protocol, all on ``../shared/data`` and nothing else:

* dev sources: ``dfdc`` (face swaps) and ``k140`` (FFHQ vs StyleGAN); grouped folds per
  source (a pseudo-fake or a degraded copy always shares its real's group, so it is only in
  a training part when its real is);
* unseen generators, never trained on: ``stylegan3`` (256 px PNG) and ``genphotos``
  (512 px JPEG); scored at the threshold giving 5 % FPR on the held-out dev reals (TPR);
* unseen real photos: ``exif`` (camera files of ``exif_samples``, not faces) and, in the
  "k140 reals held out" regime, the k140 reals (FPR at that same threshold).

Training regimes (each with every recipe below):

* ``union``: dfdc + k140 (reals and fakes);
* ``dfdc→k140`` / ``k140→dfdc``: one source, scored on the other (cross-source AUC);
* ``k140 reals out``: dfdc reals + fakes and k140 fakes; k140 reals are never seen;
* ``reals only``: the reals of both sources, no fake at all (only with pseudo-fakes).

Recipes: ``base`` (the v0.1 default detector), ``+upsample``, ``+blend``, ``+pseudo``
(both), each optionally with degradations (``augment``) of both classes at probability p.

Run: ``python scripts/benchmarks/run.py generalise [--quick]`` (writes
``docs/benchmarks_generalisation.md`` and ``.json``); it is also a per-topic section of
``scripts/benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import _bench_common as bc
import numpy as np
import pandas as pd
from _bench_sources import (
    FPR,
    build_tables,
    extractor,
    load_all,
    protocol_main,
)

#: The document this topic regenerates.
DOCUMENT = "docs/benchmarks_generalisation.md"
#: One line for ``run.py --list``.
SUMMARY = "pseudo-fakes, degradations and the scale policy, leave-one-source-out"

logger = logging.getLogger("bench_generalise")

TITLE = "Generalisation: pseudo-fakes, degradations, scale policy (issue 17)"
RECIPES: dict[str, dict[str, Any]] = {
    "base": {},
    "+upsample": {"pseudo": ("upsample",)},
    "+blend": {"pseudo": ("blend",)},
    "+pseudo": {"pseudo": ("blend", "upsample")},
    "+augment": {"augment": 0.5},
    "+pseudo+augment": {"pseudo": ("blend", "upsample"), "augment": 0.5},
    "+local": {"local": True},
    "+local+blend": {"local": True, "pseudo": ("blend",)},
    "+local+pseudo": {"local": True, "pseudo": ("blend", "upsample")},
    "+local+pseudo+augment": {"local": True, "pseudo": ("blend", "upsample"), "augment": 0.5},
    "+local+pseudo/4": {"local": True, "pseudo": ("blend", "upsample"), "fraction": 0.25},
    "+local+augment": {"local": True, "augment": 0.5},
}
REGIMES = ("union", "dfdc→k140", "k140→dfdc", "k140 reals out", "reals only")


def _rows_for(regime: str, pool: pd.DataFrame, train_groups: set, recipe: dict) -> np.ndarray:
    """Boolean mask over ``pool`` of the rows a regime and recipe train on."""
    in_train = pool["group"].isin(train_groups).to_numpy()
    original = (pool["origin"] == "original").to_numpy()
    src = pool["source"].to_numpy()
    y = pool["label"].to_numpy()
    kinds = recipe.get("pseudo", ())
    pseudo = np.isin(pool["origin"].to_numpy(), [f"pseudo_{k}" for k in kinds])
    fraction = float(recipe.get("fraction", 1.0))
    if fraction < 1.0:  # a fixed random share of the reals get their pseudo-fakes
        u = np.random.default_rng(123).random(len(pool))
        pseudo &= u < fraction
    if regime == "union":
        keep = original | pseudo
    elif regime == "dfdc→k140":
        keep = (original | pseudo) & (src == "dfdc")
    elif regime == "k140→dfdc":
        keep = (original | pseudo) & (src == "k140")
    elif regime == "k140 reals out":
        keep = (original & ((src == "dfdc") | (y == 1))) | (pseudo & (src == "dfdc"))
    elif regime == "reals only":
        keep = (original & (y == 0)) | pseudo
    else:  # pragma: no cover
        raise ValueError(regime)
    return keep & in_train


def _table(tables: dict[str, Any], name: str, recipe: dict, size: str = "") -> pd.DataFrame:
    """Feature table ``name`` (``pool``, ``degraded``, an unseen folder) for a recipe."""
    key = name + size if f"X_{name}{size}" in tables else name
    X = tables[f"X_{key}"]
    if recipe.get("local"):
        X = pd.concat([X, tables[f"L_{key}"]], axis=1)
    return X


def _training_matrix(tables: dict[str, Any], recipe: dict, seed: int) -> pd.DataFrame:
    """The pool's features, each row replaced by its degraded copy with probability p."""
    X = _table(tables, "pool", recipe)
    p = float(recipe.get("augment", 0.0))
    if p <= 0:
        return X
    pick = np.random.default_rng(seed).random(len(X)) < p
    D = _table(tables, "degraded", recipe)
    usable = pick & ~np.isnan(D.to_numpy()).all(axis=1)
    out = X.copy()
    out.iloc[usable] = D.iloc[usable].to_numpy()
    return out


def _threshold(scores: np.ndarray) -> float:
    return float(np.quantile(scores[np.isfinite(scores)], 1 - FPR))


def _fit(X: pd.DataFrame, y: np.ndarray, g: np.ndarray):
    from deepfeat import DeepfakeDetector

    det = DeepfakeDetector(audit=False, random_state=0)
    return det.fit(X.assign(label=y, group=g))


def _score(det, X: pd.DataFrame) -> np.ndarray:
    return det.predict_proba(X)[:, 1]


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(s)
    return float(roc_auc_score(y[ok], s[ok])) if len(np.unique(y[ok])) == 2 else float("nan")


def _fold_metrics(det, tables, recipe, regime, test, dev) -> dict[str, float]:
    pool_X = _table(tables, "pool", recipe)
    st = _score(det, pool_X.iloc[test.index])  # test rows are never degraded
    yt, src = test["label"].to_numpy(), test["source"].to_numpy()
    m: dict[str, float] = {}
    for s in ("dfdc", "k140"):
        m[f"auc_{s}"] = _auc(yt[src == s], st[src == s])
    if regime in ("dfdc→k140", "k140→dfdc"):
        other = "k140" if regime.startswith("dfdc") else "dfdc"
        rows = dev.index[dev["source"] == other]
        m["auc_cross"] = _auc(dev.loc[rows, "label"].to_numpy(), _score(det, pool_X.iloc[rows]))
    if regime == "k140 reals out":  # threshold from dfdc reals; k140 reals never trained on
        t = _threshold(st[(src == "dfdc") & (yt == 0)])
        rows = dev.index[(dev["source"] == "k140") & (dev["label"] == 0)]
        m["fpr_k140_reals"] = float(np.mean(_score(det, pool_X.iloc[rows]) >= t))
    else:
        t = _threshold(st[yt == 0])
    for name in ("stylegan3", "genphotos", "exif"):
        if f"X_{name}" not in tables:
            continue
        pre = "fpr_" if name == "exif" else "tpr_"
        for size in ("", "@256"):
            if f"X_{name}{size}" in tables:
                sc = _score(det, _table(tables, name, recipe, size))
                m[f"{pre}{name}{size}"] = float(np.mean(sc >= t))
    return m


def run_protocol(
    tables: dict[str, Any],
    n_folds: int,
    recipes: dict[str, dict[str, Any]] = RECIPES,
    regimes: tuple[str, ...] = REGIMES,
) -> dict[str, Any]:
    """Every regime × recipe over grouped folds; per-fold metrics."""
    dev, pool = tables["dev"], tables["pool"]
    folds = bc.splits_for(dev, n_folds)
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for k, (tr, te) in enumerate(folds):
        train_groups = set(dev["group"].iloc[tr])
        test = dev.iloc[te]
        for rname, recipe in recipes.items():
            Xp = _training_matrix(tables, recipe, seed=k)
            for regime in regimes:
                if regime == "reals only" and not recipe.get("pseudo"):
                    continue
                mask = _rows_for(regime, pool, train_groups, recipe)
                t0 = time.perf_counter()
                det = _fit(Xp[mask], pool["label"].to_numpy()[mask], pool["group"].to_numpy()[mask])
                m = {"fit_seconds": time.perf_counter() - t0, "n_train": int(mask.sum())}
                m.update(_fold_metrics(det, tables, recipe, regime, test, dev))
                key = f"{regime} | {rname}"
                results.setdefault(key, {}).setdefault("folds", []).append(m)
                logger.info("fold %d %s: %s", k, key, {a: round(b, 3) for a, b in m.items()})
    return results


def summarise(results: dict[str, Any]) -> dict[str, dict[str, tuple[float, float]]]:
    out = {}
    for key, rec in results.items():
        folds = rec["folds"]
        names = sorted({n for f in folds for n in f})
        out[key] = {
            n: (
                float(np.nanmean([f.get(n, np.nan) for f in folds])),
                float(np.nanstd([f.get(n, np.nan) for f in folds])),
            )
            for n in names
        }
    return out


COLUMNS = (
    ("auc_dfdc", "AUC dfdc"),
    ("auc_k140", "AUC k140"),
    ("auc_cross", "AUC other source"),
    ("tpr_stylegan3", "TPR stylegan3"),
    ("tpr_genphotos", "TPR genphotos"),
    ("tpr_genphotos@256", "TPR genphotos @256"),
    ("fpr_exif", "FPR exif reals"),
    ("fpr_exif@256", "FPR exif @256"),
    ("fpr_k140_reals", "FPR k140 reals"),
    ("fit_seconds", "fit s"),
)


def _cell(vals: dict[str, tuple[float, float]], key: str) -> str:
    if key not in vals or not np.isfinite(vals[key][0]):
        return "–"
    m, sd = vals[key]
    return f"{m:.1f}" if key == "fit_seconds" else f"{m:.3f} ± {sd:.3f}"


def markdown(summary: dict[str, Any], header: dict[str, Any]) -> str:
    lines = [
        f"Command: `{header['command']}`, {header['started']}, {header['folds']} grouped folds "
        f"over dfdc + k140 (stratified by label, groups = source video / image, a pseudo-fake "
        f"or degraded copy always with its real), wall time {header['minutes']:.1f} min, load "
        f"{header['load']}. Data: {header['data']}.",
        "",
        "Metrics per fold, then mean ± std over folds. AUC dfdc / k140: held-out groups of "
        "that source. AUC other source: the whole other source (never trained on). TPR of the "
        "unseen generators (never trained on) and FPR of unseen real photos (`exif_samples` "
        "camera files, not faces; k140 reals in the *k140 reals out* regime) at the threshold "
        "that flags 5 % of the held-out dev reals (of dfdc in *k140 reals out*). `@256`: the "
        "same model, features of the unseen folders extracted with `canonical_size=256` (no "
        "dev image exceeds 256 px, so dev features are the same under both policies).",
        "",
        "Recipes: `+upsample` / `+blend` / `+pseudo` add one pseudo-fake per kind and per "
        "training real; `+augment` replaces each training image (either class, pseudo-fakes "
        "included) by a degraded copy (blur σ 0.1–3, JPEG q30–100 or 0.5–0.9× down-scaling) "
        "with probability 0.5; `+local` adds the 14 `fft_local_*` centre-vs-surround columns; "
        "`/4`: pseudo-fakes of a random quarter of the training reals only.",
        "",
    ]
    regimes = []
    for key in summary:
        regime = key.split(" | ")[0]
        if regime not in regimes:
            regimes.append(regime)
    for regime in regimes:
        keys = [k for k in summary if k.startswith(regime + " | ")]
        cols = [(c, t) for c, t in COLUMNS if any(c in summary[k] for k in keys)]
        lines += [f"**{regime}**", ""]
        lines.append("| recipe | " + " | ".join(t for _, t in cols) + " |")
        lines.append("|---|" + "---|" * len(cols))
        for k in keys:
            row = [_cell(summary[k], c) for c, _ in cols]
            lines.append(f"| {k.split(' | ')[1]} | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def _per_image_ms(fn, images: list[np.ndarray], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for img in images:
            fn(img)
        best = min(best, (time.perf_counter() - t0) / len(images))
    return best * 1000


def costs(sets: dict[str, pd.DataFrame], n: int = 64) -> dict[str, Any]:
    """What each lever costs: per-image ms of the synthesis functions and local statistics
    (best of 3 passes, one core), and default-extractor img/s on 512 px faces per policy."""
    from deepfeat import load_image
    from deepfeat.features._fft_kernel import spectrum_vector
    from deepfeat.features._local_kernel import local_contrast
    from deepfeat.features._work import Rescale
    from deepfeat.synthesis import degrade, self_blend, upsample_trace

    faces = [load_image(p) for p in sets["dfdc"]["path"].iloc[:n]]
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {
        "ms_per_224px_image": {
            "self_blend": _per_image_ms(lambda im: self_blend(im, random_state=rng), faces),
            "upsample_trace": _per_image_ms(lambda im: upsample_trace(im, random_state=rng), faces),
            "degrade": _per_image_ms(lambda im: degrade(im, random_state=rng), faces),
            "local_contrast": _per_image_ms(local_contrast, faces),
            "radial spectrum (fft group without local)": _per_image_ms(spectrum_vector, faces),
        }
    }
    if "genphotos" in sets:
        from deepfeat.features._cache import extract_table

        paths = sets["genphotos"][["path"]].iloc[:n]
        rates = {}
        for size in (None, 256):
            ext = extractor(size)
            extract_table(paths.iloc[:8], ext)  # warm-up: session, workers
            t0 = time.perf_counter()
            extract_table(paths, ext)
            rates["native" if size is None else f"canonical_size={size}"] = n / (
                time.perf_counter() - t0
            )
        out["img_per_s_512px_all_groups"] = rates
        big = [load_image(p) for p in paths["path"].iloc[:16]]
        out["ms_rescale_512_to_256"] = _per_image_ms(Rescale(256).crop, big)
    return out


def _costs_markdown(c: dict[str, Any]) -> str:
    lines = ["**Cost** (one run on the shared 2-core machine; best of 3 passes)", ""]
    lines += ["| step | ms per 224 px face |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in c["ms_per_224px_image"].items()]
    rates = c.get("img_per_s_512px_all_groups")
    if rates:
        lines += [
            "",
            "Default extractor (cnn + fft + meta, no cache) on 64 genphotos faces (512 px): "
            + ", ".join(f"{k} {v:.1f} img/s" for k, v in rates.items())
            + f"; the 512→256 px area shrink itself costs {c['ms_rescale_512_to_256']:.2f} ms.",
        ]
    return "\n".join(lines)


def run(quick: bool = False, folds: int = 3, recipes: str | None = None) -> dict[str, Any]:
    """Per-topic entry of ``scripts/benchmarks/run.py``: the whole protocol, as markdown."""
    t0 = time.perf_counter()
    sets = load_all(quick)
    if "dfdc" not in sets or "k140" not in sets:
        return {"title": TITLE, "markdown": "*Skipped: dev data absent.*", "results": {}}
    tables = build_tables(sets, canonical_sizes=(None, 256))
    chosen = {r: RECIPES[r] for r in (recipes.split(",") if recipes else RECIPES)}
    res = run_protocol(tables, folds, chosen)
    summary = summarise(res)
    cost = costs(sets)
    header = {
        "command": bc.command("generalise", ["--quick"] if quick else []),
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "folds": folds,
        "minutes": (time.perf_counter() - t0) / 60,
        "load": bc.load_average(),
        "data": ", ".join(f"{k} {len(v)}" for k, v in sets.items())
        + f"; pseudo-fakes {len(tables['pseudo'])}",
    }
    return {
        "title": TITLE,
        "markdown": markdown(summary, header) + "\n" + _costs_markdown(cost),
        "results": {"summary": summary, "folds": res, "header": header, "costs": cost},
    }


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipes", default=None, help=f"comma list of {', '.join(RECIPES)}")


def main(argv: list[str] | None = None) -> int:
    return protocol_main(
        argv,
        doc=__doc__,
        topic="generalise",
        title=TITLE,
        page=DOCUMENT,
        run=run,
        build=lambda sets: build_tables(sets, canonical_sizes=(None, 256)),
        options=_options,
    )
