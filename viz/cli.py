"""``python -m viz``: trace one input to .npz, or extract embeddings for a file of sentences."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from viz.errors import UserError
from viz.models import DEFAULT_MODEL
from viz.names import layer_name
from viz.trace import ARRAYS, ATTN_BIAS, CAPTURED, LETTERS, TOKEN_ARRAYS, kinds_of

EPILOG = """examples:
  python -m viz trace --text "The bank by the river." --out trace.npz
  python -m viz trace --text "Where is it?" --pair "By the river." --out pair.npz
  python -m viz trace --text "The bank." --only hidden_states,attentions --out small.npz
  python -m viz extract --input sentences.txt --layers all --pooling mean --out emb.npy
  python -m viz extract --input sentences.txt --layers last4 --concat --out last4.npy
"""


def trace_description() -> str:
    """The ``trace`` subcommand's description, its list of arrays read from ``ARRAYS``."""
    arrays = "; ".join(f"{a.name} [{a.shape}] ({a.meaning})" for a in ARRAYS)
    letters = ", ".join(f"{letter} {meaning}" for letter, meaning in LETTERS.items())
    return (
        "Run one sentence (or a sentence pair) and write every captured array to an .npz file "
        f"(float32 unless noted): {arrays}. Shapes in letters: {letters}. For every token: "
        "tokens, display_tokens (the text's own characters), token_ids, word_ids, segment_ids, "
        f"special, offsets [{TOKEN_ARRAYS['offsets']}] into text or pair; plus text, pair, "
        "dropped_tokens, dropped_chars and facts_json (the model's facts). MPNet and DeBERTa "
        f"add attn_bias, the relative-position term of the scores ([{ATTN_BIAS[3]}] for every "
        f"layer, or [{ATTN_BIAS[4]}] one per layer). Load it with numpy.load(path) (no pickle "
        "needed)."
    )


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
        description=trace_description(),
    )
    t.add_argument(
        "--text", required=True, help="the sentence to trace (starting with '-': --text=-x)"
    )
    t.add_argument("--pair", help="an optional second sentence (sentence-pair mode)")
    model_options(t)
    t.add_argument(
        "--only",
        metavar="NAMES",
        help="capture only these arrays, comma-separated (e.g. hidden_states,attentions: a "
        f"smaller file and fewer hooks), from: {', '.join(CAPTURED)}. Default: all of them",
    )
    t.add_argument("--out", required=True, type=Path, help="output .npz path")

    e = sub.add_parser(
        "extract",
        help="sentence embeddings for a file with one sentence per line",
        description="Embed every line of a UTF-8 text file. Writes float32 [N, number of layers, "
        "D] to a .npy file (or [N, layers*D] with --concat): row i is line i, so a blank line "
        "gets the vector of an empty input (the summary counts them). Memory is bounded by the "
        "batch, not by the number of lines. The output file appears only once every line is "
        "done.",
    )
    e.add_argument(
        "--input", required=True, type=Path, help="UTF-8 text file, one sentence per line"
    )
    model_options(e)
    e.add_argument(
        "--layers",
        default="all",
        help="'all' (embeddings + every layer), 'last4', or indices like 0,3,6 or -1, or names "
        "like emb,L3 "
        "(0 = embedding output; negative counts from the last layer: write a list of them as "
        "--layers=-2,-1). Default: all",
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
        "--max-tokens",
        type=int,
        metavar="N",
        help="cut each line to N tokens, special tokens included (default: the model's maximum, "
        "512 for the bundled model; sentence-transformers cuts that model at 256, so use 256 "
        "to reproduce its vectors for long lines)",
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


def _lines(path: Path) -> Iterator[str]:
    """The file's lines without their line ends; a NUL byte means it is not a text file."""
    with path.open(encoding="utf-8", errors="strict", newline="") as f:
        for number, line in enumerate(f, start=1):
            if "\x00" in line:
                raise UserError("input_nul", path=str(path), line=number)
            yield line.rstrip("\r\n")


def _not_utf8(path: Path) -> UserError:
    """Where a file stops being UTF-8, found by reading it again line by line (error path only)."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return UserError("input_not_utf8", path=str(path), line=number, byte=err.start + 1)
    return UserError("input_not_utf8_somewhere", path=str(path))


def _check_input(path: Path) -> None:
    if path.is_dir():
        raise UserError("input_is_folder", path=str(path))
    if not path.is_file():
        raise UserError("input_missing", path=str(path))


def _check_output(path: Path, suffix: str, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse an output path that cannot be written before any work is done."""
    if path.is_dir():
        raise UserError("out_is_folder", path=str(path), example=str(path / suffix))
    if not path.parent.is_dir():
        raise UserError("out_folder_missing", folder=str(path.parent))
    if any(path.resolve() == source.resolve() for source in inputs):
        raise UserError("out_is_input", path=str(path))


@contextlib.contextmanager
def _written_whole(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it becomes ``path`` only if the block finishes,
    so an error or Ctrl-C never leaves a half-written file that looks complete."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _lines_count(n: int, kind: str = "") -> str:
    return f"{n} {kind + ' ' if kind else ''}line{'' if n == 1 else 's'}"


def run_trace(args: argparse.Namespace) -> None:
    from viz.capture import trace
    from viz.models import load_encoder
    from viz.tokens import MAX_CHARS

    only = None
    if args.only is not None:
        only = [name.strip() for name in args.only.split(",") if name.strip()]
        kinds_of(only)  # a typo is reported before the model loads
    _check_output(args.out, "trace.npz")
    encoder = load_encoder(args.model, allow_pickle=args.allow_pickle)
    result = trace(encoder, args.text, args.pair, only=only)
    with _written_whole(args.out) as tmp, tmp.open("wb") as f:
        result.save_npz(f)  # a file object: numpy would add ".npz" to a name without it
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

    from viz.extract import ExtractStats, parse_layers, stream_sentence_embeddings
    from viz.models import load_encoder

    _check_input(args.input)
    _check_output(args.out, "emb.npy", (args.input,))
    if args.batch_size < 1:
        raise UserError("cli_batch_size")
    if args.max_tokens is not None and args.max_tokens < 3:
        raise UserError("cli_max_tokens")
    try:
        n = sum(1 for _ in _lines(args.input))  # and checks, in bounded memory, that it is text
    except UnicodeDecodeError:
        raise _not_utf8(args.input) from None
    if n == 0:
        raise UserError("input_empty", path=str(args.input))
    encoder = load_encoder(args.model, allow_pickle=args.allow_pickle)
    layers = parse_layers(args.layers, encoder.facts.num_layers)
    limit = min(args.max_tokens or encoder.facts.max_tokens, encoder.facts.max_tokens)
    D = encoder.facts.hidden_size
    shape = (n, len(layers) * D) if args.concat else (n, len(layers), D)
    stats = ExtractStats()
    chunk = max(args.batch_size * 16, 256)
    with _written_whole(args.out) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        done = 0
        with tqdm(total=n, unit="sent", disable=args.quiet, file=sys.stderr) as bar:
            for block in stream_sentence_embeddings(
                encoder,
                _lines(args.input),
                layers,
                args.pooling,
                args.batch_size,
                chunk=chunk,
                max_tokens=limit,
                stats=stats,
            ):
                out[done : done + len(block)] = block.reshape(len(block), *shape[1:])
                done += len(block)
                bar.update(len(block))
        out.flush()
        del out
    notes = ""
    if stats.blank:
        notes += f"; {_lines_count(stats.blank, 'blank')} got the vector of an empty input"
    if stats.cut:
        notes += f"; {_lines_count(stats.cut)} longer than {limit} tokens, cut to {limit}"
    print(
        f"wrote {args.out}: float32 {list(shape)} (layers {', '.join(map(layer_name, layers))}; "
        f"{args.pooling} pooling){notes}",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        {"trace": run_trace, "extract": run_extract}[args.command](args)
    except (ValueError, OSError) as err:
        print(
            f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
