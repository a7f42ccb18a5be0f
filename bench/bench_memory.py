"""Peak memory of one 512-token trace of the bundled all-MiniLM-L6-v2.

Each measurement runs in a fresh subprocess (``--child``), so nothing left over from an earlier
measurement - allocator caches, a previous Trace - is counted:

1. load the encoder, build the 512-token text, run one short warm-up trace, collect garbage;
2. reset the kernel's peak-RSS counter (write ``5`` to ``/proc/self/clear_refs``, which sets
   ``VmHWM`` to the current RSS) and read the RSS: the *before* figure;
3. run ``trace(enc, text)`` once on the 512-token text, keep the Trace alive, and read the peak
   (``VmHWM`` in ``/proc/self/status``).

Reported (medians over 5 subprocesses, MiB = 2**20 bytes): RSS before, the peak, the increase
(peak - before), the Trace's own arrays (sum of ``nbytes``) and the RSS still held after the
trace. If the peak counter cannot be reset, a thread sampling ``VmRSS`` every millisecond gives
the peak instead (the method is printed). For scale, the same is measured for the plain forward
with ``output_hidden_states`` and ``output_attentions`` converted to numpy (the capture
benchmark's baseline (a)), in subprocesses interleaved with the trace ones. No goal is set.

Run from the repository root: ``python bench/bench_memory.py [--quick]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from _common import ROOT, median, quiet, report, table

TOKENS = 512
RUNS, QUICK_RUNS = 5, 3
MIB = 2**20
VARIANTS = ("trace", "baseline")


def status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status``, e.g. ``VmRSS`` or ``VmHWM``."""
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> bool:
    """Set VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")
    except OSError:
        return False
    return status_kib("VmHWM") <= status_kib("VmRSS") + 64


class Sampler:
    """Fallback peak meter: a thread reading a ``kB`` field of ``/proc/self/status`` (VmRSS by
    default) every ``every`` seconds; ``peak`` in KiB."""

    def __init__(self, field: str = "VmRSS", every: float = 0.001) -> None:
        self.field, self.every = field, every
        self.peak = status_kib(field)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, status_kib(self.field))
            time.sleep(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, status_kib(self.field))


@dataclasses.dataclass
class Measurement:
    before_kib: int
    peak_kib: int
    after_kib: int
    arrays_bytes: int
    lifetime_peak_kib: int  # ru_maxrss: includes loading the model
    method: str


def child(variant: str) -> Measurement:
    """One measurement, in this (fresh) process."""
    import resource

    import torch
    from bench_capture import baseline, text_of_tokens

    from viz.capture import trace
    from viz.models import load_encoder

    quiet()
    encoder = load_encoder()
    text = text_of_tokens(encoder, TOKENS)
    ids = torch.tensor([encoder.tokenizer(text)["input_ids"]])
    trace(encoder, "A short sentence to warm up.")
    baseline(encoder, ids[:, :8])
    gc.collect()

    def run() -> list[np.ndarray]:
        if variant == "baseline":
            return list(baseline(encoder, ids))
        result = trace(encoder, text)
        assert result.num_tokens == TOKENS
        return [v for v in vars(result).values() if isinstance(v, np.ndarray)]

    if reset_peak():
        before = status_kib("VmRSS")
        arrays = run()
        peak, method = status_kib("VmHWM"), "VmHWM after clear_refs"
    else:
        before = status_kib("VmRSS")
        with Sampler() as sampler:
            arrays = run()
        peak, method = sampler.peak, "VmRSS sampled every 1 ms"
    return Measurement(
        before_kib=before,
        peak_kib=peak,
        after_kib=status_kib("VmRSS"),
        arrays_bytes=sum(a.nbytes for a in arrays),
        lifetime_peak_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        method=method,
    )


def measure(variant: str) -> Measurement:
    """Run ``child`` in a fresh interpreter and read back its JSON line."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", variant],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return Measurement(**json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer subprocesses")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(dataclasses.asdict(child(args.child))))
        return

    runs = QUICK_RUNS if args.quick else RUNS
    results: dict[str, list[Measurement]] = {v: [] for v in VARIANTS}
    for _ in range(runs):
        for variant in VARIANTS:
            results[variant].append(measure(variant))

    def mib(variant: str, figure: str) -> str:
        values = [getattr(m, figure) for m in results[variant]]
        scale = MIB if figure == "arrays_bytes" else 1024
        return f"{median(values) / scale:.1f}"

    def increase(variant: str) -> str:
        return f"{median([m.peak_kib - m.before_kib for m in results[variant]]) / 1024:.1f}"

    names = {
        "trace": f"trace(enc, text), {TOKENS} tokens",
        "baseline": f"baseline (a): forward + hidden/attentions to numpy, {TOKENS} tokens",
    }
    rows = [
        [
            names[v],
            mib(v, "before_kib"),
            f"**{increase(v)}**",
            mib(v, "peak_kib"),
            mib(v, "arrays_bytes"),
            mib(v, "after_kib"),
            mib(v, "lifetime_peak_kib"),
        ]
        for v in VARIANTS
    ]
    headers = [
        "what",
        "RSS before MiB",
        "peak increase MiB",
        "peak RSS MiB",
        "result arrays MiB",
        "RSS after MiB",
        "ru_maxrss MiB (incl. loading)",
    ]
    spread = [(m.peak_kib - m.before_kib) / 1024 for m in results["trace"]]
    methods = sorted({m.method for ms in results.values() for m in ms})
    body = (
        table(headers, rows)
        + f"\n\nMedians of {runs} fresh subprocesses per row, interleaved. Peak measured by: "
        + ", ".join(methods)
        + f". Trace peak increase over the runs: {min(spread):.1f}-{max(spread):.1f} MiB."
    )
    report(f"Peak memory of one {TOKENS}-token trace", body)


if __name__ == "__main__":
    main()
