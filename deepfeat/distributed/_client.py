"""Dask, imported lazily: the install hint and the client helpers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)


INSTALL_HINT = "pip install 'deepfeat[dask]'"


# ----------------------------------------------------------------------------- dask import
def require_dask() -> None:
    """Import dask.dataframe and distributed, or raise an ImportError naming the extra."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"deepfeat.distributed needs Dask (dask[distributed]); install it with: "
            f"{INSTALL_HINT}  (original error: {exc})"
        ) from exc


def default_client(client: Client | None) -> Client:
    if client is not None:
        return client
    from distributed import default_client

    try:
        return default_client()
    except ValueError as exc:
        raise ValueError(
            "no Dask client: pass client=Client(address) or create one before calling"
        ) from exc


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, n_local: int | None = None) -> Iterator[Client]:
    """A connected client: to ``scheduler``, or to a new ``LocalCluster`` of ``n_local`` workers.

    The local cluster has one thread per worker process and no dashboard; client and
    cluster are closed on exit.

    Examples
    --------
    >>> with dask_client(n_local=2) as client:  # doctest: +SKIP
    ...     print(len(client.scheduler_info()["workers"]))
    2
    """
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="10s") as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=int(n_local or 1),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
