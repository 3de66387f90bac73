"""Chunked work on a ``dask.distributed`` cluster: a local one by default, any scheduler by address.

The library's parallel work is always "apply one function to independent chunks and
use the results in order" (random streams of a simulation, entry ranges of a ROOT
file). Every such function takes a ``mapper``: the builtin ``map`` runs the chunks one
after the other in this process; ``ordered_map(client)`` sends them to the workers of a
cluster, a few at a time, and yields the results in chunk order, so files come out
identical to a single-process run with the same seed.

Contents: ``connect``, ``ordered_map``, ``map_streams``.
"""

import contextlib
from collections import deque

from .errors import ParameterError


@contextlib.contextmanager
def connect(scheduler="local", n_workers=2, timeout_s=20):
    """A ``dask.distributed.Client``: to a new local cluster of ``n_workers`` processes (one
    thread each, as the work is numpy-bound) when ``scheduler`` is "local", otherwise to the
    scheduler at that address (e.g. ``tcp://10.0.0.5:8786``). Closed on exit."""
    from dask.distributed import Client, LocalCluster

    if scheduler in (None, "", "local"):
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                yield client
        return
    try:
        client = Client(scheduler, timeout=f"{timeout_s}s")
    except (OSError, ValueError, TypeError) as error:
        raise ParameterError(f"cannot reach the Dask scheduler {scheduler!r} ({type(error).__name__})") from None
    with client:
        yield client


def ordered_map(client, in_flight_per_worker=2):
    """A ``map`` that runs on ``client``'s cluster: at most ``in_flight_per_worker`` chunks
    per worker are submitted ahead (bounded memory), results come back in order."""

    def mapper(function, *iterables):
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        limit = in_flight_per_worker * n_workers
        pending = deque()
        for arguments in zip(*iterables):
            pending.append(client.submit(function, *arguments, pure=False))
            if len(pending) >= limit:
                yield _take(pending.popleft())
        while pending:
            yield _take(pending.popleft())

    return mapper


def _take(future):
    result = future.result()
    future.release()
    return result


def map_streams(function, n_events, events_per_stream, mapper=None):
    """``function(n, stream)`` for each random stream of a simulation of ``n_events``
    (``events_per_stream`` each, the last one shorter), through ``mapper``; lazy, in order."""
    streams = list(range((n_events + events_per_stream - 1) // events_per_stream))
    sizes = [min(events_per_stream, n_events - s * events_per_stream) for s in streams]
    return (mapper or map)(function, sizes, streams)
