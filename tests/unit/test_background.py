"""viz.background: long work in a fresh thread, or in the worker process, of lower priority;
progress in the caller's thread."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import torch

from viz import jobs
from viz.background import CancelledError, Worker, WorkerError, run_behind
from viz.errors import ModelLoadError
from viz.extract import POOLINGS, shared_pooled_embeddings
from viz.models import DEFAULT_MODEL, load_encoder


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


# ---------------------------------------------------------------- the worker process


@pytest.fixture(scope="module")
def texts() -> tuple[list[str], list[str]]:
    words = ["good", "bad", "fine", "dull", "great", "poor"]
    texts = [f"The film was {words[i % 6]} and the cast {words[(i + 1) % 6]}." for i in range(40)]
    return texts, ["ab"[i % 2] for i in range(40)]


@pytest.fixture(scope="module")
def worker():
    """One worker process for these tests (each start imports torch: seconds)."""
    worker = Worker(nice=4)
    yield worker
    worker.close()
    assert worker.pid is None


def probe_args(texts, model=DEFAULT_MODEL):
    lines, labels = texts
    return model, False, lines, labels, np.full(len(lines), 16), 128, 256


def test_a_job_runs_in_the_worker_process_at_lower_priority_with_its_progress(worker, texts):
    seen: list[float] = []
    features, scores = worker.run(jobs.probe_texts, *probe_args(texts), progress=seen.append)
    assert worker.pid != os.getpid()
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(19, ours + 4)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 2
    assert features["mean"].shape == (40, 7, 384)
    assert len(scores) == 3 * 7
    # The worker's vectors are the server's own (same model, same batching).
    here = shared_pooled_embeddings(load_encoder(), texts[0], POOLINGS, 128, batch_tokens=256)
    np.testing.assert_allclose(features["cls"], here["cls"], atol=1e-5)
    pid = worker.pid
    worker.run(jobs.probe_texts, *probe_args(texts))
    assert worker.pid == pid  # one process for every job


def test_a_user_error_in_the_worker_reaches_the_caller_with_its_code(worker, texts):
    with pytest.raises(ModelLoadError) as raised:
        worker.run(jobs.probe_texts, *probe_args(texts, model=""))
    assert raised.value.code == "name_empty"


def test_when_the_caller_stops_waiting_the_job_stops_and_the_next_one_runs(worker, texts):
    many = (texts[0] * 10, texts[1] * 10)
    reports: list[float] = []

    def progress(p):
        reports.append(p)
        if p >= 0.05:
            raise KeyboardInterrupt  # as Streamlit's elements raise when the session reruns

    with pytest.raises(KeyboardInterrupt):
        worker.run(jobs.probe_texts, *probe_args(many), progress=progress)
    assert max(reports) < 0.5  # it left the job before the fits
    features, _ = worker.run(jobs.probe_texts, *probe_args(texts))
    assert features["mean"].shape[0] == 40


def test_a_worker_that_died_is_said_and_the_next_job_starts_a_new_one(worker, texts):
    first = []

    def kill(p):  # the worker dies during the job (killed, or out of memory)
        if not first:
            first.append(worker.pid)
            os.kill(worker.pid, signal.SIGKILL)

    with pytest.raises(WorkerError):
        worker.run(jobs.probe_texts, *probe_args(texts), progress=kill)
    features, _ = worker.run(jobs.probe_texts, *probe_args(texts))
    assert worker.pid != first[0] and features["mean"].shape[0] == 40
