"""The one onnxruntime session factory (CNN backbone and MTCNN face detector).

Sessions run on the CPU provider, operators sequentially (``inter_op_num_threads=1``) with
``n_threads`` intra-op threads, quiet logging, and no memory-pattern planning: that keeps one
pre-planned buffer set per input shape, so memory grew with every new image or batch size
(+290 MiB over a mixed 224/256-px folder); without it the arena reuses its blocks at the same
speed (``scripts/benchmarks/bench_extract.py``). onnxruntime is imported on first use only.
"""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["cpu_session"]


def cpu_session(path: str | os.PathLike, n_threads: int | None = None, *, spin: bool = True) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path`` with the house settings.

    Parameters
    ----------
    path : path-like
        The ``.onnx`` file.
    n_threads : int or None
        Intra-op threads (``None``: onnxruntime's default, all cores).
    spin : bool, default=True
        Let idle worker threads spin. ``False`` makes them sleep, which leaves the cycles to
        other threads of the process (the CNN's decode thread) and to other processes, at a
        negligible wake-up cost per operator on large batches.

    Raises
    ------
    ValueError
        The file is not a model onnxruntime can load (one line, the cause attached).

    Examples
    --------
    >>> from deepfeat.features._backbone import backbone_path
    >>> cpu_session(backbone_path(), n_threads=1).get_inputs()[0].name
    'image'
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    if n_threads is not None:
        opts.intra_op_num_threads = int(n_threads)
    opts.log_severity_level = 3
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.enable_mem_pattern = False
    target = os.fspath(path)
    try:
        session = ort.InferenceSession(target, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"cannot load ONNX model {target!r}: {exc}") from exc
    logger.debug("loaded %s (intra-op threads: %s)", target, n_threads or "auto")
    return session
