"""``write_report``: every figure of :mod:`deepfeat.plots` as PNG plus one self-contained HTML page.

The command line ``deepfeat report INPUT [--model MODEL_DIR] --out DIR`` calls
``write_report(INPUT, DIR, detector=MODEL_DIR)``.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import plots
from ._version import __version__
from .plots._common import SPECTRUM_COLUMN, as_dataset, sample_rows

logger = logging.getLogger(__name__)

__all__ = ["REPORT_NAME", "split_feature_table", "write_report"]

#: File name of the HTML page inside ``out_dir``.
REPORT_NAME = "report.html"

#: Figures drawn per class: left out (with a note) for unlabelled inputs.
_NEEDS_LABELS = {
    "class_balance.png",
    "distributions.png",
    "boxplots.png",
    "violins.png",
    "real_vs_fake.png",
    "fft_images.png",
    "mean_spectra.png",
    "spectrum_difference.png",
    "roc.png",
    "pr.png",
    "confusion_matrix.png",
    "calibration.png",
}


@dataclass
class _Entry:
    section: str
    file: str
    title: str
    caption: str


@dataclass
class _Report:
    out_dir: Path
    dpi: int
    entries: list[_Entry] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    bar: Any = None
    labelled: bool = True

    def skip(self, title: str, reason: str) -> None:
        """Record a figure left out, with the reason shown on the page."""
        logger.info("report: %s left out: %s", title, reason)
        self.skipped.append((title, reason))

    def add(self, section: str, file: str, title: str, caption: str, make) -> None:
        """Build a figure with ``make()``, save it as ``file``; record a skip on ValueError."""
        if not self.labelled and file in _NEEDS_LABELS:
            self.skip(title, "needs labels; the input has no label column")
            return
        if self.bar is not None:
            self.bar.set_postfix_str(file)
            self.bar.update(1)
        try:
            fig = make()
        except ValueError as exc:
            logger.warning("report: %s skipped: %s", file, exc)
            self.skipped.append((title, str(exc)))
            return
        fig.savefig(self.out_dir / file, dpi=self.dpi, facecolor="white")
        fig.clear()  # drop the artists now; the figure is not registered anywhere
        self.entries.append(_Entry(section, file, title, caption))


def split_feature_table(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(dataset, features)`` of a parquet file written by ``deepfeat extract``.

    The dataset part holds the input columns (``path``, and ``label``, ``group`` … when the
    input had them), the features part the ``cnn_*``/``fft_*``/``meta_*`` columns, in the
    same row order. Nothing is extracted.
    """
    from ._schema import GROUPS, feature_group

    table = pd.read_parquet(path)
    feature_cols = [c for c in table.columns if feature_group(str(c)) in GROUPS]
    data = table[[c for c in table.columns if c not in set(feature_cols)]]
    data.attrs["source"] = str(path)
    data.attrs["layout"] = "features parquet"
    return data, table[feature_cols]


def _load_detector(detector: Any):
    if detector is None:
        return None
    if isinstance(detector, (str, os.PathLike)):
        from .detector import DeepfakeDetector

        return DeepfakeDetector.load(detector)
    if not hasattr(detector, "predict_proba") or not hasattr(detector, "explain"):
        raise TypeError("detector must be a fitted DeepfakeDetector or the path of a saved one")
    return detector


def _feature_table(detector: Any, df: pd.DataFrame, features: Any) -> pd.DataFrame:
    if features is not None:
        if not isinstance(features, pd.DataFrame):
            raise TypeError("features must be a DataFrame of cnn_*/fft_*/meta_* columns")
        if len(features) != len(df):
            raise ValueError(
                f"features has {len(features)} rows but the dataset has {len(df)}; pass the "
                "table extracted from this dataset, in the same order"
            )
        return features.reset_index(drop=True)
    if detector is None:
        return None
    extractor = getattr(detector, "features_", None)
    if extractor is None:
        raise ValueError(
            "this detector was trained on a feature table: pass features= (the same columns)"
        )
    values = extractor.transform(df)
    return pd.DataFrame(values, columns=extractor.get_feature_names_out())


def _training_status(detector: Any, df: pd.DataFrame, training_data: bool | None) -> str:
    """``"yes"``/``"no"`` as stated by the caller, else ``"maybe"`` or ``"unknown"``.

    A saved detector keeps no fingerprint of its training images, only their counts: equal
    real and fake counts suggest (but do not prove) that this is the training set.
    """
    if training_data is not None:
        return "yes" if training_data else "no"
    summary = getattr(detector, "training_summary_", None) or {}
    if "label" not in df.columns:
        return "unknown"
    labels = df["label"].to_numpy().astype(int)
    same = (
        summary.get("n_real") is not None
        and summary.get("n_real") == int((labels == 0).sum())
        and summary.get("n_fake") == int((labels == 1).sum())
    )
    return "maybe" if same else "unknown"


_TRAINING_NOTES = {
    "yes": (
        "<b>Measured on training data.</b> The detector was fitted on these images: the "
        "scores below are optimistic and say nothing about new images. Evaluate on held-out "
        "groups (<code>deepfeat.ablation</code> or a grouped split) for an honest estimate."
    ),
    "maybe": (
        "<b>Possibly measured on training data.</b> This dataset has exactly as many real "
        "and fake images as the detector's training set. If these are the training images, "
        "the scores below are optimistic and say nothing about new images; evaluate on "
        "held-out groups instead. (<code>training_data=False</code>, on the command line "
        "<code>deepfeat report … --training-data no</code>, states that they are not.)"
    ),
    "no": (
        "Held-out data, as stated when the report was made: no image of this dataset was "
        "used for training. The scores are honest only if no image of the same source "
        "(video, identity) was used either."
    ),
    "unknown": (
        "These scores mean something only if no image of this dataset, and no image of "
        "the same source (video, identity), was used to train the detector."
    ),
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not np.isfinite(value) else f"{value:.4f}"
    return html.escape(str(value))


_METRIC_ROWS = (
    ("roc_auc", "ROC AUC"),
    ("average_precision", "Average precision (fake = positive)"),
    ("balanced_accuracy", "Balanced accuracy at the threshold"),
    ("tpr_at_1pct_fpr", "Fakes caught at 1 % false positives"),
    ("tpr_at_5pct_fpr", "Fakes caught at 5 % false positives"),
    ("brier", "Brier score (lower is better)"),
    ("ece", "Expected calibration error (lower is better)"),
    ("threshold", "Decision threshold"),
    ("n", "Images scored"),
    ("n_real", "Real images"),
    ("n_fake", "Fake images"),
)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:2em}table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;
padding:.25em .7em;text-align:left}th{background:#f4f4f4}td.num{text-align:right;
font-variant-numeric:tabular-nums}figure{margin:1.2em 0;padding:0}figure img{max-width:100%;
height:auto;border:1px solid #eee}figcaption{font-size:.92em;color:#444;margin-top:.3em}
.file{font-family:monospace;color:#888;font-size:.85em}.note{background:#fff6e0;
border-left:4px solid #e0a000;padding:.5em .8em;margin:1em 0}.muted{color:#777}
"""


def write_report(
    dataset: Any,
    out_dir: str | os.PathLike,
    *,
    detector: Any = None,
    features: pd.DataFrame | None = None,
    ablation: pd.DataFrame | None = None,
    training_data: bool | None = None,
    max_images: int | None = 2000,
    title: str | None = None,
    dpi: int = 110,
    random_state: int | None = 0,
    progress: bool = False,
) -> Path:
    """Write an exploration (and, with a detector, evaluation) report of a dataset.

    Every figure is written to ``out_dir`` as a PNG, and ``out_dir/report.html`` is one
    self-contained page that embeds them all (base64 data URIs) with short captions. With
    a detector, the page also has a metrics table (``metrics.json`` is written too) and
    the model figures.

    Parameters
    ----------
    dataset : str, path-like or DataFrame
        A dataset folder or manifest CSV (read with :func:`deepfeat.load_dataset`), a
        ``.parquet`` file written by ``deepfeat extract`` (its features are used as they
        are, never re-extracted; its paths feed the picture grids; see
        :func:`split_feature_table`), or a DataFrame with a ``path`` column.
        Without a ``label`` column the figures and metrics that need labels are left out,
        each with a note on the page.
    out_dir : str or path-like
        Output folder (created; existing files of the same name are overwritten).
    detector : DeepfakeDetector, str or path-like, optional
        A fitted detector or the folder/zip it was saved to. Adds metrics, ROC, PR,
        confusion matrix, calibration, importances, a SHAP summary and per-image
        explanations, all computed on *this* dataset.
    features : DataFrame, optional
        Features already extracted from ``dataset`` (same rows, same order); saves
        extracting them again, and is required for a detector trained on a feature table.
        Its ``fft_000 …`` columns, when present, feed the spectrum figures.
    ablation : DataFrame, optional
        The output of :func:`deepfeat.ablation`, drawn as a bar chart.
    training_data : bool or None, default=None
        Whether ``dataset`` is the detector's training data; the page says so next to the
        metrics. ``None``: a saved detector remembers only how many real and fake images
        it was trained on, so when both counts match, the metrics are flagged as possibly
        measured on training data (optimistic); otherwise a general caution is shown.
    max_images : int or None, default=2000
        The dataset figures (size distributions, spectra) use a label-stratified random
        sample of at most this many images; class balance and metrics use every image.
    title : str, optional
        Page title (default: "deepfeat report: <dataset source>").
    dpi : int, default=110
    random_state : int or None, default=0
        Seed of the samples drawn for the figures.
    progress : bool, default=False
        A tqdm bar over the figures (extraction, if any, shows the detector's own).

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.

    Examples
    --------
    >>> import tempfile
    >>> import deepfeat
    >>> from deepfeat.report import write_report
    >>> root = deepfeat.make_demo_dataset(tempfile.mkdtemp(), n_images=20)
    >>> page = write_report(root, tempfile.mkdtemp())  # doctest: +SKIP
    >>> page.name  # doctest: +SKIP
    'report.html'
    """
    if isinstance(dataset, (str, os.PathLike)) and str(dataset).endswith(".parquet"):
        if features is not None:
            raise ValueError("a features parquet already holds the features: drop features=")
        dataset, features = split_feature_table(dataset)
    df = as_dataset(dataset).reset_index(drop=True)
    if len(df) == 0:
        raise ValueError("the dataset is empty")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    det = _load_detector(detector)
    table = _feature_table(det, df, features)  # before any figure: fail fast on bad input
    report = _Report(out, int(dpi))
    labels = df["label"].to_numpy().astype(int) if "label" in df.columns else None
    no_labels = "needs labels; the input has no label column"
    report.labelled = labels is not None
    if progress:
        from tqdm.auto import tqdm

        report.bar = tqdm(total=None, desc="report", unit="fig")
    source = df.attrs.get("source", str(dataset) if not isinstance(dataset, pd.DataFrame) else "")
    sample = sample_rows(df, max_images, random_state)
    info = plots.image_info(sample)

    # ------------------------------------------------------------------ dataset figures
    eda = "Dataset"
    report.add(
        eda,
        "class_balance.png",
        "Class balance",
        "Share of real and fake images. With imbalanced classes, accuracy is misleading: "
        "read ROC AUC, average precision and balanced accuracy instead.",
        lambda: plots.plot_class_balance(df),
    )
    kw = {"info": info, "max_images": None, "random_state": random_state}
    report.add(
        eda,
        "distributions.png",
        "Size and sidecar distributions",
        "Histograms (density) and Gaussian KDEs per class of image width and height (read "
        "from the file headers), file size and every numeric sidecar column. A column that "
        "separates the classes on its own is a shortcut, not a deepfake trace.",
        lambda: plots.plot_distributions(sample, **kw),
    )
    report.add(
        eda,
        "boxplots.png",
        "Box plots per class",
        "Quartiles, 1.5 IQR whiskers and (for small sets) every value.",
        lambda: plots.plot_boxplots(sample, **kw),
    )
    report.add(
        eda,
        "violins.png",
        "Violin plots per class",
        "Kernel density outline, median and extremes per class.",
        lambda: plots.plot_violins(sample, **kw),
    )
    report.add(
        eda,
        "samples.png",
        "Random sample",
        "Randomly drawn images with their class (blue real, red fake).",
        lambda: plots.plot_sample_grid(df, random_state=random_state),
    )
    report.add(
        eda,
        "real_vs_fake.png",
        "Real vs fake",
        "Reals on top, fakes below; where a group holds both, a fake stands under a real "
        "image of its own group (same source).",
        lambda: plots.plot_real_vs_fake(df, random_state=random_state),
    )
    report.add(
        eda,
        "fft_images.png",
        "Fourier magnitude",
        "Log-magnitude 2-D Fourier spectra of the luminance (zero frequency at the centre, "
        "axes in cycles/pixel). Up-sampling leaves periodic peaks at ±0.25/±0.5 "
        "cycles/pixel; the bright cross is the image border.",
        lambda: plots.plot_fft_images(df, random_state=random_state),
    )

    # ------------------------------------------------------------------ spectra
    spectrum_cols = (
        [c for c in table.columns if SPECTRUM_COLUMN.match(str(c))] if table is not None else []
    )
    if labels is None:
        spectra, spectra_note = None, ""
        for title in ("Azimuthal power spectrum per class", "Spectrum difference"):
            report.skip(title, no_labels)
    elif spectrum_cols:
        spectra = table[spectrum_cols].assign(label=labels)
        spectra_note = f"all {len(df):,} images, from the fft_* features"
    else:
        spectra = plots.compute_spectra(sample, random_state=random_state)
        spectra_note = f"{len(spectra):,} images"
    if spectra is not None:
        report.add(
            "Spectra",
            "mean_spectra.png",
            "Azimuthal power spectrum per class",
            f"Mean ± std of the azimuthally averaged log10 power spectrum ({spectra_note}), as "
            "in Durall et al. (CVPR 2020). Generators that up-sample tend to lose or replicate "
            "power in the high band (right).",
            lambda: plots.plot_mean_spectra(spectra),
        )
        report.add(
            "Spectra",
            "spectrum_difference.png",
            "Spectrum difference",
            "Mean fake minus mean real spectrum with a 95 % confidence band; above zero, the "
            "fakes carry more power at that frequency.",
            lambda: plots.plot_spectrum_difference(spectra),
        )

    # ------------------------------------------------------------------ model
    metrics = None
    on_training = "unknown"
    if det is not None:
        from .metrics import metrics_from_scores

        model = "Model"
        proba = det.predict_proba(table)[:, 1]
        threshold = float(getattr(det, "threshold", 0.5))
        if labels is not None:
            metrics = metrics_from_scores(labels, proba, threshold=threshold)
            (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        else:
            report.skip("Metrics", no_labels)
        on_training = _training_status(det, df, training_data)
        explanation = det.explain(table)
        report.add(
            model,
            "group_importance.png",
            "Importance per feature group",
            "Share of the trees' total gain per feature group (from training).",
            lambda: plots.plot_group_importance(det),
        )
        report.add(
            model,
            "top_features.png",
            "Top features",
            "The features with the largest gain share, coloured by group.",
            lambda: plots.plot_top_features(det),
        )
        report.add(
            model,
            "shap_summary.png",
            "Per-image contributions (SHAP summary)",
            "Exact TreeSHAP contributions to the log-odds of fake on this dataset, one dot "
            "per image, coloured by the feature value (percentile).",
            lambda: plots.plot_shap_summary(explanation, table),
        )
        rng = np.random.default_rng(random_state)
        ok = np.isfinite(proba)
        rows = []
        for label in (0, 1) if labels is not None else (None,):
            idx = np.flatnonzero(ok if label is None else (labels == label) & ok)
            size = min(3 if label is not None else 6, idx.size)
            rows += sorted(rng.choice(idx, size=size, replace=False).tolist())
        report.add(
            model,
            "explanations.png",
            "Explained examples",
            "Randomly drawn real and fake images with their strongest contributions "
            "(red pushes towards fake, blue towards real).",
            lambda: plots.plot_explanations(
                explanation, df["path"], rows=rows, labels=labels, top=6
            ),
        )
    if det is not None:
        report.add(
            model,
            "roc.png",
            "ROC curve",
            "True positive rate (fakes caught) against false positive rate (reals flagged).",
            lambda: plots.plot_roc(labels, proba),
        )
        report.add(
            model,
            "pr.png",
            "Precision–recall curve",
            "Precision and recall of the fake class; the dashed line is a random ranking.",
            lambda: plots.plot_pr(labels, proba),
        )
        report.add(
            model,
            "confusion_matrix.png",
            "Confusion matrix",
            f"Counts and shares of each true class at the threshold {threshold:.2f}.",
            lambda: plots.plot_confusion_matrix(labels, proba, threshold=threshold),
        )
        report.add(
            model,
            "calibration.png",
            "Calibration",
            "Observed share of fakes against the predicted probability; on the diagonal, a "
            "probability means what it says.",
            lambda: plots.plot_calibration(labels, proba),
        )
    if ablation is not None:
        report.add(
            "Ablation",
            "ablation.png",
            "Feature-group ablation",
            "Grouped cross-validated metrics for each feature subset: bars are fold means, "
            "error bars one standard deviation, dots the folds.",
            lambda: plots.plot_ablation(ablation),
        )

    if report.bar is not None:
        report.bar.close()
    page = out / REPORT_NAME
    page.write_text(
        _html(
            report,
            title or f"deepfeat report: {source or 'dataset'}",
            df,
            labels,
            source,
            len(sample),
            det,
            metrics,
            on_training,
        ),
        encoding="utf-8",
    )
    logger.info("report written to %s (%d figures)", page, len(report.entries))
    return page


def _html(
    report: _Report,
    title: str,
    df: pd.DataFrame,
    labels: np.ndarray | None,
    source: str,
    n_sample: int,
    det: Any,
    metrics: dict[str, Any] | None,
    on_training: str,
) -> str:
    esc = html.escape
    n_real = None if labels is None else int((labels == 0).sum())
    n_fake = None if labels is None else int((labels == 1).sum())
    n_groups = df["group"].nunique() if "group" in df.columns else len(df)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">deepfeat {esc(__version__)}, {esc(stamp)}</p>',
        "<h2>Summary</h2><table>",
    ]
    rows = [
        ("Source", source or "(DataFrame)"),
        ("Layout", df.attrs.get("layout", "n/a")),
        ("Images", f"{len(df):,}"),
        ("Real", "no labels" if n_real is None else f"{n_real:,} ({n_real / len(df):.1%})"),
        ("Fake", "no labels" if n_fake is None else f"{n_fake:,} ({n_fake / len(df):.1%})"),
        ("Groups", f"{n_groups:,}"),
        ("Images in the distribution and spectrum figures", f"{n_sample:,}"),
    ]
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in rows]
    parts.append("</table>")

    if metrics is not None:
        parts.append("<h2>Metrics</h2>")
        parts.append(f'<p class="note">{_TRAINING_NOTES[on_training]}</p>')
        parts.append("<table><tr><th>metric</th><th>value</th></tr>")
        for key, name in _METRIC_ROWS:
            if key in metrics:
                parts.append(
                    f'<tr><td>{esc(name)}</td><td class="num">{_fmt(metrics[key])}</td></tr>'
                )
        (tn, fp), (fn, tp) = metrics["confusion_matrix"]
        parts.append(
            f"<tr><td>Confusion matrix (TN, FP, FN, TP)</td>"
            f'<td class="num">{tn}, {fp}, {fn}, {tp}</td></tr></table>'
        )
        warnings = list(getattr(det, "leakage_warnings_", []) or [])
        if warnings:
            parts.append("<p><b>Leakage audit at training time</b> (first five):</p><ul>")
            parts += [f"<li>{esc(w)}</li>" for w in warnings[:5]]
            parts.append("</ul>")

    section = None
    for entry in report.entries:
        if entry.section != section:
            section = entry.section
            parts.append(f"<h2>{esc(section)}</h2>")
        data = base64.b64encode((report.out_dir / entry.file).read_bytes()).decode("ascii")
        parts.append(
            f'<figure id="{esc(Path(entry.file).stem)}">'
            f'<img src="data:image/png;base64,{data}" alt="{esc(entry.title)}" '
            f'data-file="{esc(entry.file)}">'
            f"<figcaption><b>{esc(entry.title)}.</b> {esc(entry.caption)} "
            f'<span class="file">{esc(entry.file)}</span></figcaption></figure>'
        )
    if report.skipped:
        parts.append("<h2>Figures left out</h2><ul>")
        parts += [f"<li>{esc(t)}: {esc(r)}</li>" for t, r in report.skipped]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
