"""Long work that shares the server with other sessions runs in a thread of lower OS priority.

One Streamlit process serves every session, and the probe's forward passes keep both CPUs
busy for minutes: at equal priority another session's new sentence then waits for a CPU behind
torch's threads. Linux gives each thread its own nice value, and the threads a thread creates
(torch's OpenMP team among them) inherit it, so the work runs in a fresh thread that lowers its
own priority first: the CPUs go to whoever else needs them, and to the work when nobody does.
The fresh thread matters: the caller's own OpenMP team already exists at normal priority, and
an unprivileged thread cannot raise its priority back after lowering it.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
NICE = 10  # CFS weight 110 against 1024 at nice 0: about a tenth of a contended CPU


class CancelledError(Exception):
    """The caller of ``run_behind`` stopped waiting for the work."""


def lower_priority(nice: int = NICE) -> None:
    """Lower the calling thread's priority by ``nice`` (Linux: per thread). Elsewhere, or when
    the system refuses, the work runs at normal priority, which is only slower for others."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (AttributeError, OSError):
        pass


def run_behind(
    work: Callable[[Callable[[float], None]], T],
    progress: Callable[[float], None] | None = None,
    nice: int = NICE,
) -> T:
    """``work(report)`` in a fresh thread of lower priority; returns its result or raises its
    exception. ``report(p)`` from that thread reaches ``progress(p)`` in the calling thread,
    which waits meanwhile (Streamlit's elements can be updated only from a session's own
    thread). If the caller stops waiting (``progress`` raised, as Streamlit's elements do when
    the session reruns), the work's next ``report`` raises ``CancelledError`` and the work ends."""
    events: queue.SimpleQueue = queue.SimpleQueue()
    done = object()
    outcome: list = []
    cancel = threading.Event()

    def report(p: float) -> None:
        if cancel.is_set():
            raise CancelledError
        events.put(p)

    def run() -> None:
        lower_priority(nice)
        try:
            outcome.append((True, work(report)))
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            outcome.append((False, err))
        finally:
            events.put(done)

    thread = threading.Thread(target=run, name="viz-background", daemon=True)
    thread.start()
    try:
        while (event := events.get()) is not done:
            if progress:
                progress(event)
    except BaseException:
        cancel.set()
        raise
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value
