"""Shared helpers for the benchmarks in ``bench/``: interleaved timing, machine facts, tables.

Every benchmark here measures a candidate against a baseline *in the same run*: the machine is
shared and noisy, so absolute times drift between runs, while a ratio of interleaved runs does
not. ``interleaved`` runs the variants round-robin (rotating which one goes first each round, so
none always follows the same neighbour) and returns every timing; callers report medians.

Importing this module also puts the repository root on ``sys.path`` so that ``import viz`` works
when a script is started as ``python bench/<name>.py`` from the repository root.
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

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


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


def machine_line() -> str:
    """One line with the date (UTC) and the facts that change benchmark figures."""
    import torch

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}; {os.cpu_count()} CPUs ({platform.machine()}, {_cpu_model()}), "
        f"{_ram_gib():.1f} GiB RAM; Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)"
    )


def command_line() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; numbers are expected to be formatted already."""
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def report(title: str, body: str) -> None:
    """Print a benchmark's markdown block: title, machine, command, then ``body``."""
    print(f"## {title}\n")
    print(f"- machine: {machine_line()}")
    print(f"- command: `{command_line()}`\n")
    print(body)
