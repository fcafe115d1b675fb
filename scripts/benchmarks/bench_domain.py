"""Know when a verdict cannot be trusted (issue 26): the out-of-domain warning and the source audit.

Protocol, on ``../shared/data`` only (nothing else tunes anything):

* dev sources ``dfdc`` and ``k140``; leave-one-source-out regimes: ``union`` (both),
  ``dfdc only`` (k140 never seen) and ``k140 only`` (dfdc never seen); 3 grouped folds
  over the dev rows (groups = source video / image), the default ``DeepfakeDetector``
  with the default extractor, ``source=`` given;
* unseen data, never trained on: ``stylegan3`` (256 px PNG fakes), ``genphotos`` (512 px
  JPEG fakes), ``exif`` (camera photos, not faces) and, in the one-source regimes, the left
  out dev source;
* the warning: share of rows flagged (``domain_score > 1``) per held-out dev source and per
  unseen folder; metrics on all rows and on in-domain rows only: held-out AUC, TPR of the
  unseen generators and FPR of the unseen reals at the threshold that flags 5 % of the
  held-out dev reals;
* which features carry the warning: the same flag shares for a domain model on one
  feature block (cnn, fft, meta, cnn+fft) of the union training rows;
* the source audit of the union model (``source_report_``: grouped AUC telling dfdc reals
  from k140 reals, by the features and by the model's held-out score).

Run: ``python scripts/benchmarks/run.py domain [--quick]`` (writes ``docs/benchmarks_domain.md`` and
``.json``); it is also a topic of ``scripts/benchmarks/run.py``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import _bench_common as bc
import numpy as np
import pandas as pd
from _bench_sources import load_all, protocol_main

#: The document this topic regenerates.
DOCUMENT = "docs/benchmarks_domain.md"
#: One line for ``run.py --list``.
SUMMARY = "the out-of-domain warning and the source audit, leave-one-source-out"

logger = logging.getLogger("bench_domain")

TITLE = "Out-of-domain warning and source audit (issue 26)"
ROOT = bc.CACHE_ROOT / "ood"
FPR = 0.05
DEV = ("dfdc", "k140")
UNSEEN = ("stylegan3", "genphotos", "exif")
REGIMES = {"union": DEV, "dfdc only": ("dfdc",), "k140 only": ("k140",)}
BLOCKS = {
    "cnn": ("cnn",),
    "fft": ("fft",),
    "meta": ("meta",),
    "cnn+fft": ("cnn", "fft"),
    "all (default)": ("cnn", "fft", "meta"),
}


def tables(sets: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Default-extractor features of every folder (content-hash cache under ``ROOT``)."""
    from deepfeat import ImageFeatures
    from deepfeat.features._cache import extract_table

    ext = ImageFeatures().fit()
    out = {}
    for name, df in sets.items():
        table, fails = extract_table(df[["path"]], ext, cache_dir=ROOT / "features", progress=False)
        if len(fails):
            logger.warning("%s: %d extraction failures", name, len(fails))
        table.index = df.index
        out[name] = pd.concat([df, table], axis=1)
    return out


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(s)
    return float(roc_auc_score(y[ok], s[ok])) if len(np.unique(y[ok])) == 2 else float("nan")


def _fit(train: pd.DataFrame, cols: list[str]):
    from deepfeat import DeepfakeDetector

    det = DeepfakeDetector(audit=False, random_state=0, n_jobs=bc.XGB_JOBS)
    return det.fit(train[[*cols, "label", "group", "source"]])


def _fold(det, cols, test: pd.DataFrame, data: dict[str, pd.DataFrame], regime) -> dict:
    """Flag shares and metrics (all rows / in-domain rows) of one fitted model."""
    m: dict[str, float] = {}
    scored: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for s in DEV:
        rows = test if s in regime else data[s]  # a left-out source: all of it is unseen
        if s in regime:
            rows = rows[rows["source"] == s]
        X = rows[cols]
        p, d = det.predict_proba(X)[:, 1], det.domain_score(X)
        scored[s] = (rows["label"].to_numpy(), p, d <= 1)
    for s in UNSEEN:
        if s in data:
            X = data[s][cols]
            p, d = det.predict_proba(X)[:, 1], det.domain_score(X)
            scored[s] = (data[s]["label"].to_numpy(), p, d <= 1)
    # Threshold: 5 % of the held-out reals of the training sources, as a user would set it.
    reals = np.concatenate([scored[s][1][scored[s][0] == 0] for s in regime])
    t = float(np.quantile(reals, 1 - FPR))
    for s, (y, p, ok) in scored.items():
        m[f"flag_{s}"] = float(np.mean(~ok))
        if s in DEV:
            m[f"auc_{s}"] = _auc(y, p)
            m[f"auc_{s}_in"] = _auc(y[ok], p[ok]) if ok.sum() > 10 else float("nan")
        else:
            pre = "fpr" if s == "exif" else "tpr"
            m[f"{pre}_{s}"] = float(np.mean(p >= t))
            m[f"{pre}_{s}_in"] = float(np.mean(p[ok] >= t)) if ok.any() else float("nan")
            m[f"n_{s}_in"] = int(ok.sum())
    return m


def _block_flags(dev: pd.DataFrame, tr, te, data, cols_all: list[str]) -> dict[str, dict]:
    """Flag shares of a domain model on one feature block (union training rows)."""
    from deepfeat.detector._domain import fit_domain

    out = {}
    train, test = dev.iloc[tr], dev.iloc[te]
    for name, prefixes in BLOCKS.items():
        cols = [c for c in cols_all if c.split("_")[0] in prefixes]
        dom, _ = fit_domain(
            train[cols].to_numpy(float),
            cols,
            train["group"].to_numpy(),
            source=train["source"].to_numpy(),
        )
        r = {}
        for s in DEV:
            rows = test[test["source"] == s]
            r[s] = float(np.mean(dom.score(rows[cols].to_numpy(float)) > 1))
        for s in UNSEEN:
            if s in data:
                r[s] = float(np.mean(dom.score(data[s][cols].to_numpy(float)) > 1))
        out[name] = r
    return out


def run_protocol(data: dict[str, pd.DataFrame], n_folds: int) -> dict[str, Any]:
    from deepfeat._schema import is_feature_column

    dev = pd.concat([data[s].assign(source=s) for s in DEV], ignore_index=True)
    cols = [c for c in dev.columns if is_feature_column(c) and not c.startswith("meta_sidecar")]
    folds = bc.splits_for(dev, n_folds)
    res: dict[str, Any] = {"regimes": {}, "blocks": [], "audit": [], "fit_seconds": []}
    for k, (tr, te) in enumerate(folds):
        train_all, test = dev.iloc[tr], dev.iloc[te]
        for regime, sources in REGIMES.items():
            train = train_all[train_all["source"].isin(sources)]
            t0 = time.perf_counter()
            det = _fit(train, cols)
            seconds = time.perf_counter() - t0
            m = _fold(det, cols, test, data, sources)
            m["fit_seconds"] = seconds
            res["regimes"].setdefault(regime, []).append(m)
            logger.info("fold %d %s: %s", k, regime, {a: round(b, 3) for a, b in m.items()})
            if regime == "union":
                rep = det.source_report_
                res["audit"].append(rep.drop(columns="explanation").to_dict("records"))
                res["fit_seconds"].append(seconds)
        res["blocks"].append(_block_flags(dev, tr, te, data, cols))
    return res


def _mean_sd(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    if not np.isfinite(v).any():
        return "–"
    return f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}"


def markdown(res: dict[str, Any], header: dict[str, Any]) -> str:
    lines = [
        f"Command: `{header['command']}`, {header['started']}, {header['folds']} grouped folds "
        f"over dfdc + k140 (groups = source video / image), wall time {header['minutes']:.1f} "
        f"min, load {header['load']}. Data: {header['data']}. Model: the default "
        "`DeepfakeDetector` (default extractor: cnn + fft + meta), `source=` given, "
        "`domain_fpr=0.05`. Mean ± std over folds.",
        "",
        "**Share of rows flagged out of domain** (`domain_score > 1`). Held-out rows of a "
        "training source should be flagged rarely (goal ≤ 0.10); a source or folder never "
        "trained on (marked *) should be flagged (goal ≥ 0.90).",
        "",
    ]
    names = [*DEV, *UNSEEN]
    lines.append("| trained on | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for regime, folds in res["regimes"].items():
        cells = []
        for s in names:
            mark = "" if s in REGIMES[regime] else "*"
            cells.append(_mean_sd([f.get(f"flag_{s}", np.nan) for f in folds]) + mark)
        lines.append(f"| {regime} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Verdicts on all rows vs in-domain rows only.** AUC: held-out rows of the "
        "training sources, all rows of a left-out source. TPR of the unseen generators and "
        "FPR of the unseen camera photos at the threshold that flags 5 % of the held-out "
        "reals of the training sources; `in` = only the rows the warning lets through "
        "(`n in`: how many, mean over folds).",
        "",
    ]
    cols = [
        ("auc_dfdc", "AUC dfdc"),
        ("auc_k140", "AUC k140"),
        ("tpr_stylegan3", "TPR stylegan3"),
        ("tpr_genphotos", "TPR genphotos"),
        ("fpr_exif", "FPR exif"),
    ]
    head = []
    for _, title in cols:
        head += [f"{title} all", f"{title} in"]
    lines.append("| trained on | " + " | ".join(head) + " | n in (sg3 / gen / exif) | fit s |")
    lines.append("|---|" + "---|" * (len(head) + 2))
    for regime, folds in res["regimes"].items():
        cells = []
        for key, _ in cols:
            cells += [
                _mean_sd([f.get(key, np.nan) for f in folds]),
                _mean_sd([f.get(f"{key}_in", np.nan) for f in folds]),
            ]
        n_in = " / ".join(
            f"{np.mean([f.get(f'n_{s}_in', np.nan) for f in folds]):.0f}" for s in UNSEEN
        )
        fit_s = np.mean([f["fit_seconds"] for f in folds])
        lines.append(f"| {regime} | " + " | ".join(cells) + f" | {n_in} | {fit_s:.1f} |")
    lines += [
        "",
        "**Which features carry the warning** (union training rows, a domain model on one "
        "feature block; share flagged):",
        "",
        "| features | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for block in BLOCKS:
        cells = [_mean_sd([f[block].get(s, np.nan) for f in res["blocks"]]) for s in names]
        lines.append(f"| {block} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Source audit of the union model** (`source_report_`, reals of the validation "
        "fold: grouped 3-fold logistic regression telling dfdc reals from k140 reals, and "
        "the model's held-out P(fake) as a k140 score; flagged at AUC ≥ 0.75 or ≤ 0.25):",
        "",
    ]
    keys = [k for k in res["audit"][0][0] if k.startswith("auc_")] if res["audit"] else []
    lines.append("| pair | " + " | ".join(keys) + " | flagged |")
    lines.append("|---|" + "---|" * (len(keys) + 1))
    if res["audit"] and res["audit"][0]:
        rows = [fold[0] for fold in res["audit"] if fold]
        cells = [_mean_sd([r[k] for r in rows]) for k in keys]
        flagged = f"{sum(bool(r['flag']) for r in rows)} of {len(rows)} folds"
        pair = f"{rows[0]['source_a']} / {rows[0]['source_b']}"
        lines.append(f"| {pair} | " + " | ".join(cells) + f" | {flagged} |")
    return "\n".join(lines)


def run(quick: bool = False, folds: int = 3) -> dict[str, Any]:
    """Per-topic entry of ``scripts/benchmarks/run.py``."""
    t0 = time.perf_counter()
    sets = load_all(quick)
    if not all(s in sets for s in DEV):
        return {"title": TITLE, "markdown": "*Skipped: dev data absent.*", "results": {}}
    data = tables(sets)
    res = run_protocol(data, folds)
    header = bc.run_header("domain", quick, folds, t0, sets)
    return {
        "title": TITLE,
        "markdown": markdown(res, header),
        "results": {"protocol": res, "header": header},
    }


def main(argv: list[str] | None = None) -> int:
    return protocol_main(argv, doc=__doc__, topic="domain", title=TITLE, page=DOCUMENT, run=run)
