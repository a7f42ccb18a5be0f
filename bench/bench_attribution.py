"""Attribution and context mixing at 128 tokens on the bundled model, against a plain trace.

For one text of exactly 128 tokens on all-MiniLM-L6-v2, each method of ``viz.attribution`` is
timed, interleaved in the same process with the baseline, a full ``trace`` of the same text
(what every page already pays):

- gradient methods, target ``token:6:1`` (the last layer's vector of the first word, projected
  onto its own direction): gradient x input, attention x gradient, Integrated Gradients at 64
  steps (batched, ``GRAPH_BYTES`` of graph per batch);
- context mixing from that trace: norm-based with residual and LayerNorm, GlobEnc, ALTI (with
  their rollouts), Value Zeroing.

Reported: median seconds per call, the ratio to the trace (ratio of medians), and the goal:
within 1 s for the live methods, within 10 s for Integrated Gradients and Value Zeroing.

Run from the repository root: ``python bench/bench_attribution.py [--quick]``.
"""

from __future__ import annotations

import argparse
from functools import partial

from _common import OtherLoad, busy_warning, interleaved, median, quiet, report, table
from bench_capture import text_of_tokens

from viz.attribution.gradients import attribute_gradient
from viz.attribution.mixing import mixing
from viz.attribution.targets import parse_target
from viz.capture import trace
from viz.models import load_encoder

TOKENS = 128
LIVE, SLOW = 1.0, 10.0  # seconds: the goals
METHODS = {  # name -> (kind, goal)
    "grad_input": ("gradient", LIVE),
    "attn_grad": ("gradient", LIVE),
    "norm_residual": ("mixing", LIVE),
    "globenc": ("mixing", LIVE),
    "alti": ("mixing", LIVE),
    "integrated_gradients": ("gradient", SLOW),
    "value_zeroing": ("mixing", SLOW),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of the live methods")
    args = parser.parse_args()
    quiet()
    encoder = load_encoder()
    text = text_of_tokens(encoder, TOKENS)
    target = parse_target(f"token:{encoder.facts.num_layers}:1")
    t = trace(encoder, text)
    variants = {"trace": partial(trace, encoder, text)}
    for name, (kind, _) in METHODS.items():
        if kind == "gradient":
            variants[name] = partial(attribute_gradient, encoder, text, None, name, target, 64)
        else:
            variants[name] = partial(mixing, encoder, t, name)
    fast = {k: v for k, v in variants.items() if k == "trace" or METHODS[k][1] == LIVE}
    slow = {k: v for k, v in variants.items() if k == "trace" or METHODS[k][1] == SLOW}
    with OtherLoad() as other:
        fast_times = interleaved(fast, rounds=1 if args.quick else 3, warmup=1)
        slow_times = interleaved(slow, rounds=1, warmup=0)
    rows = []
    for name, (_, goal) in METHODS.items():
        times = fast_times if goal == LIVE else slow_times
        seconds, base = median(times[name]), median(times["trace"])
        rows.append(
            [
                name,
                len(times[name]),
                f"{seconds:.2f}",
                f"{base:.3f}",
                f"{seconds / base:.1f}x",
                f"{goal:.0f} s",
                "yes" if seconds <= goal else "no",
            ]
        )
    headers = ["method", "rounds", "seconds", "trace, s", "/ trace", "goal", "goal met"]
    load = max(fast_times.other_load, slow_times.other_load, other.share)
    report(
        f"Attribution and context mixing at {TOKENS} tokens (all-MiniLM-L6-v2, CPU)",
        table(headers, rows),
        f"Other processes' share of the CPU while timing: {load:.0%}.",
        busy_warning(load),
    )


if __name__ == "__main__":
    main()
