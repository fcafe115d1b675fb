"""Figures for dataset exploration, Fourier spectra and model inspection (matplotlib only).

Every ``plot_*`` function takes data and returns a new :class:`matplotlib.figure.Figure`.
The figures are built with the object-oriented API (``Figure()``), never through
:mod:`matplotlib.pyplot`: nothing is shown, registered in pyplot's figure manager or
closed, and no rc setting is changed, so the functions are safe under the ``Agg`` backend,
in tests, in scripts and in notebooks. Save a figure with ``fig.savefig("x.png")``; in a
notebook, run ``%matplotlib inline`` once and make the figure the last expression of a
cell (or call ``IPython.display.display(fig)``).

Dataset exploration (input: the DataFrame of :func:`deepfeat.load_dataset`, or its path)
    :func:`plot_class_balance`, :func:`plot_distributions`, :func:`plot_boxplots`,
    :func:`plot_violins`, :func:`plot_sample_grid`, :func:`plot_real_vs_fake`,
    :func:`plot_fft_images`; helpers :func:`image_info` and :func:`numeric_columns`.
Spectra (input: spectra from :func:`compute_spectra` or an ``fft_*`` feature table)
    :func:`plot_mean_spectra`, :func:`plot_spectrum_difference`.
Model (input: a fitted :class:`deepfeat.DeepfakeDetector`, scores, explanations, ablation)
    :func:`plot_group_importance`, :func:`plot_top_features`, :func:`plot_shap_summary`,
    :func:`plot_explanations`, :func:`plot_roc`, :func:`plot_pr`,
    :func:`plot_confusion_matrix`, :func:`plot_calibration`, :func:`plot_ablation`.
Report
    :func:`deepfeat.report.write_report` writes every figure as a PNG and one
    self-contained HTML page.

One module per family: ``_dataset``, ``_images``, ``_spectra``, ``_model``, ``_metrics``,
with shared pieces (colours, dataset handling, sampling) in ``_common``.

Labels are 0 (real) and 1 (fake) throughout; real is drawn in blue, fake in red.

Examples
--------
>>> import tempfile
>>> import deepfeat
>>> from deepfeat import plots
>>> df = deepfeat.load_dataset(deepfeat.make_demo_dataset(tempfile.mkdtemp(), n_images=12))
>>> fig = plots.plot_class_balance(df)
>>> fig.axes[0].get_title()
'Class balance: 12 images, 2 groups'
"""

from ._common import (
    CLASS_COLORS,
    GROUP_COLORS,
    image_info,
    numeric_columns,
)
from ._dataset import (
    plot_boxplots,
    plot_class_balance,
    plot_distributions,
    plot_violins,
)
from ._images import (
    plot_fft_images,
    plot_real_vs_fake,
    plot_sample_grid,
)
from ._metrics import (
    plot_ablation,
    plot_calibration,
    plot_confusion_matrix,
    plot_pr,
    plot_roc,
)
from ._model import (
    plot_domain_scores,
    plot_explanations,
    plot_group_importance,
    plot_shap_summary,
    plot_top_features,
)
from ._spectra import (
    compute_spectra,
    plot_mean_spectra,
    plot_spectrum_difference,
    spectrum_frequencies,
)

__all__ = [
    "CLASS_COLORS",
    "GROUP_COLORS",
    "compute_spectra",
    "image_info",
    "numeric_columns",
    "plot_ablation",
    "plot_boxplots",
    "plot_calibration",
    "plot_class_balance",
    "plot_confusion_matrix",
    "plot_distributions",
    "plot_domain_scores",
    "plot_explanations",
    "plot_fft_images",
    "plot_group_importance",
    "plot_mean_spectra",
    "plot_pr",
    "plot_real_vs_fake",
    "plot_roc",
    "plot_sample_grid",
    "plot_shap_summary",
    "plot_spectrum_difference",
    "plot_top_features",
    "plot_violins",
    "spectrum_frequencies",
]
