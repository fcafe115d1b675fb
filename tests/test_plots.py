"""deepfeat.plots and deepfeat.report: every figure has data and labels; the report is whole."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import _pylab_helpers
from matplotlib.figure import Figure

from deepfeat import DeepfakeDetector, ImageFeatures, ablation, load_dataset, plots
from deepfeat.report import REPORT_NAME, write_report

DATASET_FIGURES = [
    "class_balance.png",
    "distributions.png",
    "boxplots.png",
    "violins.png",
    "samples.png",
    "real_vs_fake.png",
    "fft_images.png",
    "mean_spectra.png",
    "spectrum_difference.png",
]
MODEL_FIGURES = [
    "domain_scores.png",
    "group_importance.png",
    "top_features.png",
    "shap_summary.png",
    "explanations.png",
    "roc.png",
    "pr.png",
    "confusion_matrix.png",
    "calibration.png",
]


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def demo_df(demo_dir):
    return load_dataset(demo_dir)


@pytest.fixture(scope="module")
def demo_features(demo_df):
    return ImageFeatures(groups=("fft",)).set_output(transform="pandas").fit_transform(demo_df)


@pytest.fixture(scope="module")
def demo_detector(demo_df, demo_features):
    det = DeepfakeDetector(
        feature_groups=("fft",), n_estimators=40, audit=False, random_state=0, n_jobs=1
    )
    return det.fit(demo_features, demo_df["label"], groups=demo_df["group"])


@pytest.fixture(scope="module")
def explanation(demo_detector, demo_features):
    return demo_detector.explain(demo_features)


def _table(n=150, seed=0):
    """A synthetic feature table with all three groups (no images needed)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.7).astype(int)
    X = pd.DataFrame(
        {
            "cnn_0000": y + rng.normal(0, 0.8, n),
            "cnn_0001": rng.normal(size=n),
            "fft_000": 0.5 * y + rng.normal(0, 1, n),
            "fft_001": rng.normal(size=n),
            "meta_x": rng.normal(size=n),
        }
    )
    groups = np.repeat(np.arange(n // 3 + 1), 3)[:n]
    return X, y, groups


@pytest.fixture(scope="module")
def synthetic_ablation():
    X, y, groups = _table()
    est = DeepfakeDetector(n_estimators=15, early_stopping_rounds=None, audit=False, n_jobs=1)
    return ablation(X, y, groups, cv=3, estimator=est)


def check_figure(fig, *, min_axes=1):
    """A Figure with data on its visible axes, titled and labelled, unknown to pyplot."""
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) >= min_axes
    for ax in axes:
        artists = ax.lines + ax.patches + ax.collections + ax.images + ax.texts + ax.containers
        assert artists, f"empty axes: {ax.get_title()!r}"
    titled = [ax for ax in axes if ax.get_title()] or ([fig] if fig.get_suptitle() else [])
    assert titled, "no title"
    labelled = [
        ax
        for ax in axes
        if ax.get_xlabel()
        or ax.get_ylabel()
        or any(t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels())
        or any(t.get_text() for t in ax.texts)  # a pie labels its wedges
        or (ax.images and ax.get_title())  # image grids title every image
    ]
    assert labelled
    assert _pylab_helpers.Gcf.get_num_fig_managers() == 0, "figure registered with pyplot"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue().startswith(b"\x89PNG")
    return fig


def texts_of(fig):
    out = [fig.get_suptitle()]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    return "\n".join(out)


# --------------------------------------------------------------------------- dataset EDA
def test_image_info_reads_headers(demo_df):
    info = plots.image_info(demo_df)
    assert list(info.columns) == ["width", "height", "file_kib"]
    assert (info["width"] == 128).all() and (info["height"] == 128).all()
    assert (info["file_kib"] > 0).all()
    assert info.index.equals(demo_df.index)


def test_image_info_unreadable_file_is_nan(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    info = plots.image_info(pd.DataFrame({"path": [str(bad)], "label": [0]}))
    assert np.isnan(info.loc[0, "width"]) and info.loc[0, "file_kib"] > 0


def test_numeric_columns_skips_labels_and_text():
    df = pd.DataFrame(
        {
            "path": ["a"],
            "label": [1],
            "group": [3],
            "original_width": [12],
            "flag": [True],
            "name": ["x"],
            "empty": [np.nan],
        }
    )
    assert plots.numeric_columns(df) == ["original_width"]


def test_class_balance(demo_df):
    fig = check_figure(plots.plot_class_balance(demo_df))
    text = texts_of(fig)
    assert "12 images" in text and "48 images" in text
    assert "20.0 %" in text and "80.0 %" in text


def test_class_balance_accepts_a_path(demo_dir):
    check_figure(plots.plot_class_balance(demo_dir))


def test_class_balance_single_class():
    df = pd.DataFrame({"path": ["a", "b"], "label": [1, 1], "group": ["g", "h"]})
    assert "100.0 %" in texts_of(check_figure(plots.plot_class_balance(df)))


@pytest.mark.parametrize(
    "func", [plots.plot_distributions, plots.plot_boxplots, plots.plot_violins]
)
def test_numeric_figures_on_demo(demo_df, func):
    fig = check_figure(func(demo_df), min_axes=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert any("width" in t for t in titles) and any("file_kib" in t for t in titles)
    assert "(px)" in texts_of(fig)  # units on the size axes


def _sidecar_table(demo_df, seed=0):
    rng = np.random.default_rng(seed)
    df = demo_df.copy()
    n = len(df)
    df["original_width"] = rng.integers(60, 400, n)
    df["quality"] = rng.choice([75, 90, 95], n)  # discrete
    df["score"] = rng.normal(size=n)
    df.loc[df.index[:3], "score"] = np.nan
    df["constant"] = 7.0
    return df


@pytest.mark.parametrize(
    "func", [plots.plot_distributions, plots.plot_boxplots, plots.plot_violins]
)
def test_numeric_figures_on_sidecar_columns(demo_df, func):
    df = _sidecar_table(demo_df)
    info = plots.image_info(df)
    fig = check_figure(func(df, info=info, max_images=None), min_axes=7)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    for col in ("original_width", "quality", "score", "constant"):
        assert col in titles


def test_distributions_draw_a_kde_per_class(demo_df):
    df = _sidecar_table(demo_df)
    fig = plots.plot_distributions(df, ["score"])
    ax = fig.axes[0]
    assert len(ax.lines) == 2  # one KDE per class
    assert {p.get_facecolor()[:3] for p in ax.patches}  # histogram bars
    assert ax.get_ylabel() == "density"


def test_distributions_discrete_column_uses_share_bars(demo_df):
    fig = plots.plot_distributions(_sidecar_table(demo_df), ["quality", "constant"])
    assert all("share per value" in ax.get_title() for ax in fig.axes)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["75", "90", "95"]


def test_numeric_figures_with_one_class_and_sampling(demo_df):
    df = _sidecar_table(demo_df)
    fakes = df[df["label"] == 1]
    for func in (plots.plot_distributions, plots.plot_boxplots, plots.plot_violins):
        check_figure(func(fakes, ["score", "original_width"], max_images=20))


def test_numeric_figures_reject_unknown_column(demo_df):
    with pytest.raises(ValueError, match="unknown columns"):
        plots.plot_boxplots(demo_df, ["nope"])


def test_sample_grid(demo_df):
    fig = check_figure(plots.plot_sample_grid(demo_df, n=10, ncols=5), min_axes=10)
    assert sum(len(ax.images) for ax in fig.axes) == 10
    text = texts_of(fig)
    assert "real" in text and "fake" in text


def test_real_vs_fake_pairs_by_group(demo_df):
    fig = check_figure(plots.plot_real_vs_fake(demo_df, n_per_class=4), min_axes=8)
    assert sum(len(ax.images) for ax in fig.axes) == 8
    assert "same source" in fig.get_suptitle()
    row_names = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert row_names == ["real", "fake"]


def test_real_vs_fake_without_groups(demo_df):
    df = demo_df.drop(columns="group")
    fig = check_figure(plots.plot_real_vs_fake(df, n_per_class=3))
    assert "pair" not in fig.get_suptitle()


def test_fft_images(demo_df):
    fig = check_figure(plots.plot_fft_images(demo_df, n_per_class=2), min_axes=8)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 8
    assert "cycles/pixel" in texts_of(fig)
    spectra = [ax.images[0].get_array() for ax in images if "FFT" in ax.get_title()]
    assert len(spectra) == 4 and all(a.shape == (128, 128) for a in spectra)
    assert any("log10 |F|" in ax.get_ylabel() for ax in fig.axes)  # the colour bar
    check_figure(plots.plot_fft_images(demo_df, n_per_class=1, window=True, max_side=64))


# ------------------------------------------------------------------------------ spectra
def test_spectrum_frequencies():
    f = plots.spectrum_frequencies(4)
    np.testing.assert_allclose(f, [1 / 16, 3 / 16, 5 / 16, 7 / 16])


def test_compute_spectra(demo_df):
    spectra = plots.compute_spectra(demo_df, n_bins=32, max_images=30)
    assert spectra.shape[1] == 33 and spectra.columns[1] == "fft_000"
    assert len(spectra) <= 31 and set(spectra["label"]) == {0, 1}


def test_mean_spectra_and_difference(demo_df):
    spectra = plots.compute_spectra(demo_df, n_bins=32)
    fig = check_figure(plots.plot_mean_spectra(spectra))
    ax = fig.axes[0]
    assert "cycles/pixel" in ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.lines) == 2 and len(ax.collections) == 2  # mean lines, ± std bands
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(x, plots.spectrum_frequencies(32))
    real = spectra[spectra["label"] == 0].drop(columns="label").to_numpy().mean(axis=0)
    np.testing.assert_allclose(y, real, rtol=1e-5)

    fig = check_figure(plots.plot_spectrum_difference(spectra))
    line = next(ln for ln in fig.axes[0].lines if ln.get_label() == "mean fake − mean real")
    fake = spectra[spectra["label"] == 1].drop(columns="label").to_numpy().mean(axis=0)
    np.testing.assert_allclose(line.get_ydata(), fake - real, rtol=1e-4, atol=1e-5)
    assert "fake − real" in fig.axes[0].get_ylabel()


def test_spectra_from_feature_table_and_array(demo_df, demo_features):
    labels = demo_df["label"]
    check_figure(plots.plot_mean_spectra(demo_features, labels))
    check_figure(plots.plot_spectrum_difference(demo_features.to_numpy(), labels.to_numpy()))
    with pytest.raises(ValueError, match="labels"):
        plots.plot_mean_spectra(demo_features.to_numpy())
    with pytest.raises(ValueError, match="spectrum columns"):
        plots.plot_mean_spectra(pd.DataFrame({"cnn_0000": [1.0]}), [0])


def test_spectrum_difference_needs_both_classes():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="both"):
        plots.plot_spectrum_difference(rng.normal(size=(5, 8)), np.ones(5))


def test_spectra_tolerate_nan_bins():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(20, 16))
    values[:, 0] = np.nan  # a bin without coefficients (tiny images)
    labels = np.r_[np.zeros(10), np.ones(10)]
    check_figure(plots.plot_mean_spectra(values, labels))
    check_figure(plots.plot_spectrum_difference(values, labels))


# -------------------------------------------------------------------------------- model
def test_group_importance_from_detector_and_series(demo_detector):
    fig = check_figure(plots.plot_group_importance(demo_detector))
    assert "100.0%" in texts_of(fig)  # fft only
    series = pd.Series({"cnn": 3.0, "fft": 1.0, "meta": 0.0})
    fig = check_figure(plots.plot_group_importance(series))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["cnn", "fft", "meta"]
    assert "75.0%" in texts_of(fig)
    assert fig.axes[0].get_ylabel() == "share of total gain"


def test_importance_on_three_groups():
    X, y, groups = _table()
    det = DeepfakeDetector(n_estimators=20, audit=False, n_jobs=1).fit(X, y, groups=groups)
    fig = check_figure(plots.plot_group_importance(det))
    assert len(fig.axes[0].patches) == len(det.group_importances_)
    fig = check_figure(plots.plot_top_features(det, top=3))
    assert len(fig.axes[0].patches) == 3
    assert fig.axes[0].get_legend() is not None


def test_top_features(demo_detector):
    fig = check_figure(plots.plot_top_features(demo_detector, top=10))
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert len(names) == 10 and all(n.startswith("fft_") for n in names)
    widths = [p.get_width() for p in ax.patches]
    assert widths == sorted(widths)  # largest on top
    with pytest.raises(TypeError):
        plots.plot_top_features(object())


def test_shap_summary(explanation, demo_features):
    fig = check_figure(plots.plot_shap_summary(explanation, demo_features, max_display=8))
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == 8
    colored = [c for c in ax.collections if c.get_array() is not None]
    assert colored and sum(len(c.get_offsets()) for c in colored) == 8 * len(demo_features)
    assert "SHAP" in ax.get_xlabel()
    assert any("feature value" in a.get_ylabel() for a in fig.axes)  # colour bar
    # order: largest mean |contribution| on top
    contrib = explanation.attrs["contributions"]
    top = contrib.abs().mean().idxmax()
    assert ax.get_yticklabels()[-1].get_text() == top


def test_shap_summary_without_values_and_from_matrix(explanation):
    contrib = explanation.attrs["contributions"]
    fig = check_figure(plots.plot_shap_summary(contrib, max_display=5))
    assert len(fig.axes) == 1  # no colour bar without feature values
    with pytest.raises(ValueError, match="rows"):
        plots.plot_shap_summary(explanation, contrib.iloc[:3])
    with pytest.raises(ValueError, match="explain"):
        plots.plot_shap_summary(pd.DataFrame({"margin": [0.0]}))


def test_explanations(explanation, demo_df):
    rows = [0, 1, len(demo_df) - 1]
    fig = check_figure(
        plots.plot_explanations(
            explanation, demo_df["path"], rows=rows, labels=demo_df["label"], top=4
        ),
        min_axes=6,
    )
    bars = [ax for ax in fig.axes if ax.patches]
    assert len(bars) == 3 and all(len(ax.patches) == 4 for ax in bars)
    assert sum(len(ax.images) for ax in fig.axes) == 3
    assert "P(fake)" in texts_of(fig) and "true: fake" in texts_of(fig)
    check_figure(plots.plot_explanations(explanation, top=3))  # no images


def _scores(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.8).astype(int)
    p = np.clip(0.5 + 0.3 * (y - 0.5) * 2 + rng.normal(0, 0.25, n), 0, 1)
    return y, p


def test_roc_and_pr():
    y, p = _scores()
    fig = check_figure(plots.plot_roc(y, p))
    legend = texts_of(fig)
    assert re.search(r"AUC = 0\.\d{3}", legend)
    assert "false positive rate" in fig.axes[0].get_xlabel()
    fig = check_figure(plots.plot_pr(y, p))
    assert re.search(r"AP = 0\.\d{3}", texts_of(fig))
    assert f"chance (AP = {y.mean():.3f})" in texts_of(fig)


def test_roc_pr_accept_proba_matrix_mapping_and_nan():
    y, p = _scores()
    proba = np.column_stack([1 - p, p])
    check_figure(plots.plot_roc(y, proba))
    q = p.copy()
    q[:5] = np.nan
    fig = check_figure(plots.plot_pr(y, {"a": p, "b": q}))
    assert "a (AP" in texts_of(fig) and "b (AP" in texts_of(fig)
    with pytest.raises(ValueError, match="both"):
        plots.plot_roc(np.ones(5), np.linspace(0, 1, 5))


def test_confusion_matrix():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.2, 0.9, 0.8, 0.3, 0.7, 0.95])
    fig = check_figure(plots.plot_confusion_matrix(y, p, threshold=0.5), min_axes=2)
    counts, norm = fig.axes
    assert {t.get_text() for t in counts.texts} == {"2", "1", "4"}
    assert "66.7%\n(2)" in [t.get_text() for t in norm.texts]
    assert counts.get_xlabel() == "predicted class" and counts.get_ylabel() == "true class"
    assert "0.50" in fig.get_suptitle()


def test_confusion_matrix_with_an_empty_class():
    fig = check_figure(plots.plot_confusion_matrix(np.ones(4), np.ones(4)), min_axes=2)
    assert "—" in [t.get_text() for t in fig.axes[1].texts]


def test_calibration():
    y, p = _scores()
    fig = check_figure(plots.plot_calibration(y, p, n_bins=8), min_axes=2)
    curve, hist = fig.axes
    assert "ECE" in texts_of(fig) and "Brier" in texts_of(fig)
    assert curve.get_ylabel() == "observed share of fakes"
    assert hist.get_xlabel() == "predicted probability of fake"
    assert len(hist.patches) > 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plots.plot_calibration(y, p * 3)


def test_ablation_per_fold_rows(synthetic_ablation):
    res = synthetic_ablation
    fig = check_figure(plots.plot_ablation(res), min_axes=3)
    ax = fig.axes[0]
    subsets = list(dict.fromkeys(res["subset"]))
    assert [t.get_text() for t in ax.get_yticklabels()] == subsets
    bars = list(ax.patches)
    assert len(bars) == len(subsets)
    means = res.groupby("subset", sort=False)["roc_auc"].mean()
    np.testing.assert_allclose([b.get_width() for b in bars], means[subsets].to_numpy())
    dots = sum(len(c.get_offsets()) for c in ax.collections if c.get_offsets().size)
    assert dots >= len(res)  # one dot per fold (error bars are line collections)
    assert "3 folds" in fig.get_suptitle()


def test_ablation_summary_and_metric_choice(synthetic_ablation):
    fig = check_figure(plots.plot_ablation(synthetic_ablation.attrs["summary"], ["brier"]))
    assert fig.axes[0].get_title().startswith("Brier")
    with pytest.raises(ValueError, match="unknown metrics"):
        plots.plot_ablation(synthetic_ablation, ["nope"])


def test_no_pyplot_state_is_touched(demo_df):
    import sys

    before = "matplotlib.pyplot" in sys.modules
    plots.plot_class_balance(demo_df)
    assert ("matplotlib.pyplot" in sys.modules) == before
    assert _pylab_helpers.Gcf.get_num_fig_managers() == 0


# ------------------------------------------------------------------------------- report
def _embedded(html: str, out_dir, name: str) -> bool:
    data = base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
    return f'data-file="{name}"' in html and data in html


def test_report_without_detector(demo_dir, tmp_path):
    page = write_report(demo_dir, tmp_path / "rep", max_images=40, dpi=40)
    assert page == tmp_path / "rep" / REPORT_NAME
    html = page.read_text(encoding="utf-8")
    for name in DATASET_FIGURES:
        assert (page.parent / name).is_file(), name
        assert _embedded(html, page.parent, name), name
    assert not any((page.parent / name).exists() for name in MODEL_FIGURES)
    assert "<h2>Metrics</h2>" not in html
    assert 'src="data:image/png;base64,' in html and '<img src="' in html
    assert "http://" not in html and "https://" not in html  # self-contained


def test_report_with_detector_on_training_data(demo_df, demo_features, demo_detector, tmp_path):
    res = ablation(
        demo_features,
        demo_df["label"],
        demo_df["group"],
        cv=3,
        estimator=DeepfakeDetector(n_estimators=10, audit=False, n_jobs=1),
    )
    page = write_report(
        demo_df,
        tmp_path,
        detector=demo_detector,
        features=demo_features,
        ablation=res,
        max_images=30,
        dpi=40,
    )
    html = page.read_text(encoding="utf-8")
    for name in [*DATASET_FIGURES, *MODEL_FIGURES, "ablation.png"]:
        assert _embedded(html, tmp_path, name), name
    assert "<h2>Metrics</h2>" in html and "ROC AUC" in html
    assert "Possibly measured on training data" in html  # same counts as the training set
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n"] == len(demo_df) and 0.0 <= metrics["roc_auc"] <= 1.0
    assert "all 60 images, from the fft_* features" in html
    assert "are out of domain" in html
    assert metrics["out_of_domain"] == int((demo_detector.domain_score(demo_features) > 1).sum())


def test_report_with_saved_detector_that_extracts(demo_df, tmp_path):
    train = demo_df.iloc[::2]
    det = DeepfakeDetector(feature_groups=("fft",), n_estimators=20, audit=False, n_jobs=1).fit(
        train
    )
    det.save(tmp_path / "model")
    page = write_report(
        demo_df.attrs["source"],
        tmp_path / "out",
        detector=tmp_path / "model",
        max_images=20,
        dpi=40,
    )
    html = page.read_text(encoding="utf-8")
    for name in MODEL_FIGURES:
        assert _embedded(html, page.parent, name), name
    assert "training data" not in html
    assert "only if no image of this dataset" in html


def test_report_training_data_status(demo_df, demo_detector):
    from deepfeat.report._page import _TRAINING_NOTES
    from deepfeat.report._page import training_status as _training_status

    assert _training_status(demo_detector, demo_df, True) == "yes"
    assert _training_status(demo_detector, demo_df, False) == "no"
    assert _training_status(demo_detector, demo_df, None) == "maybe"  # same counts
    assert _training_status(demo_detector, demo_df.iloc[::2], None) == "unknown"
    assert "<b>Measured on training data.</b>" in _TRAINING_NOTES["yes"]
    assert "optimistic" in _TRAINING_NOTES["maybe"]


def test_report_needs_features_for_a_table_trained_detector(demo_df, demo_detector, tmp_path):
    with pytest.raises(ValueError, match="features="):
        write_report(demo_df, tmp_path, detector=demo_detector)
    with pytest.raises(ValueError, match="rows"):
        write_report(demo_df, tmp_path, detector=demo_detector, features=pd.DataFrame({"a": [1]}))


def test_report_skips_figures_it_cannot_draw(demo_df, tmp_path):
    fakes = demo_df[demo_df["label"] == 1]
    page = write_report(fakes, tmp_path, max_images=12, dpi=40)
    html = page.read_text(encoding="utf-8")
    assert "Figures left out" in html and "Spectrum difference" in html
    assert not (tmp_path / "spectrum_difference.png").exists()
    assert (tmp_path / "mean_spectra.png").is_file()


def test_plots_do_not_import_the_report():
    """The report is built on the plots, never the other way round (no import circle)."""
    import ast

    import deepfeat.plots as pkg

    assert not hasattr(plots, "write_report")  # the one function is deepfeat.report's
    for path in Path(pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in names if m.endswith("report")], path


def test_report_from_a_features_parquet_and_unlabelled_images(
    demo_df, demo_features, demo_detector, tmp_path, monkeypatch
):
    """A parquet from `extract` is read, never re-extracted; no labels: figures left out."""
    table = pd.concat([demo_df.reset_index(drop=True), demo_features], axis=1)
    path = tmp_path / "feats.parquet"
    table.to_parquet(path)
    monkeypatch.setattr(
        ImageFeatures, "transform", lambda *a, **k: pytest.fail("re-extracted the features")
    )
    page = write_report(path, tmp_path / "rep", detector=demo_detector, dpi=40)
    assert (tmp_path / "rep" / "metrics.json").is_file() and "Metrics" in page.read_text()
    unlabelled = table.drop(columns=["label"])
    unlabelled.to_parquet(path)
    page = write_report(path, tmp_path / "rep2", detector=demo_detector, dpi=40, progress=True)
    html = page.read_text()
    assert "needs labels" in html and not (tmp_path / "rep2" / "metrics.json").exists()
    assert (tmp_path / "rep2" / "samples.png").is_file()
    assert (tmp_path / "rep2" / "shap_summary.png").is_file()


def test_importing_plots_and_report_loads_no_matplotlib():
    """No work at import time: matplotlib is imported by the first figure, not before."""
    import subprocess
    import sys

    code = (
        "import sys, deepfeat.plots, deepfeat.report\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'matplotlib']\n"
        "assert not bad, bad[:5]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
