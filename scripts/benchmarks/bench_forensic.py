"""Forensic residual traces (issue 26, item 3): do they help across sources and generators?

Protocol, on ``../shared/data`` only (the helpers of ``scripts/benchmarks/bench_generalise.py``):

* dev sources ``dfdc`` and ``k140``, 3 grouped folds over both (stratified by label, groups =
  source video / image);
* regimes: ``union`` (train on the training folds of both; AUC on the held-out groups of
  each), ``dfdc→k140`` / ``k140→dfdc`` (train on one source's training folds, AUC on the
  whole other source);
* every union model: TPR of the unseen generators ``stylegan3`` / ``genphotos`` and FPR of
  the unseen real camera photos ``exif`` at the threshold that flags 5 % of the held-out dev
  reals;
* recipes: ``default`` (cnn + fft + meta, the default extractor), ``default+forensic``,
  ``forensic`` alone, ``fft`` and ``fft+forensic``; every model the default
  ``DeepfakeDetector``.

Also measured: the speed of :func:`deepfeat.residual_traces` at 256 and 512 px, the single-
feature AUC of every ``forensic_*`` column inside each source, and the stability of each
column under a JPEG re-save (q90) and a 0.9× resize against its spread across images.

Run: ``python scripts/benchmarks/run.py forensic [--quick]`` (writes ``docs/benchmarks_forensic.md``
and ``.json``); it is also a per-topic section of ``scripts/benchmarks/run.py``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import _bench_common as bc
import _bench_sources as sources
import bench_generalise as bg
import numpy as np
import pandas as pd
from _bench_sources import protocol_main

#: The document this topic regenerates.
DOCUMENT = "docs/benchmarks_forensic.md"
#: One line for ``run.py --list``.
SUMMARY = "forensic residual traces across sources and generators"

logger = logging.getLogger("bench_forensic")

TITLE = "Forensic residual traces: leave-one-source-out (issue 26)"
UNSEEN = ("stylegan3", "genphotos", "exif")
RECIPES: dict[str, tuple[str, ...]] = {
    "default": ("cnn", "fft", "meta"),
    "default+forensic": ("cnn", "fft", "forensic", "meta"),
    "forensic": ("forensic",),
    "fft": ("fft",),
    "fft+forensic": ("fft", "forensic"),
}
REGIMES = ("union", "dfdc→k140", "k140→dfdc")
#: Images per dev source for the stability table (first rows of each, both labels).
N_STABILITY = 150


def build_tables(sets: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """One table per folder: the default extractor's columns and the forensic group's."""
    from deepfeat import ImageFeatures

    default = ImageFeatures().fit()  # cnn + fft(local) + meta, canonical_size=256
    forensic = ImageFeatures(groups=("forensic",)).fit()  # native resolution, 512 px crop
    out = {}
    for name, df in sets.items():
        t0 = time.perf_counter()
        parts = [sources.features(df, default), sources.features(df, forensic)]
        out[name] = pd.concat(parts, axis=1)
        if name in UNSEEN:  # the same rows, forensic columns of the 256 px shrink
            shrunk = out[name].copy()
            shrunk[forensic.get_feature_names_out()] = _forensic_shrunk(df["path"], 256)
            out[name + "@256"] = shrunk
        logger.info("%s: %d rows in %.1f s", name, len(df), time.perf_counter() - t0)
    return out


def _forensic_shrunk(paths: pd.Series, size: int) -> np.ndarray:
    """Forensic rows of images first shrunk by the scale policy (``Rescale(size)``): what
    the group would see if it did not read native pixels. NaN rows where decoding fails."""
    from deepfeat import ImageLoadError, load_image, residual_traces
    from deepfeat.features._forensic_kernel import FORENSIC_FEATURE_NAMES
    from deepfeat.features._work import Rescale

    shrink = Rescale(size)
    rows = np.full((len(paths), len(FORENSIC_FEATURE_NAMES)), np.nan, np.float32)
    for i, path in enumerate(paths):
        try:
            rows[i] = residual_traces(shrink.crop(load_image(path)))
        except (ImageLoadError, ValueError) as exc:
            logger.debug("%s: %s", path, exc)
    return rows


def _columns(table: pd.DataFrame, groups: tuple[str, ...]) -> list[str]:
    return [c for c in table.columns if c.split("_", 1)[0] in groups]


def _fit(X: pd.DataFrame, y: np.ndarray, g: np.ndarray, groups: tuple[str, ...]):
    from deepfeat import DeepfakeDetector

    det = DeepfakeDetector(feature_groups=groups, audit=False, random_state=0)
    return det.fit(X.assign(label=y, group=g))


def run_protocol(
    sets: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame], n_folds: int
) -> dict[str, Any]:
    dev = pd.concat([sets["dfdc"], sets["k140"]], ignore_index=True)
    X_dev = pd.concat([tables["dfdc"], tables["k140"]], ignore_index=True)
    y, g, src = dev["label"].to_numpy(), dev["group"].to_numpy(), dev["source"].to_numpy()
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for k, (tr, te) in enumerate(bc.splits_for(dev, n_folds)):
        in_train = np.zeros(len(dev), bool)
        in_train[tr] = True
        for rname, groups in RECIPES.items():
            cols = _columns(X_dev, groups)
            for regime in REGIMES:
                if regime == "union":
                    mask = in_train
                else:
                    mask = in_train & (src == regime.split("→")[0])
                t0 = time.perf_counter()
                det = _fit(X_dev.loc[mask, cols], y[mask], g[mask], groups)
                m: dict[str, float] = {"fit_seconds": time.perf_counter() - t0}
                s_te = det.predict_proba(X_dev.loc[te, cols])[:, 1]
                for s in ("dfdc", "k140"):
                    sel = src[te] == s
                    m[f"auc_{s}"] = bg._auc(y[te][sel], s_te[sel])
                if regime != "union":
                    other = src == regime.split("→")[1]
                    s_o = det.predict_proba(X_dev.loc[other, cols])[:, 1]
                    m["auc_cross"] = bg._auc(y[other], s_o)
                else:
                    t = bg._threshold(s_te[y[te] == 0])
                    for name in UNSEEN:
                        for suffix in ("", "@256") if "forensic" in groups else ("",):
                            if name + suffix in tables:
                                sc = det.predict_proba(tables[name + suffix][cols])[:, 1]
                                pre = "fpr_" if name == "exif" else "tpr_"
                                m[pre + name + suffix] = float(np.mean(sc >= t))
                key = f"{regime} | {rname}"
                results.setdefault(key, {}).setdefault("folds", []).append(m)
                logger.info("fold %d %s: %s", k, key, {a: round(b, 3) for a, b in m.items()})
    return results


# ----------------------------------------------------------------------------- per feature
def single_feature_auc(sets, tables) -> pd.DataFrame:
    """AUC of each forensic column alone inside each dev source (NaN rows left out)."""
    rows = []
    cols = _columns(tables["dfdc"], ("forensic",))
    for c in cols:
        row = {"feature": c}
        for s in ("dfdc", "k140"):
            row[s] = bg._auc(sets[s]["label"].to_numpy(), tables[s][c].to_numpy(dtype=float))
        rows.append(row)
    return pd.DataFrame(rows)


def _transformed(image: np.ndarray, kind: str) -> np.ndarray:
    from deepfeat import degrade

    if kind == "jpeg q90":
        return degrade(image, kinds="jpeg", jpeg_quality=(90, 90))
    return degrade(image, kinds="downscale", scale=(0.9, 0.9))  # area interpolation


def stability(sets: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per feature: spread across images (std) and the median |change| under each transform."""
    from deepfeat import load_image, residual_traces
    from deepfeat.features._forensic_kernel import FORENSIC_FEATURE_NAMES

    paths = [p for s in ("dfdc", "k140") for p in sets[s]["path"].iloc[:N_STABILITY]]
    images = [load_image(p) for p in paths]
    base = np.vstack([residual_traces(im) for im in images]).astype(float)
    out = {"feature": [f"forensic_{n}" for n in FORENSIC_FEATURE_NAMES]}
    out["std across images"] = np.nanstd(base, axis=0)
    for kind in ("jpeg q90", "resize 0.9"):
        moved = np.vstack([residual_traces(_transformed(im, kind)) for im in images])
        delta = np.nanmedian(np.abs(moved - base), axis=0)
        out[f"median |Δ| {kind}"] = delta
        out[f"ratio {kind}"] = delta / out["std across images"]
    return pd.DataFrame(out)


def speed(sets: dict[str, pd.DataFrame], n: int = 32) -> dict[str, float]:
    """ms per image of :func:`residual_traces` (one core, best of 3) at 256 and 512 px."""
    from deepfeat import load_image, residual_traces

    out = {}
    for side, name in ((256, "k140"), (512, "genphotos")):
        if name not in sets:
            continue
        images = [load_image(p) for p in sets[name]["path"].iloc[:n]]
        images = [im[:side, :side] for im in images if min(im.shape[:2]) >= side]
        if images:
            out[f"{side} px"] = bg._per_image_ms(residual_traces, images)
    return out


# ----------------------------------------------------------------------------- report
def verdict(summary: dict[str, Any]) -> dict[str, Any]:
    """On by default only if it helps across sources / unseen data without costing in-domain
    AUC beyond the fold noise: the numbers compared, and the decision."""

    def get(key, metric):
        return summary.get(key, {}).get(metric, (np.nan, np.nan))

    base, plus = "default", "default+forensic"
    d = {}
    for regime, metric in (
        ("union", "auc_dfdc"),
        ("union", "auc_k140"),
        ("dfdc→k140", "auc_cross"),
        ("k140→dfdc", "auc_cross"),
        ("union", "tpr_stylegan3"),
        ("union", "tpr_genphotos"),
        ("union", "fpr_exif"),
    ):
        (m0, s0), (m1, s1) = get(f"{regime} | {base}", metric), get(f"{regime} | {plus}", metric)
        d[f"{regime} {metric}"] = {"default": m0, "default+forensic": m1, "noise": max(s0, s1)}
    in_domain_hurt = any(
        d[k]["default"] - d[k]["default+forensic"] > d[k]["noise"]
        for k in ("union auc_dfdc", "union auc_k140")
    )
    gains = [
        d[k]["default+forensic"] - d[k]["default"] > d[k]["noise"]
        for k in (
            "dfdc→k140 auc_cross",
            "k140→dfdc auc_cross",
            "union tpr_stylegan3",
            "union tpr_genphotos",
        )
    ]
    losses = [
        d[k]["default"] - d[k]["default+forensic"] > d[k]["noise"]
        for k in ("union tpr_stylegan3", "union tpr_genphotos")
    ]
    exif_worse = d["union fpr_exif"]["default+forensic"] - d["union fpr_exif"]["default"] > max(
        d["union fpr_exif"]["noise"], 0.02
    )
    on = any(gains) and not in_domain_hurt and not exif_worse and not any(losses)
    return {
        "compared": d,
        "in_domain_hurt": in_domain_hurt,
        "gains": gains,
        "unseen_losses": losses,
        "on_by_default": on,
    }


def markdown(summary, header, feats: pd.DataFrame, stab: pd.DataFrame, ms, ver) -> str:
    lines = [
        f"Command: `{header['command']}`, {header['started']}, {header['folds']} grouped folds "
        f"over dfdc + k140, wall time {header['minutes']:.1f} min, load {header['load']}. "
        f"Data: {header['data']}.",
        "",
        "Every model is the default `DeepfakeDetector` on the named feature groups "
        "(`default` = cnn + fft + meta, the default extractor with `canonical_size=256`; "
        "`forensic` = `ForensicResiduals()`, native resolution, centred 512 px crop). "
        "Metrics per fold, then mean ± std over folds. AUC dfdc / k140: held-out groups of "
        "that source. AUC other source: the whole other source, never trained on. TPR of the "
        "unseen generators and FPR of the unseen camera photos at the threshold that flags "
        "5 % of the held-out dev reals (union models). `@256`: the same forensic models, "
        "with the forensic columns of the unseen folders computed after the 256 px shrink of "
        "the scale policy (which the other groups always see) instead of at native "
        "resolution (no dev image exceeds 256 px, "
        "and stylegan3 is 256 px, so only genphotos and the camera photos change).",
        "",
    ]
    for regime in REGIMES:
        keys = [k for k in summary if k.startswith(regime + " | ")]
        cols = [(c, t) for c, t in bg.COLUMNS if any(c in summary[k] for k in keys)]
        lines += [f"**{regime}**", ""]
        lines.append("| recipe | " + " | ".join(t for _, t in cols) + " |")
        lines.append("|---|" + "---|" * len(cols))
        for k in keys:
            lines.append(
                f"| {k.split(' | ')[1]} | "
                + " | ".join(bg._cell(summary[k], c) for c, _ in cols)
                + " |"
            )
        lines.append("")
    lines += [
        "**Verdict** (rule: on by default only if `default+forensic` beats `default` by more "
        "than the fold std on a cross-source AUC or an unseen-generator TPR, without losing "
        "more than the fold std of in-domain AUC or of an unseen-generator TPR, or adding "
        "more than max(std, 0.02) exif FPR):",
        "",
        "| measure | default | default+forensic | fold std |",
        "|---|---|---|---|",
    ]
    for k, v in ver["compared"].items():
        lines.append(
            f"| {k} | {v['default']:.3f} | {v['default+forensic']:.3f} | {v['noise']:.3f} |"
        )
    lines += [
        "",
        f"In-domain loss beyond noise: {ver['in_domain_hurt']}; gains beyond noise (cross "
        f"dfdc→k140, k140→dfdc, TPR stylegan3, genphotos): {ver['gains']}; unseen-generator "
        f"TPR lost beyond noise (stylegan3, genphotos): {ver['unseen_losses']}. "
        f"**forensic on by default: {ver['on_by_default']}.**",
        "",
        "**Single forensic column, AUC inside each source** (0.5 = no signal; "
        "values below 0.5 separate with the opposite sign)",
        "",
        "| feature | dfdc | k140 |",
        "|---|---|---|",
    ]
    for _, r in feats.iterrows():
        lines.append(f"| `{r['feature']}` | {r['dfdc']:.3f} | {r['k140']:.3f} |")
    lines += [
        "",
        f"**Stability** on {2 * N_STABILITY} dev faces ({N_STABILITY} of each source): the "
        "median absolute change of each column under a JPEG re-save at quality 90 and a "
        "0.9× area resize, against the column's standard deviation across the images "
        "(ratio < 0.3: the transform moves it little compared with how images differ).",
        "",
        "| feature | std across images | median abs Δ JPEG q90 | ratio | median abs Δ resize 0.9 "
        "| ratio |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in stab.iterrows():
        lines.append(
            f"| `{r['feature']}` | {r['std across images']:.3f} | "
            f"{r['median |Δ| jpeg q90']:.3f} | {r['ratio jpeg q90']:.2f} | "
            f"{r['median |Δ| resize 0.9']:.3f} | {r['ratio resize 0.9']:.2f} |"
        )
    lines += [
        "",
        "**Speed** of `residual_traces` (one process, best of 3 passes over up to 32 images): "
        + ", ".join(f"{k}: {v:.1f} ms/image" for k, v in ms.items())
        + ".",
    ]
    return "\n".join(lines)


def run(quick: bool = False, folds: int = 3) -> dict[str, Any]:
    """Per-topic entry of ``scripts/benchmarks/run.py``: the whole protocol, as markdown."""
    t0 = time.perf_counter()
    sets = sources.load_all(quick)
    if "dfdc" not in sets or "k140" not in sets:
        return {"title": TITLE, "markdown": "*Skipped: dev data absent.*", "results": {}}
    tables = build_tables(sets)
    res = run_protocol(sets, tables, folds)
    summary = bg.summarise(res)
    feats = single_feature_auc(sets, tables)
    stab = stability(sets)
    ms = speed(sets)
    ver = verdict(summary)
    header = bc.run_header("forensic", quick, folds, t0, sets)
    return {
        "title": TITLE,
        "markdown": markdown(summary, header, feats, stab, ms, ver),
        "results": {
            "summary": summary,
            "folds": res,
            "header": header,
            "verdict": ver,
            "single_feature_auc": feats.to_dict("records"),
            "stability": stab.to_dict("records"),
            "ms_per_image": ms,
        },
    }


def main(argv: list[str] | None = None) -> int:
    return protocol_main(
        argv, doc=__doc__, topic="forensic", title=TITLE, page=DOCUMENT, run=run, build=build_tables
    )
