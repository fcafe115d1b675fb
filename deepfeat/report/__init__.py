"""The report: every figure of :mod:`deepfeat.plots` as PNG plus one HTML page.

* ``_write`` — :func:`write_report` (which figures, from which tables; metrics, audits);
* ``_page`` — the HTML page (summary, metrics on all and in-domain rows, training-data
  note, audits' warnings, the figures inline).
"""

from ._write import REPORT_NAME, split_feature_table, write_report

__all__ = ["REPORT_NAME", "split_feature_table", "write_report"]
