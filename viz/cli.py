"""``python -m viz``: trace one input to .npz, or extract embeddings for a file of sentences."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from viz.models import DEFAULT_MODEL

EPILOG = """examples:
  python -m viz trace --text "The bank by the river." --out trace.npz
  python -m viz trace --text "Where is it?" --pair "By the river." --out pair.npz
  python -m viz trace --text "The bank." --only hidden_states,attentions --out small.npz
  python -m viz extract --input sentences.txt --layers all --pooling mean --out emb.npy
  python -m viz extract --input sentences.txt --layers last4 --concat --out last4.npy
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m viz",
        description="Explore a BERT-style encoder layer by layer from the command line.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{trace,extract}")

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--model",
            default=DEFAULT_MODEL,
            help=f"Hugging Face id or local folder (default: the bundled {DEFAULT_MODEL})",
        )
        p.add_argument(
            "--allow-pickle",
            action="store_true",
            help="allow .bin (pickle) weights when a model has no safetensors; "
            "only for sources you trust",
        )

    t = sub.add_parser(
        "trace",
        help="run one sentence (or pair) and save every layer's activations",
        description="Run one sentence (or a sentence pair) and write every captured array to an "
        ".npz file: tokens, hidden_states [L+1,T,D], attentions [L,H,T,T], queries, "
        "keys, values [L,H,T,dk], attn_outputs, ffn_outputs [L,T,D], ffn_activations "
        "[L,T,F], word_ids, segment_ids, special, offsets and facts_json.",
    )
    t.add_argument("--text", required=True, help="the sentence to trace")
    t.add_argument("--pair", help="an optional second sentence (sentence-pair mode)")
    model_options(t)
    t.add_argument(
        "--only",
        metavar="NAMES",
        help="capture only these arrays, comma-separated (e.g. hidden_states,attentions: a "
        "smaller file and fewer hooks). Default: all of them",
    )
    t.add_argument("--out", required=True, type=Path, help="output .npz path")

    e = sub.add_parser(
        "extract",
        help="sentence embeddings for a file with one sentence per line",
        description="Embed every line of a UTF-8 text file. Writes float32 [N, number of layers, "
        "D] to a .npy file (or [N, layers*D] with --concat). Memory is bounded by the "
        "batch, not by the number of lines.",
    )
    e.add_argument(
        "--input", required=True, type=Path, help="UTF-8 text file, one sentence per line"
    )
    model_options(e)
    e.add_argument(
        "--layers",
        default="all",
        help="'all' (embeddings + every layer), 'last4', or indices like 0,3,6 or -1 "
        "(0 = embedding output; negative counts from the last layer). Default: all",
    )
    e.add_argument(
        "--pooling",
        default="mean",
        choices=["mean", "cls", "max"],
        help="how token vectors become one sentence vector (mean ignores padding). Default: mean",
    )
    e.add_argument(
        "--batch-size", type=int, default=32, help="sentences per forward pass (default 32)"
    )
    e.add_argument(
        "--concat",
        action="store_true",
        help="concatenate the chosen layers into one vector per sentence "
        "(with --layers last4: the 'last four layers' recipe)",
    )
    e.add_argument("--out", required=True, type=Path, help="output .npy path")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _count_lines(path: Path) -> int:
    """Count lines, checking on the way (memory stays bounded) that the file is UTF-8 text."""
    return sum(1 for _ in _lines(path))


def _lines(path: Path):
    with path.open(encoding="utf-8", errors="strict", newline="") as f:
        for number, line in enumerate(f, start=1):
            if "\x00" in line:
                raise ValueError(f"{path} line {number} contains NUL bytes: is it a text file?")
            yield line.rstrip("\r\n")


def run_trace(args: argparse.Namespace) -> None:
    from viz.capture import kinds_of, trace
    from viz.models import load_encoder
    from viz.tokens import MAX_CHARS

    only = None
    if args.only is not None:
        only = [name.strip() for name in args.only.split(",") if name.strip()]
        kinds_of(only)  # a typo is reported before the model loads
    encoder = load_encoder(args.model, allow_pickle=args.allow_pickle)
    result = trace(encoder, args.text, args.pair, only=only)
    result.save_npz(args.out)
    note = (
        f", {result.dropped_tokens} tokens dropped beyond the maximum"
        if result.dropped_tokens
        else ""
    )
    if result.dropped_chars:
        note += f", {result.dropped_chars} characters beyond the first {MAX_CHARS} not read"
    print(
        f"wrote {args.out}: {result.num_tokens} tokens x {result.facts.num_layers} layers{note}",
        file=sys.stderr,
    )


def run_extract(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from viz.extract import parse_layers, stream_sentence_embeddings
    from viz.models import load_encoder

    if not args.input.is_file():
        raise ValueError(f"The input file {args.input} does not exist.")
    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1.")
    n = _count_lines(args.input)
    if n == 0:
        raise ValueError(f"{args.input} is empty: put one sentence per line.")
    encoder = load_encoder(args.model, allow_pickle=args.allow_pickle)
    layers = parse_layers(args.layers, encoder.facts.num_layers)
    D = encoder.facts.hidden_size
    shape = (n, len(layers) * D) if args.concat else (n, len(layers), D)
    out = np.lib.format.open_memmap(args.out, mode="w+", dtype=np.float32, shape=shape)
    done = 0
    chunk = max(args.batch_size * 16, 256)
    with tqdm(total=n, unit="sent", disable=args.quiet, file=sys.stderr) as bar:
        for block in stream_sentence_embeddings(
            encoder, _lines(args.input), layers, args.pooling, args.batch_size, chunk=chunk
        ):
            out[done : done + len(block)] = block.reshape(len(block), *shape[1:])
            done += len(block)
            bar.update(len(block))
    out.flush()
    del out
    print(
        f"wrote {args.out}: float32 {list(shape)} (layers {layers}, {args.pooling} pooling)",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        {"trace": run_trace, "extract": run_extract}[args.command](args)
    except UnicodeDecodeError as err:
        print(
            f"error: {args.input} is not UTF-8 text (byte {err.start}): save it as UTF-8.",
            file=sys.stderr,
        )
        return 2
    except (ValueError, OSError) as err:
        print(
            f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
