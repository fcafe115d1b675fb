"""The robustness section of the overview: test images re-encoded (JPEG q95/q75/q50) and
down-scaled 0.5x, scored by models trained on the originals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import _bench_common as bc
from _bench_setup import (
    BASELINES,
    LIBRARY_DEFAULT,
    MODELS,
    RECOMMENDED,
    Ctx,
    Setup,
    delta,
    feat_table,
    md_table,
)

# ---- robustness
PERTURBATIONS = ("jpeg q95", "jpeg q75", "jpeg q50", "down 0.5×")


def _perturb(paths: list[str], kind: str, out_dir: Path) -> list[str]:
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        stem = f"{Path(p).parent.name}_{Path(p).stem}"  # k140 has real/00000 and ai/00000
        if kind.startswith("jpeg"):
            target = out_dir / f"{stem}.jpg"
            if not target.exists():
                with Image.open(p) as im:
                    im.convert("RGB").save(target, quality=int(kind.split("q")[1]))
        else:
            target = out_dir / f"{stem}.png"
            if not target.exists():
                with Image.open(p) as im:
                    rgb = im.convert("RGB")
                    rgb.resize((rgb.width // 2, rgb.height // 2), Image.Resampling.BICUBIC).save(
                        target
                    )
        out.append(str(target))
    return out


def section_robustness(ctx: Ctx) -> dict[str, Any]:
    n_eval_folds = 1
    setups = (RECOMMENDED, LIBRARY_DEFAULT, *BASELINES)
    single = (
        Setup("recommended, cnn only", RECOMMENDED.feat.only(("cnn",)), RECOMMENDED.model),
        Setup("recommended, fft only", RECOMMENDED.feat.only(("fft",)), "xgb"),
    )
    setups = (*setups, *single)
    results: dict[str, Any] = {}
    rows = []
    for name, df in ctx.sets.items():
        per_setup: dict[str, dict[str, list]] = {s.name: {} for s in setups}
        for fold in range(n_eval_folds):
            tr, te = ctx.splits[name][fold]
            test = df.iloc[te].reset_index(drop=True)
            versions = {"clean": test}
            for kind in PERTURBATIONS:
                folder = bc.CACHE_ROOT / "perturbed" / name / bc._slug(kind)
                copy = test.copy()
                copy["path"] = _perturb(test["path"].tolist(), kind, folder)
                versions[kind] = copy
            stores = {
                k: bc.FeatureStore({name: v}, cache_root=ctx.store.cache_root)
                for k, v in versions.items()
            }
            for setup in setups:
                Xtr = ctx.table(name, setup.feat).iloc[tr].reset_index(drop=True)
                dtr = df.iloc[tr].reset_index(drop=True)
                model = MODELS[setup.model][1]()
                model.fit(Xtr, dtr["label"].to_numpy(), dtr["group"].to_numpy())
                for kind, st in stores.items():
                    Xte = feat_table(st, name, setup.feat)[Xtr.columns]
                    s = model.score(Xte)
                    m = bc.fold_metrics(test["label"].to_numpy(), s, model.threshold)
                    per_setup[setup.name].setdefault(kind, []).append(m)
        results[name] = {}
        for setup in setups:
            summ = {k: bc.summarise(v) for k, v in per_setup[setup.name].items()}
            results[name][setup.name] = summ
            clean = summ["clean"]["roc_auc"]["mean"]
            rows.append(
                [
                    name,
                    setup.name,
                    f"{clean:.3f}",
                    *[
                        f"{summ[k]['roc_auc']['mean']:.3f} "
                        f"({delta(summ[k]['roc_auc']['mean'], clean)})"
                        for k in PERTURBATIONS
                    ],
                ]
            )
    lines = [
        f"Models trained on clean images of the training folds; the test images of "
        f"{'grouped fold 0' if n_eval_folds == 1 else f'grouped folds 0–{n_eval_folds - 1}'} "
        "(of the in-domain split) are re-encoded with Pillow as JPEG at quality 95/75/50 "
        "(4:2:0) or down-scaled to half size (bicubic, saved as PNG so that only the scale "
        f"changes); copies are written under `{bc.CACHE_ROOT}/perturbed`. ROC AUC "
        "(change vs clean), averaged over the evaluated folds.",
        "",
        md_table(["set", "model", "clean", *PERTURBATIONS], rows, "ll" + "r" * 5),
        "",
        "Re-encoding changes the metadata too (quality tables, file size; PNG after "
        "down-scaling), which is part of what a deployed detector sees.",
    ]
    return {"title": "Robustness", "markdown": "\n".join(lines), "results": results}
