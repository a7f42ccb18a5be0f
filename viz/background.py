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
import pickle
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
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


# ------------------------------------------------------------------ a process apart
#
# A thread of lower priority still shares the server's GIL: every Python step of the work
# (tokenising, batching, torch's dispatch between kernels) holds up the other sessions' scripts,
# which priorities do not touch. Model work that runs for minutes therefore goes to one worker
# process beside the server, with its own copy of the model, at lower priority. It is a fresh
# interpreter (``python -m viz.background``: nothing of the server's threads or locks, and,
# unlike multiprocessing's spawn, no re-import of the server's main script), serves one job at
# a time over a socket pair, and keeps the encoders it loaded for the next job.

WORKER_ENCODERS = 2  # encoders the worker keeps loaded (each a copy of the server's)
CANCEL_WAIT = 60.0  # seconds a cancelled job may take to reach its next report


class WorkerError(RuntimeError):
    """The worker process stopped before it answered (killed, or out of memory)."""


def _sendable(err: BaseException) -> BaseException:
    """``err`` if it survives pickling (its type and message), else a RuntimeError saying it."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001 - any failure to pickle means: send its text instead
        return RuntimeError(f"{type(err).__name__}: {err}")


def serve(conn: Connection) -> None:
    """The worker's loop: ``(func, args)`` in, ``("progress", p)`` ... then one of ``("done",
    result)``, ``("error", exception)``, ``("cancelled", None)`` out. A ``"cancel"`` from the
    server during a job makes its next report raise ``CancelledError``."""
    while True:
        try:
            func, args = conn.recv()
        except (EOFError, OSError):
            return  # the server is gone

        def report(p: float) -> None:
            if conn.poll() and conn.recv() == "cancel":
                raise CancelledError
            conn.send(("progress", p))

        try:
            reply = ("done", func(report, *args))
        except CancelledError:
            reply = ("cancelled", None)
        except BaseException as err:  # noqa: BLE001 - the server re-raises it
            reply = ("error", _sendable(err))
        try:
            conn.send(reply)
        except Exception as err:  # noqa: BLE001 - e.g. a result that does not pickle
            conn.send(("error", _sendable(err)))


class Worker:
    """The server's worker process, started on first use; jobs run one at a time."""

    def __init__(self, nice: int = NICE) -> None:
        self.nice = nice
        self._lock = threading.Lock()  # one job at a time; also guards the process handle
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the process now, if no job holds it (it imports while the caller goes on)."""
        if self._lock.acquire(blocking=False):
            try:
                self._ensure()
            finally:
                self._lock.release()

    def _ensure(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        ours, theirs = socket.socketpair()
        root = str(Path(__file__).resolve().parents[1])  # where ``viz`` imports from
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        }
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep, not spin
        self._process = subprocess.Popen(
            [sys.executable, "-m", "viz.background", str(theirs.fileno()), str(self.nice)],
            pass_fds=[theirs.fileno()],
            env=env,
        )
        theirs.close()  # ours then sees EOF when the process dies
        self._conn = Connection(ours.detach())

    def _receive(self):
        try:
            return self._conn.recv()
        except (EOFError, OSError) as err:
            self._process = None
            raise WorkerError("the worker process stopped before it answered") from err

    def run(
        self,
        func: Callable[..., T],
        *args,
        progress: Callable[[float], None] | None = None,
    ) -> T:
        """``func(report, *args)`` in the worker; ``func`` and ``args`` must pickle (``func`` a
        module-level function). ``report(p)`` there reaches ``progress(p)`` here. If the caller
        stops waiting (``progress`` raised), the job ends at its next report, and this call
        waits for that before it re-raises, so that the next job finds the worker free."""
        with self._lock:
            self._ensure()
            try:
                self._conn.send((func, args))
            except OSError as err:
                self._process = None
                raise WorkerError("the worker process stopped before it answered") from err
            while (message := self._receive())[0] == "progress":
                if progress:
                    try:
                        progress(message[1])
                    except BaseException:
                        self._stop_job()
                        raise
        kind, value = message
        if kind == "error":
            raise value
        if kind == "cancelled":  # only when asked, and then the caller has raised already
            raise CancelledError
        return value

    def _stop_job(self) -> None:
        """Cancel the running job and wait until the worker has left it (or stop the worker)."""
        try:
            self._conn.send("cancel")
            while self._conn.poll(CANCEL_WAIT):
                if self._receive()[0] != "progress":
                    return
        except (WorkerError, OSError):
            return
        self._process.kill()  # no answer for a minute: start afresh next time
        self._process = None

    def close(self) -> None:
        """Stop the process (its loop ends when the connection closes)."""
        with self._lock:
            if self._process is None:
                return
            self._conn.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None


_WORKER = Worker()


def worker() -> Worker:
    """The process-wide worker."""
    return _WORKER


if __name__ == "__main__":  # the worker process: python -m viz.background FD NICE
    # The module's own names, not this __main__ copy's, so that the jobs (which import
    # viz.background) and the loop raise and catch the same CancelledError.
    from viz import background

    background.lower_priority(int(sys.argv[2]))  # before torch starts its threads
    background.serve(Connection(int(sys.argv[1])))
