"""Head scan: every head switched off on its own, batched per layer vs one forward per head.

The head-ablation view's "Scan every head" needs, for each of the L x H heads, the last layer's
hidden states with that head off. For texts of exactly 16, 128 and 512 tokens on the bundled
all-MiniLM-L6-v2, two ways of getting them are timed, interleaved in the same process:

(a) baseline, one forward per head: ``trace(enc, text, ablate={(layer, head)},
    only=["hidden_states"])`` for each of the 72 heads (how the app scanned until today);
(b) ``each_head_off(enc, text, None, layer)`` for each of the 6 layers: copies of the input
    in one batch, row h with head h off (several batches when the attention scores of one
    would pass ``SCAN_BATCH_BYTES``: 5 rows at 128 tokens, 1 at 512).

Both feed ``head_importance``; the largest difference between the two [L, H] maps is reported
(the batched forward adds in another order, so the last bits can differ). Reported: median
seconds per scan and the ratio (b)/(a), as a ratio of medians and a median of paired rounds.
Goal: (b)/(a) < 1 (faster); the app shows a progress bar either way.

With ``--mmap-threshold``, glibc's malloc is first set up as the app sets it up
(``viz.memory.return_freed_memory``), as in ``bench_capture.py``.

Run from the repository root: ``python bench/bench_scan.py [--quick] [--mmap-threshold]``.
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
from _common import busy_warning, interleaved, median, paired_ratio, quiet, report, table
from bench_capture import DEFAULT_THRESHOLD, LENGTHS, text_of_tokens

from viz.analysis.layers import head_importance
from viz.capture import SCAN_BATCH_BYTES, each_head_off, trace
from viz.memory import return_freed_memory
from viz.models import Encoder, load_encoder

ROUNDS = {16: 9, 128: 7, 512: 3}
QUICK_ROUNDS = {16: 3, 128: 3, 512: 1}


def one_per_head(encoder: Encoder, text: str, original: np.ndarray) -> np.ndarray:
    """Variant (a)."""
    H = encoder.facts.num_heads

    def run(layer: int) -> np.ndarray:
        return np.stack(
            [
                trace(
                    encoder, text, ablate=frozenset({(layer, h)}), only=["hidden_states"]
                ).hidden_states[-1]
                for h in range(H)
            ]
        )

    return head_importance(original, run, encoder.facts.num_layers, H)


def batched(encoder: Encoder, text: str, original: np.ndarray) -> np.ndarray:
    """Variant (b), as the app runs it."""
    f = encoder.facts
    run = partial(each_head_off, encoder, text, None)
    return head_importance(original, run, f.num_layers, f.num_heads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--mmap-threshold",
        action="store_true",
        help=f"set up malloc as the app does (arrays above {DEFAULT_THRESHOLD} bytes mapped)",
    )
    args = parser.parse_args()
    quiet()
    if args.mmap_threshold and not return_freed_memory():
        raise SystemExit("Could not set malloc's thresholds (glibc only).")
    rounds = QUICK_ROUNDS if args.quick else ROUNDS
    encoder = load_encoder()
    H = encoder.facts.num_heads
    rows, load = [], 0.0
    for n in LENGTHS:
        text = text_of_tokens(encoder, n)
        original = trace(encoder, text, only=["hidden_states"]).hidden_states[-1]
        diff = np.abs(one_per_head(encoder, text, original) - batched(encoder, text, original))
        times = interleaved(
            {
                "a": partial(one_per_head, encoder, text, original),
                "b": partial(batched, encoder, text, original),
            },
            rounds=rounds[n],
            warmup=0,
        )
        a, b = median(times["a"]), median(times["b"])
        load = max(load, times.other_load)
        per = max(1, min(H, SCAN_BATCH_BYTES // (4 * H * n * n)))
        rows.append(
            [
                n,
                rounds[n],
                per,
                f"{a:.2f}",
                f"{b:.2f}",
                f"**{b / a:.3f}x**",
                f"{paired_ratio(times['b'], times['a']):.3f}x",
                f"{diff.max():.1e}",
                "yes" if b < a else "no",
                f"{times.other_load:.0%}",
            ]
        )
    headers = [
        "tokens",
        "rounds",
        "rows per batch",
        "(a) one forward per head, s",
        "(b) batched per layer, s",
        "(b)/(a)",
        "(b)/(a) paired",
        "max abs difference of the maps",
        "goal (b)/(a) < 1 met",
        "other load",
    ]
    report(
        "Head scan: batched per layer vs one forward per head",
        table(headers, rows),
        busy_warning(load),
    )


if __name__ == "__main__":
    main()
