"""The overview topic (the runner's default): ``docs/benchmarks.md`` and ``docs/benchmarks.json``.

Reads the development sets under ``../shared/data`` (``DEEPFEAT_SHARED_DATA`` overrides it;
sections that need them are skipped with a message when they are absent) and measures,
with grouped splits only (a DFDC fake and its source video never straddle train and test):

* ``indomain``    grouped 5-fold CV per set (v0.1 defaults, current defaults, recommended);
* ``crosssource`` train on one set, test on the other, both directions;
* ``ablation``    cnn / fft / meta / pairs / all per set, with fold spread;
* ``baselines``   Durall et al. 2020 (LR and SVM on their spectrum) and a linear probe on
  the frozen embedding (UnivFD-style), against the combined detector;
* ``robustness``  test images re-encoded (JPEG q95/q75/q50) and down-scaled 0.5×;
* ``leakage``     ``leakage_report`` findings per set;
* ``cost``        extraction img/s per group and combined vs the raw backbone, training
  time, one-image latency (cold process and warm), peak RSS;
* ``training``    the detector training-time benchmark of issue 6 (5000 × ~1400 table);
* ``experiments`` issue 12: what moves held-out AUC (layers, resize, spectrum variants,
  classifier, training on both sets);
* ``topics``      every other topic's ``run(quick)`` section (``bench_*.py`` beside this file).

Metrics: ROC AUC, average precision, balanced accuracy (at the model's own threshold) and
TPR at 5 % FPR, mean ± std over grouped folds; never plain accuracy (DFDC is 66 % fake).

Usage::

    .venv/bin/python scripts/benchmarks/run.py --quick            # small subsets, minutes
    .venv/bin/python scripts/benchmarks/run.py                    # full run (~40 min, 2 cores)
    .venv/bin/python scripts/benchmarks/run.py --sections indomain,ablation --no-write

Features are cached per variant under ``/tmp/deepfeat-bench`` (``DEEPFEAT_BENCH_CACHE``),
so a re-run only trains; perturbed test copies are written there too, never in the repo.

The sections live in ``_bench_setup`` (configurations, run context, markdown helpers),
``_bench_quality``, ``_bench_robustness``, ``_bench_cost``, ``_bench_training``,
``_bench_experiments`` and ``_bench_union``; this file is the driver.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _bench_common as bc
from _bench_cost import section_cost
from _bench_experiments import section_experiments
from _bench_quality import (
    section_ablation,
    section_baselines,
    section_crosssource,
    section_indomain,
    section_leakage,
)
from _bench_robustness import section_robustness
from _bench_setup import GOALS, LIBRARY_DEFAULT, RECOMMENDED, Ctx, _skipped, jsonable, md_table
from _bench_training import section_training

#: The document this topic regenerates.
DOCUMENT = "docs/benchmarks.md"
#: One line for ``run.py --list``.
SUMMARY = (
    "every number the README claims (in-domain, cross-source, ablation, baselines, "
    "robustness, leakage, cost, training, experiments), then every topic's section"
)

logger = logging.getLogger(__name__)

SCRIPTS = Path(__file__).resolve().parent


if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


SECTIONS = (
    "indomain",
    "crosssource",
    "ablation",
    "baselines",
    "robustness",
    "leakage",
    "cost",
    "training",
    "experiments",
    "topics",
)


#: Per-topic benchmarks run first, in this order; any other ``scripts/bench_*.py`` with a
#: ``run(quick)`` function follows alphabetically.
TOPICS = ("bench_cnn", "bench_spectrum", "bench_metadata", "bench_face", "bench_extract")


def topic_modules() -> list[str]:
    found = sorted(p.stem for p in SCRIPTS.glob("bench_*.py") if p.stem != "bench_overview")
    return [t for t in TOPICS if t in found] + [t for t in found if t not in TOPICS]


# ---- topics
def section_topics(ctx: Ctx, quick: bool, topics_full: bool = False) -> list[dict[str, Any]]:
    """Run every per-topic benchmark: quick in a quick run; in a full run, full for the
    topics that set ``FULL_IN_FULL_RUN = True`` (their targets need it) or with
    ``--topics-full``, quick for the others."""
    out = []
    for name in topic_modules():
        t0 = time.perf_counter()
        topic_quick = quick
        try:
            mod = importlib.import_module(name)
            if not hasattr(mod, "run"):  # a stand-alone script (writes its own report)
                logger.info("topic %s has no run(quick): skipped", name)
                continue
            topic_quick = quick or not (topics_full or getattr(mod, "FULL_IN_FULL_RUN", False))
            res = mod.run(quick=topic_quick)
            res["seconds"] = round(time.perf_counter() - t0, 1)
        except Exception as exc:  # a broken topic must not lose the whole report
            logger.exception("topic %s failed", name)
            res = {"title": name, "markdown": f"*failed: {exc!r}*", "results": {}}
        md = res["markdown"].strip("\n")
        md_lines = md.splitlines()
        if md_lines and md_lines[0].startswith("#"):  # some topics start with their title
            md = "\n".join(md_lines[1:]).lstrip("\n")
        md = re.sub(r"^#{1,3} ", "#### ", md, flags=re.MULTILINE)
        out.append(
            {
                "title": f"{res['title']} (`run.py {name.removeprefix('bench_')}`)",
                "markdown": md
                + f"\n\n*({name}.run(quick={topic_quick}) took {res.get('seconds', 0)} s)*",
                "results": res.get("results", {}),
            }
        )
    return out


# ----------------------------------------------------------------------------- main
def build_summary(sections: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    ind = sections.get("indomain", {}).get("results", {})
    abl = sections.get("ablation", {}).get("results", {}).get("recommended", {})
    base = sections.get("baselines", {}).get("results", {})
    cross = sections.get("crosssource", {}).get("results", {})
    rows = []
    if "skipped" in ind or "skipped" in base:
        return "*No development data: the data sections were skipped.*"
    if "skipped" in cross:
        cross = {}
    if "skipped" in abl:
        abl = {}
    for name in ind:
        rec = ind[name]["recommended"]["roc_auc"]
        dft = ind[name][LIBRARY_DEFAULT.name]["roc_auc"]
        gain = abl.get(name, {}).get("gain_over_best_single")
        best_base = None
        if name in base:
            others = {
                k: v
                for k, v in base[name].items()
                if k not in ("recommended", LIBRARY_DEFAULT.name)
            }
            if others:
                k = max(others, key=lambda k: others[k]["in_domain"]["roc_auc"]["mean"])
                best_base = (k, others[k]["in_domain"]["roc_auc"]["mean"])
        out = [v for k, v in cross.items() if k.startswith(f"{name}->")]
        rows.append(
            [
                name,
                f"{dft['mean']:.3f} ± {dft['std']:.3f}",
                f"{rec['mean']:.3f} ± {rec['std']:.3f}",
                f"≥ {GOALS[name]:.2f}: {'met' if rec['mean'] >= GOALS[name] else 'not met'}",
                "—" if gain is None else f"{gain:+.3f} (goal ≥ +{GOALS['combine_gain']:.2f})",
                "—" if best_base is None else f"{best_base[1]:.3f} ({best_base[0]})",
                "—" if not out else f"{out[0]['recommended']['roc_auc']['mean']:.3f}",
            ]
        )
    if rows:
        lines += [
            md_table(
                [
                    "set",
                    "AUC v0.1 defaults",
                    "AUC recommended",
                    "goal",
                    "combining vs best single group",
                    "best literature baseline",
                    "cross-source AUC (trained on this set)",
                ],
                rows,
                "lrrllll",
            ),
            "",
            f"Recommended setup: {RECOMMENDED.describe()}. In-domain AUC is grouped "
            "cross-validation; cross-source AUC trains on one set and tests on the other.",
        ]
    return "\n".join(lines)


def write_report(
    path_md: Path,
    path_json: Path,
    header: dict[str, Any],
    sections: dict[str, dict[str, Any]],
    topics: list[dict[str, Any]],
) -> None:
    h = header
    md = [
        "# Benchmarks",
        "",
        "Generated by `scripts/benchmarks/run.py` — do not edit by hand; re-run it instead.",
        "",
        f"* Command: `{h['command']}` ({h['mode']} mode), {h['started']}, wall time "
        f"{h['wall_minutes']:.1f} min.",
        f"* Machine: {h['machine']['cpu_model']}, {h['machine']['cores']} cores "
        f"(shared with other jobs), {h['machine']['platform']}; Python "
        f"{h['machine']['python']}, deepfeat {h['machine']['deepfeat']}, xgboost "
        f"{h['machine']['xgboost']}, scikit-learn {h['machine']['scikit-learn']}, onnxruntime "
        f"{h['machine']['onnxruntime']}.",
        f"* Load average (1/5/15 min) at start {h['load_start']}, at end {h['load_end']} "
        f"on {h['machine']['cores']} cores: values above the core count mean other processes "
        "competed for the CPU, so absolute timings are pessimistic; ratios measured in the "
        "same run are comparable. BLAS is limited to 1 thread and the quality experiments "
        f"train XGBoost with `n_jobs={bc.XGB_JOBS}` (same trees, far less time on a busy "
        "machine); the cost and training-time sections use the library settings.",
        f"* Peak RSS of the benchmark process: {h['peak_rss_mb']:.0f} MiB.",
        f"* Data: `{bc.SHARED_DATA}` — "
        + ", ".join(f"{k}: {v} images" for k, v in h["data"].items())
        + (" (quick mode: whole groups subsampled)." if h["mode"] == "quick" else "."),
        f"* Feature cache: `{bc.CACHE_ROOT}` (per variant; extraction time this run: "
        f"{h['extraction_seconds']:.0f} s).",
        "",
        "## Summary",
        "",
        build_summary(sections),
        "",
    ]
    for key in SECTIONS:
        if key in sections:
            s = sections[key]
            md += [f"## {s['title']}", "", s["markdown"], ""]
    if topics:
        md += ["## Per-topic benchmarks", ""]
        for t in topics:
            md += [f"### {t['title']}", "", t["markdown"], ""]
    path_md.parent.mkdir(parents=True, exist_ok=True)
    path_md.write_text("\n".join(md).rstrip() + "\n", encoding="utf-8")
    payload = {
        "header": h,
        "sections": {k: v["results"] for k, v in sections.items()},
        "topics": {t["title"]: t["results"] for t in topics},
    }
    path_json.write_text(
        json.dumps(jsonable(payload), indent=1, sort_keys=False) + "\n", encoding="utf-8"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small subsets, 3 folds (minutes)")
    p.add_argument(
        "--sections",
        default="all",
        help=f"comma-separated subset of {', '.join(SECTIONS)} (default: all)",
    )
    p.add_argument("--skip", default="", help="comma-separated sections to leave out")
    p.add_argument("--folds", type=int, default=None, help="grouped folds (default 5; quick 3)")
    p.add_argument(
        "--topics-full",
        action="store_true",
        help="run the per-topic benchmarks in full mode in a full run (default: their quick "
        "mode, to keep the full run near 40 minutes; bench_cnn alone takes ~7 min in full)",
    )
    p.add_argument(
        "--reuse-cv",
        action="store_true",
        help=f"reuse model results pickled under {bc.CACHE_ROOT}/cv-results by an earlier "
        "run (development only: timings in the report are then not measured)",
    )
    p.add_argument("--out-md", type=Path, default=bc.REPO / "docs" / "benchmarks.md")
    p.add_argument("--out-json", type=Path, default=bc.REPO / "docs" / "benchmarks.json")
    p.add_argument("--no-write", action="store_true", help="print the markdown instead")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from threadpoolctl import threadpool_limits

    args = parse_args(argv)
    # One BLAS thread: the linear models here are small, and on a shared 2-core machine
    # multi-threaded OpenBLAS was ~10x slower (threads spinning against other processes).
    # XGBoost (OpenMP) and onnxruntime keep their own thread settings.
    with threadpool_limits(limits=1, user_api="blas"):
        return _main(args, argv)


def _main(args: argparse.Namespace, argv: list[str] | None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not args.verbose:
        logging.getLogger("deepfeat").setLevel(logging.WARNING)
    wanted = SECTIONS if args.sections == "all" else tuple(args.sections.split(","))
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    skip = {s for s in args.skip.split(",") if s}
    wanted = tuple(s for s in SECTIONS if s in wanted and s not in skip)

    started = time.strftime("%Y-%m-%d %H:%M %Z")
    t_start = time.perf_counter()
    load_start = bc.load_average()
    sets = bc.load_sets(args.quick)
    sections: dict[str, dict[str, Any]] = {}
    topics: list[dict[str, Any]] = []
    n_folds = args.folds or (3 if args.quick else 5)
    store = bc.FeatureStore(sets)
    ctx = Ctx(quick=args.quick, n_folds=n_folds, sets=sets, store=store, reuse_cv=args.reuse_cv)
    for name, df in sets.items():
        ctx.splits[name] = bc.splits_for(df, n_folds)

    data_sections = [s for s in wanted if s not in ("topics",)]
    if not sets and data_sections:
        msg = f"no development data under {bc.SHARED_DATA}"
        print(f"benchmark: {msg}; skipping {', '.join(data_sections)}", file=sys.stderr)
        for s in data_sections:
            sections[s] = _skipped(s, msg)
        data_sections = []
    runners: dict[str, Callable[[Ctx], dict[str, Any]]] = {
        "indomain": section_indomain,
        "crosssource": section_crosssource,
        "ablation": section_ablation,
        "baselines": section_baselines,
        "robustness": section_robustness,
        "leakage": section_leakage,
        "cost": section_cost,
        "training": section_training,
        "experiments": section_experiments,
    }
    section_seconds = {}
    for key in data_sections:
        logger.info("=== section %s", key)
        t0 = time.perf_counter()
        sections[key] = runners[key](ctx)
        section_seconds[key] = round(time.perf_counter() - t0, 1)
        logger.info("=== section %s done in %.0f s", key, section_seconds[key])
    if "topics" in wanted:
        t0 = time.perf_counter()
        topics = section_topics(ctx, quick=args.quick, topics_full=args.topics_full)
        section_seconds["topics"] = round(time.perf_counter() - t0, 1)

    header = {
        "command": " ".join(
            [
                "python",
                "scripts/benchmarks/run.py",
                *map(shlex.quote, sys.argv[1:] if argv is None else argv),
            ]
        ),
        "mode": "quick" if args.quick else "full",
        "folds": n_folds,
        "started": started,
        "wall_minutes": (time.perf_counter() - t_start) / 60,
        "section_seconds": section_seconds,
        "machine": bc.machine_info(),
        "load_start": load_start,
        "load_end": bc.load_average(),
        "peak_rss_mb": bc.peak_rss_mb(),
        "data": {n: len(df) for n, df in sets.items()},
        "extraction_seconds": sum(sum(v.values()) for v in store.timings.values()),
        "extraction_seconds_by_variant": store.timings,
        "extraction_failures": store.failures,
        "sections": list(wanted),
        "reused_cv_results": bool(args.reuse_cv),
        "topics_mode": "quick" if (args.quick or not args.topics_full) else "full",
        "blas_threads": 1,
    }
    if args.no_write:
        tmp = Path(tempfile.mkdtemp(prefix="deepfeat-bench-report-"))
        write_report(tmp / "benchmarks.md", tmp / "benchmarks.json", header, sections, topics)
        print((tmp / "benchmarks.md").read_text())
    else:
        write_report(args.out_md, args.out_json, header, sections, topics)
        print(f"wrote {args.out_md} and {args.out_json} in {header['wall_minutes']:.1f} min")
    return 0
