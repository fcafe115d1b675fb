"""``write_report``: every figure of :mod:`deepfeat.plots` as PNG plus one self-contained HTML page.

The command line ``deepfeat report INPUT [--model MODEL_DIR] --out DIR`` calls
``write_report(INPUT, DIR, detector=MODEL_DIR)``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import plots
from ..plots._common import SPECTRUM_COLUMN, as_dataset, sample_rows
from ._page import page_html, training_status

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
    from .._schema import GROUPS, feature_group

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
        from ..detector._estimator import DeepfakeDetector

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
        from ..metrics import metrics_from_scores

        model = "Model"
        proba = det.predict_proba(table)[:, 1]
        threshold = float(getattr(det, "threshold", 0.5))
        if labels is not None:
            metrics = metrics_from_scores(labels, proba, threshold=threshold)
        else:
            report.skip("Metrics", no_labels)
        on_training = training_status(det, df, training_data)
        explanation = det.explain(table)
        domain = explanation["domain_score"].to_numpy(dtype=float)
        if np.isfinite(domain).any():
            report.add(
                model,
                "domain_scores.png",
                "Out-of-domain scores",
                "How unlike the detector's training images each image is, in feature space "
                "(robust PCA distance; 1 = the threshold that flags 5 % of held-out training "
                "images). Verdicts on images above it cannot be trusted: the detector has "
                "never seen their like.",
                lambda: plots.plot_domain_scores(domain, labels),
            )
            inside = domain <= 1.0
            if metrics is not None and len(np.unique(labels[inside])) == 2:
                metrics["in_domain"] = metrics_from_scores(
                    labels[inside], proba[inside], threshold=threshold
                )
            if metrics is not None:
                metrics["out_of_domain"] = int((~inside & np.isfinite(domain)).sum())
        if metrics is not None:
            (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
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
        page_html(
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
