"""Shared helpers for the benchmarks in ``bench/``: interleaved timing, how busy the machine
is, machine facts, tables, the generated block each script prints, and the browser harness.

Every benchmark here measures a candidate against a baseline *in the same run*: the machine is
shared and noisy, so absolute times drift between runs, while a ratio of interleaved runs does
not. ``interleaved`` runs the variants round-robin (rotating which one goes first each round, so
none always follows the same neighbour) and returns every timing; callers report medians.

Scripts run as ``python bench/<name>.py`` from the repository root. Python puts ``bench/`` on
the path (so ``import _common`` works) and ``viz`` comes from the installed package
(``requirements-dev.txt`` installs the project editable): nothing here edits ``sys.path``.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"


def quiet() -> None:
    """Silence progress bars and library warnings that would clutter the tables."""
    warnings.filterwarnings("ignore")
    from transformers import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _busy_jiffies() -> tuple[int, int]:
    """(non-idle jiffies of the whole machine, jiffies of this process's threads)."""
    with open("/proc/stat", encoding="utf-8") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    busy = sum(cpu) - cpu[3] - cpu[4]  # minus idle and iowait
    with open("/proc/self/stat", encoding="utf-8") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return busy, int(fields[11]) + int(fields[12])  # utime + stime


@dataclass
class Timings:
    """Seconds per call for each variant, in call order, plus how busy the rest of the machine
    was meanwhile: ``other_load`` = CPU time used by other processes / (wall time * CPUs)."""

    times: dict[str, list[float]]
    other_load: float

    def __getitem__(self, name: str) -> list[float]:
        return self.times[name]


def interleaved(variants: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> Timings:
    """Time each variant ``rounds`` times, round-robin, after ``warmup`` untimed calls each.

    Round ``r`` starts with variant ``r mod n`` (a, b, c / b, c, a / c, a, b ...). The cyclic
    garbage collector is off while timing (as in ``timeit``): a collection before each call was
    measured to slow the next call by ~3 ms, as the thread pool goes cold.
    """
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.disable()
    busy0, own0 = _busy_jiffies()
    wall0 = time.perf_counter()
    try:
        for r in range(rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                variants[name]()
                times[name].append(time.perf_counter() - start)
    finally:
        gc.enable()
    busy1, own1 = _busy_jiffies()
    capacity = (time.perf_counter() - wall0) * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
    other = max(0, (busy1 - busy0) - (own1 - own0)) / capacity
    return Timings(times, other)


BUSY = 0.10  # other processes' share of the CPU above which timings are not trustworthy


def busy_warning(load: float) -> str:
    """A line to print when other processes were busy while timing; empty otherwise."""
    if load <= BUSY:
        return ""
    return (
        f"WARNING: other processes used {load:.0%} of the CPU while timing. On a busy machine "
        "torch's spinning OpenMP threads can slow small forwards by 10-100x, so these figures "
        "are not trustworthy: rerun on an idle machine."
    )


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def paired_ratio(candidate: Sequence[float], baseline: Sequence[float]) -> float:
    """Median over rounds of candidate/baseline timed in the same round (robust to drift)."""
    return statistics.median(c / b for c, b in zip(candidate, baseline, strict=True))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def machine_line(*software: str) -> str:
    """One line with the date (UTC) and the facts that change benchmark figures; ``software``:
    more versions to name (streamlit, Chromium)."""
    import torch

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(
        [f"Python {platform.python_version()}", f"torch {torch.__version__}", *software]
    )
    return (
        f"{now}; {os.cpu_count()} CPUs ({platform.machine()}, {_cpu_model()}), "
        f"{_ram_gib():.1f} GiB RAM; {platform.system()} {platform.release()}; {versions} "
        f"({torch.get_num_threads()} torch threads)"
    )


def command_line() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; numbers are expected to be formatted already."""
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# Every script's output is one block between these lines. In RESULTS.md a new run's block
# replaces the old one whole; what is written by hand goes outside the blocks, under Notes.
BEGIN = "<!-- begin generated: {command} -->"
END = "<!-- end generated -->"


def generated_block(title: str, body: str, *software: str) -> str:
    """``body`` (markdown) framed as a generated block: title, machine, command, then body."""
    return "\n".join(
        [
            BEGIN.format(command=command_line()),
            f"**{title}**",
            "",
            f"- machine: {machine_line(*software)}",
            f"- command: `{command_line()}`",
            "",
            body.strip("\n"),
            END,
        ]
    )


def report(title: str, *parts: str) -> None:
    """Print a benchmark's generated block; ``parts`` (tables, goal lines, warnings) are joined
    by blank lines, empty ones left out."""
    print(generated_block(title, "\n\n".join(p.strip("\n") for p in parts if p)))


# ---------------------------------------------------------------- how busy the machine is
def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU time used so far in clock ticks)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return out


def _descendants(parents: dict[int, int]) -> set[int]:
    """This process and every process below it, given pid -> parent pid."""
    ours, grew = {os.getpid()}, True
    while grew:
        new = {pid for pid, ppid in parents.items() if ppid in ours} - ours
        ours |= new
        grew = bool(new)
    return ours


def tree_cpu(pattern: str) -> float:
    """CPU seconds used so far by this benchmark's descendant processes whose command line
    contains ``pattern`` (exited processes are not counted)."""
    procs = _processes()
    ticks = 0
    for pid in _descendants({pid: ppid for pid, (ppid, _) in procs.items()}) - {os.getpid()}:
        try:
            with open(f"/proc/{pid}/cmdline", encoding="utf-8", errors="replace") as f:
                if pattern in f.read().replace("\0", " "):
                    ticks += procs[pid][1]
        except (OSError, KeyError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """CPU used meanwhile by processes outside this benchmark's tree (not this process, nor the
    servers and browsers it started), as a share of the whole machine: 0.5 = one of two CPUs
    busy elsewhere. A context manager; ``share`` is set on exit."""

    share = float("nan")

    def __enter__(self) -> OtherLoad:
        self.start, self.before = time.perf_counter(), _processes()
        return self

    def __exit__(self, *exc: object) -> None:
        after = _processes()
        wall = time.perf_counter() - self.start
        ours = _descendants({pid: ppid for pid, (ppid, _) in {**self.before, **after}.items()})
        used = sum(
            ticks - self.before[pid][1]
            for pid, (_, ticks) in after.items()
            if pid in self.before and pid not in ours
        )
        self.share = used / (wall * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1))


# ---------------------------------------------------------------- the browser harness
def browser_harness() -> ModuleType:
    """The tests' Streamlit server and Chromium driver (``tests/drivers.py``), shared with the
    browser tests so both drive the app the same way.

    ``tests`` is not an installed package and ``python bench/x.py`` puts only ``bench/`` on the
    path, so ``import tests.drivers`` fails here; the module is loaded from its file instead
    (nothing copied, ``sys.path`` untouched).
    """
    import importlib.util

    name = "_bench_browser_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "drivers.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
