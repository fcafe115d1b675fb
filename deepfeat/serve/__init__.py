"""``deepfeat serve``: a trained detector as a local HTTP service with a drop-an-image page.

Needs the optional extra ``pip install deepfeat[serve]`` (Starlette, uvicorn,
python-multipart). The parts:

- :mod:`deepfeat.serve._service`: :class:`PredictionService`, the model loaded once,
  uploads spooled to a private temporary folder, a bounded queue and worker threads that
  call the same prediction code as ``deepfeat predict``;
- :mod:`deepfeat.serve._app`: :func:`create_app`, the Starlette application (routes,
  token check, streaming body limit, JSON errors);
- ``static/index.html``: the page served at ``/`` (no external resources).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PredictionService", "ServeLimits", "create_app"]


def __getattr__(name: str) -> Any:  # lazy: nothing heavy is imported with the package
    if name in ("PredictionService", "ServeLimits"):
        from . import _service

        return getattr(_service, name)
    if name == "create_app":
        from ._app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
