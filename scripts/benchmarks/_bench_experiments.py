"""Benchmark section of the issue-12 experiments: views, crops, per-source standardisation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import _bench_common as bc
import numpy as np
import pandas as pd
from _bench_cost import feat_speed, speed
from _bench_setup import MODELS, RECOMMENDED, Ctx, Feat, Setup, _centre_crops, delta, md_table
from _bench_union import _experiment_union

logger = logging.getLogger(__name__)


# ---- issue 12 experiments
def _exp_row(
    ctx: Ctx,
    item: str,
    change: str,
    feat: Feat,
    model: str,
    ref: dict[str, float] | None,
    sets: list[str] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    sets = sets or list(ctx.sets)
    rec: dict[str, Any] = {"item": item, "change": change, "features": feat.label(), "model": model}
    cells = [item, change, MODELS[model][0]]
    for name in ctx.sets:
        if name in sets:
            res = ctx.cv(name, feat, model)
            s = res.summary
            rec[name] = s["roc_auc"]
            if res.chosen_C:
                rec[f"{name}_chosen_C"] = res.chosen_C
            d = f" ({delta(s['roc_auc']['mean'], ref[name])})" if ref and name in ref else ""
            cells.append(bc.fmt(s) + d)
        else:
            cells.append("—")
    for train, test in ctx.directions():
        s = ctx.cross(train, test, feat, model)
        rec[f"{train}->{test}"] = s["roc_auc"]["mean"]
        cells.append(f"{s['roc_auc']['mean']:.3f}")
    speed = feat_speed(ctx, feat)
    rec["img_per_s"] = speed
    cells.append(f"{speed:.0f}")
    return cells, rec


def _view_table(ctx: Ctx, name: str, layer_set: str, view: str) -> pd.DataFrame:
    native = ctx.store.cnn(name, layer_set, "none")
    if view == "two scales":
        other = ctx.store.cnn(name, layer_set, "imagenet")
        other = other.set_axis([c.replace("cnn_", "cnn_in_", 1) for c in other.columns], axis=1)
    else:
        store = bc.FeatureStore(
            {name: _centre_crops(ctx.sets[name], name)}, cache_root=ctx.store.cache_root
        )
        other = store.cnn(name, layer_set, "none")
        other = other.set_axis([c.replace("cnn_", "cnn_cc_", 1) for c in other.columns], axis=1)
    return pd.concat([native, other], axis=1)


def _view_row(
    ctx: Ctx, layer_set: str, view: str, ref: dict[str, float]
) -> tuple[list[str], dict[str, Any]]:
    """An experiments row for several views of each image (not an ImageFeatures option)."""
    model = "lr-0.02"
    make = MODELS[model][1]
    change = f"`{layer_set}/none` + " + (
        f"`{layer_set}/imagenet` (two scales)"
        if view == "two scales"
        else "centre crop (half side, native)"
    )
    rec: dict[str, Any] = {"item": "2 views", "change": change, "model": model}
    cells = ["2 views", change, MODELS[model][0]]
    tables = {n: _view_table(ctx, n, layer_set, view) for n in ctx.sets}
    for name, df in ctx.sets.items():
        key = ("view", name, layer_set, view)
        if key not in ctx.cv_cache:
            ctx.cv_cache[key] = bc.cross_validate(make, tables[name], df, ctx.splits[name])
        summ = ctx.cv_cache[key].summary
        rec[name] = summ["roc_auc"]
        cells.append(f"{bc.fmt(summ)} ({delta(summ['roc_auc']['mean'], ref[name])})")
    for train, test in ctx.directions():
        summ, _ = bc.train_test(make, tables[train], ctx.sets[train], tables[test], ctx.sets[test])
        rec[f"{train}->{test}"] = summ["roc_auc"]["mean"]
        cells.append(f"{summ['roc_auc']['mean']:.3f}")
    native = speed(ctx, f"cnn {layer_set}/none")
    if view == "two scales":
        other = speed(ctx, f"cnn {layer_set}/imagenet")
    else:
        other = speed(ctx, f"cnn {layer_set}/none, centre crop")
    rec["img_per_s"] = 1.0 / (1.0 / native + 1.0 / other)
    cells.append(f"{rec['img_per_s']:.0f}")
    logger.info("views %s %s: %s", layer_set, view, cells[3:])
    return cells, rec


def _mean_auc(rec: dict[str, Any], names: list[str]) -> float:
    return float(np.mean([rec[n]["mean"] for n in names]))


#: Mean AUC differences below this are treated as ties (fold std is 0.01–0.02).
TIE = 0.005


def _pick(recs: dict[str, dict], score: Callable[[dict], float], prefer: str) -> str:
    """The best option by mean AUC. Options within ``TIE`` of it are ties: ``prefer`` (the
    recommended choice) stays if it is among them, else the cheapest (most img/s) wins."""
    top = max(score(r) for r in recs.values())
    tied = [k for k, r in recs.items() if score(r) >= top - TIE]
    if prefer in tied:
        return prefer
    return max(tied, key=lambda k: recs[k]["img_per_s"])


SCREEN_FFT = ("power/gray", "power/rgb", "power/gray+dct")


def section_experiments(ctx: Ctx) -> dict[str, Any]:
    names = list(ctx.sets)
    rows: list[list[str]] = []
    recs: list[dict[str, Any]] = []
    notes: list[str] = []

    def add(item, change, feat, model, ref=None):
        cells, rec = _exp_row(ctx, item, change, feat, model, ref)
        rows.append(cells)
        recs.append(rec)
        return rec

    def ref_of(rec):
        return {n: rec[n]["mean"] for n in names}

    def score(rec):
        return _mean_auc(rec, names)

    # 1. CNN layers, CNN block alone: a linear probe on every layer set (cheap), XGBoost on
    #    the head, mid and the best linear layer set
    lin: dict[str, dict] = {}
    ref = None
    for layer_set in bc.LAYER_SETS:
        feat = Feat(layers=layer_set, resize="imagenet", fft=(), meta=False)
        lin[layer_set] = add("1 layers", f"`{layer_set}`", feat, "lr-0.02", ref)
        ref = ref or ref_of(lin[layer_set])
    best_layers = _pick(lin, score, RECOMMENDED.feat.layers)
    trees: dict[str, dict] = {}
    ref = None
    for layer_set in dict.fromkeys(("head", "mid", best_layers)):
        feat = Feat(layers=layer_set, resize="imagenet", fft=(), meta=False)
        trees[layer_set] = add("1 layers", f"`{layer_set}`", feat, "xgb", ref)
        ref = ref or ref_of(trees[layer_set])
    notes.append(
        f"1 layers: best by mean in-domain AUC (linear probe): `{best_layers}` "
        f"({score(lin[best_layers]):.3f} vs head {score(lin['head']):.3f}); with XGBoost "
        + ", ".join(f"`{k}` {score(v):.3f}" for k, v in trees.items())
        + "."
    )

    # 2. resize policy for the head and the best layer set
    gains = []
    none_recs: dict[str, dict] = {}
    for layer_set in dict.fromkeys(("head", best_layers)):
        feat = Feat(layers=layer_set, resize="none", fft=(), meta=False)
        rec = add(
            "2 resize", f"`{layer_set}`: imagenet → none", feat, "lr-0.02", ref_of(lin[layer_set])
        )
        none_recs[layer_set] = rec
        if layer_set == best_layers:
            gains.append(score(rec) - score(lin[layer_set]))
    best_resize = "none" if np.mean(gains) > 0 else "imagenet"
    notes.append(
        f'2 resize: `resize="none"` changes the mean AUC of `{best_layers}` by '
        f"{np.mean(gains):+.3f} (linear probe) → `{best_resize}`."
    )

    # several views of each image (would need an ImageFeatures/CNNEmbedder option)
    for view in ("two scales", "centre crop"):
        cells, rec = _view_row(ctx, best_layers, view, ref_of(none_recs[best_layers]))
        rows.append(cells)
        recs.append(rec)
        notes.append(
            f"2 views: {rec['change']} with the linear probe: "
            + ", ".join(f"{n} {rec[n]['mean']:.3f}" for n in names)
            + " (vs "
            + ", ".join(f"{n} {none_recs[best_layers][n]['mean']:.3f}" for n in names)
            + " for the native view alone)."
        )
    # flip test-time augmentation (CNNEmbedder(tta="flip"), twice the inference)
    tta_feat = Feat(layers=best_layers, resize=best_resize, fft=(), meta=False, tta=True)
    tta_ref = none_recs[best_layers] if best_resize == "none" else lin[best_layers]
    tta_rec = add(
        "2 views",
        f'`{best_layers}/{best_resize}` + flip TTA (`tta="flip"`)',
        tta_feat,
        "lr-0.02",
        ref_of(tta_ref),
    )
    notes.append(
        f'2 views: `tta="flip"` on `{best_layers}/{best_resize}`: '
        + ", ".join(
            f"{n} {tta_rec[n]['mean']:.3f} ({delta(tta_rec[n]['mean'], tta_ref[n]['mean'])})"
            for n in names
        )
        + f" at {tta_rec['img_per_s']:.0f} img/s vs {tta_ref['img_per_s']:.0f}."
    )

    # 3. spectrum variants: alone (XGBoost), then added to CNN + metadata (stacked probe)
    alone = {}
    ref = None
    for variant in bc.FFT_VARIANTS:
        feat = Feat(layers=None, fft=(variant,), meta=False)
        alone[variant] = add("3 spectrum", f"{variant} alone", feat, "xgb", ref)
        ref = ref or ref_of(alone[variant])
    base = Feat(layers=best_layers, resize=best_resize, fft=(), meta=True)
    base_rec = add("3 spectrum", f"CNN `{best_layers}/{best_resize}` + meta", base, "probe-0.02")
    added = {}
    for variant in SCREEN_FFT:
        feat = replace(base, fft=(variant,))
        added[variant] = add("3 spectrum", f"+ {variant}", feat, "probe-0.02", ref_of(base_rec))
    best_fft = _pick(added, score, RECOMMENDED.feat.fft[0])
    notes.append(
        "3 spectrum: alone, best "
        + max(alone, key=lambda v: score(alone[v]))
        + f"; added to the CNN block, best {best_fft} ({score(added[best_fft]):.3f} vs "
        f"{score(base_rec):.3f} without a spectrum)."
    )

    # 4. classifier on the full table
    full = replace(base, fft=(best_fft,))
    clf = {}
    ref = None
    for model in ("xgb", "probe-0.02", "probe", "lr", "rank"):
        clf[model] = add("4 classifier", "full table", full, model, ref)
        ref = ref or ref_of(clf[model])
    best_model = max(clf, key=lambda m: score(clf[m]))
    library_models = ("xgb", "probe-0.02", "probe")  # what DeepfakeDetector can do today
    best_library = _pick({m: clf[m] for m in library_models}, score, RECOMMENDED.model)
    chosen_c = "; ".join(
        f"{m} on {n}: {ctx.cv(n, full, m).chosen_C}" for m in ("probe", "lr") for n in names
    )
    notes.append(
        f"4 classifier: best on {full.label()}: {MODELS[best_model][0]} "
        f"({score(clf[best_model]):.3f} mean AUC vs XGBoost {score(clf['xgb']):.3f}); best "
        f"configuration of today's `DeepfakeDetector`: {MODELS[best_library][0]} "
        f"({score(clf[best_library]):.3f}). C chosen per outer fold by the inner grouped CV: "
        f"{chosen_c}."
    )

    lines = [
        f"Each row: ROC AUC, grouped {ctx.n_folds}-fold CV mean ± std (change vs the first "
        "row of its block), cross-source AUC (train on all of one set, test on the other) and the "
        "extraction throughput of its features (img/s on the *Cost* sample, measured together"
        " in one interleaved block; a table of several parts is estimated as 1/Σ(1/rate), "
        "decoding counted per part, so slightly pessimistic). Choices are made on the in-domain "
        "CV means only (inner grouped CV on training folds for `probe_C` / `C`); the "
        "test folds never choose anything inside a model, but picking the best row of a block"
        " is selection on these folds, so the winning rows are slightly optimistic. Options "
        f"within {TIE} mean AUC of the best count as ties: the recommended option stays if it "
        "is one of them, else the cheapest wins. Models: `lr-0.02` = standardised balanced "
        "logistic regression with C = 0.02; XGBoost = `DeepfakeDetector(linear_probe=False)`;"
        " probe = `DeepfakeDetector(linear_probe=True)` (probe score of the CNN block + the "
        "other columns into XGBoost); the rank average is computed from the LR and XGBoost "
        "scores of the same folds (a batch-level ensemble: it ranks within the test set).",
        "",
        md_table(
            [
                "item",
                "change",
                "model",
                *[f"{n} AUC" for n in names],
                *[f"{a}→{b}" for a, b in ctx.directions()],
                "img/s",
            ],
            rows,
            "lll" + "r" * (len(names) + len(ctx.directions()) + 1),
        ),
        "",
        *[f"* {n}" for n in notes],
    ]
    results: dict[str, Any] = {
        "rows": recs,
        "choices": {
            "layers": best_layers,
            "resize": best_resize,
            "fft": best_fft,
            "model": best_model,
        },
    }
    chosen = Setup("greedy choice", full, best_library)
    agrees = chosen.feat == RECOMMENDED.feat and chosen.model == RECOMMENDED.model
    lines.append(
        f"* Greedy choice of this run among `DeepfakeDetector` configurations: "
        f"{chosen.describe()} — "
        + (
            "the `RECOMMENDED` setup used by the other sections."
            if agrees
            else f"differs from the `RECOMMENDED` setup of the other sections "
            f"({RECOMMENDED.describe()}); see the rows above for the gap."
        )
    )
    results["choices"]["library_model"] = best_library

    # 5. training on both sets
    if len(names) == 2:
        five_md, five = _experiment_union(ctx, RECOMMENDED.feat)
        lines += ["", five_md]
        results["union"] = five
    return {
        "title": "What moves held-out AUC (issue 12)",
        "markdown": "\n".join(lines),
        "results": results,
    }
