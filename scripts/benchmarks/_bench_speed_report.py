"""The page of the speed ladder (topic speed): goals met or not, and the tables."""

from __future__ import annotations

GOALS = {"extraction_vs_raw_full": 1.5, "vs_torch_eager": 3.0, "fft_meta_jobs2": 1500.0}
REFERENCE = "raw fp32 full graph"


def _goals(r: dict) -> dict:
    rows = r["rows"]
    ext = rows["ImageFeatures default, trimmed graph (after, default)"]["ratio_vs_raw_full"]
    fm2 = rows["spectrum + metadata, n_jobs=2"]["img_s"]
    peer = r["torch_peer"]
    return {
        "extraction_vs_raw_full": ext,
        "fft_meta_jobs2": fm2,
        "vs_torch_eager": None if peer is None else peer["deepfeat_vs_eager"],
    }


def _markdown(r: dict) -> str:
    lines = [
        f"Images: {r['images']} ({r['n_images']}), {r['trials']} interleaved trials, "
        f"2 intra-op threads. Reference = {REFERENCE} (`session.run` of "
        f"`{r['files'][REFERENCE]}` on ready tensors). CPU ms/img counts every thread of "
        "this process and of its worker processes.",
        "",
        "| step | row | img/s (best) | × raw fp32 full graph (median) | CPU ms/img |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, row in r["rows"].items():
        lines.append(
            f"| {row['step']} | {name} | {row['img_s']:.1f} | {row['ratio_vs_raw_full']:.2f} | "
            f"{row['cpu_ms_per_image']:.2f} |"
        )
    lines += ["", "Features unchanged by the speed steps (exact equality on these images):"]
    lines += [f"* {k}: {'yes' if v else '**no**'}" for k, v in r["identical_features"].items()]
    auc = r["int8_auc"]
    lines += ["", "AUC of each step on both dev sets:", ""]
    lines.append(
        "* trimmed graph and overlap: the features are identical (above), so the AUC is that "
        "of the default setup in the in-domain and cross-source sections of this report."
    )
    if auc:
        cols = list(auc["fp32"])
        lines += [
            "* int8 (topic `precision`, `docs/benchmarks_precision.json`, default "
            "extractor and detector, grouped 3-fold):",
            "",
            "| precision | " + " | ".join(cols) + " |",
            "| --- |" + " ---: |" * len(cols),
        ]
        for prec, vals in auc.items():
            lines.append(f"| {prec} | " + " | ".join(f"{vals[c]:.3f}" for c in cols) + " |")
        worst = max(abs(auc["int8"][c] - auc["fp32"][c]) for c in cols)
        lines += [
            "",
            f"  Largest AUC move {worst:.3f} > 0.005: int8 is not the default (issue 21's rule).",
        ]
    cut = r["cut_auc"]
    if cut:
        cols = list(next(iter(cut.values())))
        base = next(iter(cut.values()))
        lines += [
            "",
            "* a shallower cut (default features minus the later stages' columns, "
            "`DeepfakeDetector()`, this run):",
            "",
            "| graph ends after | " + " | ".join(cols) + " | largest move |",
            "| --- |" + " ---: |" * (len(cols) + 1),
        ]
        for name, vals in cut.items():
            move = max(abs(vals[c] - base[c]) for c in cols)
            lines.append(
                f"| {name} | " + " | ".join(f"{vals[c]:.3f}" for c in cols) + f" | {move:.3f} |"
            )
        lines += ["", "  A cut is adoptable only with every move ≤ 0.005."]
    else:
        lines += ["", "* a shallower cut: AUC not measured (quick mode or no dev data)."]
    peer = r["torch_peer"]
    if peer:
        lines += [
            "",
            f"Torch peer (torch {peer['torch']}, {peer['threads']} threads, same tensors): "
            + ", ".join(f"{k} {v:.1f} img/s" for k, v in peer["img_per_s"].items())
            + f" → deepfeat {peer['deepfeat_vs_eager']:.2f}× eager, "
            f"{peer['deepfeat_vs_inference_mode']:.2f}× inference_mode.",
        ]
    else:
        lines += ["", "Torch peer: skipped (the `export` extra is not installed)."]
    g = r["goals"]

    def verdict(value, goal, unit=""):
        if value is None:
            return "not measured"
        return f"{value:.2f}{unit} (goal ≥ {goal:g}{unit}: {'met' if value >= goal else 'not met'})"

    lines += [
        "",
        "Goals: full default extraction "
        + verdict(g["extraction_vs_raw_full"], GOALS["extraction_vs_raw_full"], "×")
        + " the raw fp32 full graph; deepfeat vs torch eager "
        + verdict(g["vs_torch_eager"], GOALS["vs_torch_eager"], "×")
        + "; spectrum + metadata with n_jobs=2 "
        + verdict(g["fft_meta_jobs2"], GOALS["fft_meta_jobs2"], " img/s")
        + ". Peak RSS against the number of inputs: *Extraction throughput and memory*.",
    ]
    return "\n".join(lines)
