"""The HTML page of :func:`deepfeat.report.write_report`: summary, metrics, warnings, figures."""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__

__all__ = ["page_html", "training_status"]


def training_status(detector: Any, df: pd.DataFrame, training_data: bool | None) -> str:
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


def _domain_html(metrics: dict[str, Any]) -> list[str]:
    """The out-of-domain note and the in-domain metrics, when the detector has a domain model."""
    n_out = metrics.get("out_of_domain")
    if n_out is None:
        return [
            '<p class="note">This detector has no out-of-domain model (trained with '
            "<code>domain_fpr=None</code> or by deepfeat before 0.3): nothing tells which "
            "verdicts fall outside what it was trained on.</p>"
        ]
    n = metrics["n"]
    parts = [
        f'<p class="note"><b>{n_out:,} of {n:,} images ({n_out / max(n, 1):.1%}) are out of '
        "domain</b>: unlike the detector's training images, so their verdicts cannot be "
        "trusted (see the out-of-domain figure).</p>"
    ]
    inner = metrics.get("in_domain")
    if inner is not None and n_out:
        parts.append("<table><tr><th>in-domain images only</th><th>value</th></tr>")
        for key in ("roc_auc", "average_precision", "balanced_accuracy", "n"):
            parts.append(
                f'<tr><td>{html.escape(key)}</td><td class="num">{_fmt(inner[key])}</td></tr>'
            )
        parts.append("</table>")
    return parts


def page_html(
    report: Any,
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
        parts += _domain_html(metrics)
        warnings = list(getattr(det, "leakage_warnings_", []) or [])
        if warnings:
            parts.append("<p><b>Leakage audit at training time</b> (first five):</p><ul>")
            parts += [f"<li>{esc(w)}</li>" for w in warnings[:5]]
            parts.append("</ul>")
        sources = list(getattr(det, "source_warnings_", []) or [])
        if sources:
            parts.append("<p><b>Source audit at training time</b>:</p><ul>")
            parts += [f"<li>{esc(w)}</li>" for w in sources[:5]]
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
