"""viz.background: long work in a fresh thread of lower priority, progress in the caller's."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import torch

from viz.background import CancelledError, run_behind


def own_priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_the_work_runs_in_another_thread_at_lower_priority_and_returns_its_result():
    caller = threading.get_native_id()
    seen: list[float] = []

    def work(report):
        for p in (0.25, 0.5, 1.0):
            report(p)
        return threading.get_native_id(), own_priority()

    tid, nice = run_behind(work, progress=seen.append, nice=5)
    assert tid != caller
    assert nice == min(19, own_priority() + 5)
    assert own_priority() < nice  # the caller's own priority is untouched
    assert seen == [0.25, 0.5, 1.0]  # reported in order, delivered in the caller's thread


def test_torch_threads_started_by_the_work_inherit_its_priority():
    """The OpenMP team torch starts for the work's thread is created at its priority: every
    thread of the process whose nice value is the work's appears only while it runs."""

    def work(report):
        x = torch.randn(512, 512)
        for _ in range(20):
            x = torch.tanh(x @ x.T / 512)
        tasks = os.listdir(f"/proc/{os.getpid()}/task")
        niced = [t for t in tasks if os.getpriority(os.PRIO_PROCESS, int(t)) == own_priority()]
        return len(niced), float(x.sum())

    niced, _ = run_behind(work, nice=7)
    assert niced >= min(2, torch.get_num_threads())


def test_an_error_in_the_work_reaches_the_caller():
    def work(report):
        raise ValueError("bad data")

    with pytest.raises(ValueError, match="bad data"):
        run_behind(work)


def test_when_the_caller_stops_waiting_the_work_stops_at_its_next_report():
    reached: list[int] = []

    def work(report):
        for i in range(1000):
            reached.append(i)
            report(i / 1000)
            time.sleep(0.001)
        return "finished"

    def progress(p):
        if p >= 0.005:
            raise KeyboardInterrupt  # as Streamlit's elements raise when the session reruns

    with pytest.raises(KeyboardInterrupt):
        run_behind(work, progress=progress)
    time.sleep(0.3)
    assert len(reached) < 1000


def test_the_cancelled_error_is_what_the_work_sees():
    seen: list[BaseException] = []
    stop = threading.Event()

    def work(report):
        try:
            report(0.1)
            stop.wait(5)
            report(0.2)
        except CancelledError as err:
            seen.append(err)
            raise
        return np.zeros(1)

    def progress(p):
        stop.set()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_behind(work, progress=progress)
    time.sleep(0.2)
    assert seen and isinstance(seen[0], CancelledError)
