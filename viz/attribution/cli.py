"""``python -m viz attribute``: attribution or context mixing for one input, to an .npz file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from viz.attribution import METHODS
from viz.attribution.targets import parse_target
from viz.errors import UserError


def description() -> str:
    gradient = "; ".join(f"{m.name}: {m.paper}" for m in METHODS.values() if m.kind == "gradient")
    mixing = "; ".join(f"{m.name}: {m.paper}" for m in METHODS.values() if m.kind == "mixing")
    return (
        "Why this output? Gradient methods give one score per input token for a TARGET "
        f"({gradient}). The baseline: every token of the text replaced by the padding token "
        "([PAD]; the mask token without one), special tokens kept; gradients are taken at the "
        "word-embedding output. The file holds scores [T] (the sentence's tokens, then the "
        "pair's), tokens, target (its value at the input) and baseline_target (at the "
        "baseline); Integrated Gradients' scores sum to target - baseline_target. "
        "Context-mixing methods decompose every layer, whatever TARGET is: scores [L, T, T], "
        "row i = how much token i's output at layer l draws on token j, for the sentence and "
        f"pair encoded together ({mixing}); rollout [L, T, T] is added where the paper rolls its "
        "measure out. Mixing methods are defined for post-LayerNorm families only. "
        "TARGET: 'similarity' = cosine of the two sentences' mean-pooled last-layer embeddings, "
        "each sentence run on its own (needs --pair); 'mlm:POSITION' = that position replaced "
        "by the mask token, the masked-LM head's logit there of its top prediction (models with "
        "an MLM head); 'token:LAYER:POSITION' = that token's vector at that layer (0 = the "
        "embedding output) projected onto its own direction at the input (its norm at the "
        "input). Positions count tokens from 0, special tokens included."
    )


def add_parsers(sub: argparse._SubParsersAction, model_options) -> None:
    p = sub.add_parser(
        "attribute",
        help="which input tokens a target depends on, or how each layer mixes the tokens",
        description=description(),
    )
    p.add_argument("--text", required=True, help="the sentence (starting with '-': --text=-x)")
    p.add_argument("--pair", help="a second sentence (needed by the similarity target)")
    model_options(p)
    p.add_argument("--method", required=True, choices=list(METHODS), help="the method (see above)")
    p.add_argument(
        "--target",
        default="similarity",
        help="similarity, mlm:POSITION or token:LAYER:POSITION (gradient methods; default: "
        "similarity)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=64,
        help="Integrated Gradients' interpolation points (default 64)",
    )
    p.add_argument("--out", required=True, type=Path, help="output .npz path")


def run(args: argparse.Namespace) -> None:
    from viz.attribution.gradients import attribute_gradient
    from viz.attribution.mixing import check_family, mixing
    from viz.capture import trace
    from viz.cli import _check_output, _written_whole
    from viz.models import load_encoder

    method = METHODS.get(args.method)
    if method is None:
        raise UserError("attr_method_unknown", method=args.method, choices=", ".join(METHODS))
    target = parse_target(args.target)  # a typo is reported before the model loads
    if args.steps < 2:
        raise UserError("attr_steps", steps=args.steps)
    _check_output(args.out, "attribution.npz")
    encoder = load_encoder(args.model, allow_pickle=args.allow_pickle)
    if method.kind == "gradient":
        result = attribute_gradient(encoder, args.text, args.pair, method.name, target, args.steps)
        arrays = dict(
            scores=result.scores.astype(np.float32),
            tokens=np.array(result.tokens, dtype=str),
            target=np.array(result.value),
            baseline_target=np.array(result.baseline_value),
        )
        summary = (
            f"{len(result.tokens)} tokens, target {target} = {result.value:.4g} "
            f"(baseline {result.baseline_value:.4g})"
        )
    else:
        check_family(encoder)
        t = trace(encoder, args.text, args.pair)
        result = mixing(encoder, t, method.name)
        arrays = dict(scores=result.scores.astype(np.float32), tokens=np.array(t.tokens, dtype=str))
        if result.rollout is not None:
            arrays["rollout"] = result.rollout.astype(np.float32)
        summary = f"{t.num_tokens} tokens x {t.facts.num_layers} layers"
    with _written_whole(args.out) as tmp, tmp.open("wb") as f:
        np.savez(f, method=np.array(method.name), **arrays)
        f.flush()
        os.fsync(f.fileno())
    print(f"wrote {args.out}: {method.name}, {summary}", file=sys.stderr)


RUNNERS = {"attribute": run}
