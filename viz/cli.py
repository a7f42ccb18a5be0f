"""``python -m viz``: trace one input to .npz, or extract embeddings for a file of sentences."""

from __future__ import annotations

import os

# Before torch loads (viz.models imports it): idle OpenMP threads sleep instead of spinning,
# which on a machine whose cores other processes share made extraction about 2x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import errno  # noqa: E402
import io  # noqa: E402
import stat  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import IO  # noqa: E402

import numpy as np  # noqa: E402

from viz import DEFAULT_MODEL  # noqa: E402
from viz.errors import UserError  # noqa: E402
from viz.names import layer_name  # noqa: E402
from viz.trace import ARRAYS, ATTN_BIAS, CAPTURED, LETTERS, TOKEN_ARRAYS, kinds_of  # noqa: E402

STDIN = "-"
MOSTLY_UNKNOWN = 0.5  # above this share of [UNK] tokens the summary warns that the model is wrong

EPILOG = """examples:
  python -m viz trace --text "The bank by the river." --out trace.npz
  python -m viz trace --text "Where is it?" --pair "By the river." --out pair.npz
  python -m viz trace --text "The bank." --only hidden_states,attentions --out small.npz
  python -m viz extract --input sentences.txt --layers all --pooling mean --out emb.npy
  python -m viz extract --input sentences.txt --layers last4 --concat --out last4.npy
  some-command | python -m viz extract --input - --out emb.npy
  python -m viz index --input corpus.txt --layers emb,L3,L6 --out corpus-index
  python -m viz neighbors corpus-index --text "The bank by the river." --word bank --layer L3
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
    names = ["trace", "extract"] + [n for m in _command_modules() for n in m.RUNNERS]
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(names) + "}")

    def model_options(
        p: argparse.ArgumentParser,
        default: str | None = DEFAULT_MODEL,
        default_help: str = f"the bundled {DEFAULT_MODEL}",
    ) -> None:
        p.add_argument(
            "--model",
            default=default,
            help=f"Hugging Face id or local folder (default: {default_help})",
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
    t.add_argument(
        "--out", required=True, type=Path, help="output .npz path (a new or regular file)"
    )

    e = sub.add_parser(
        "extract",
        help="sentence embeddings for a file with one sentence per line",
        description="Embed every line of a UTF-8 text file. Writes float32 [N, number of layers, "
        "D] to a .npy file (or [N, layers*D] with --concat): row i is line i, so a blank line "
        "gets the vector of an empty input (the summary counts them). Memory is bounded by the "
        "batch, not by the number of lines: a line is cut to 32 characters per token of the "
        "limit before it is tokenised. The summary also counts lines cut, lines longer than "
        "sentence-transformers' own cut, and tokens unknown to the model's vocabulary. The "
        "output file appears only once every line is done.",
    )
    e.add_argument(
        "--input",
        required=True,
        type=Path,
        help="UTF-8 text file, one sentence per line; '-' or /dev/stdin reads standard input",
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
    e.add_argument(
        "--out", required=True, type=Path, help="output .npy path (a new or regular file)"
    )
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    from viz.corpus.cli import add_engine_options

    add_engine_options(e)
    for module in _command_modules():
        module.add_parsers(sub, model_options)
    return parser


# Subcommands that live beside what they run: each module has ``add_parsers(sub,
# model_options)`` and ``RUNNERS``, a dict of subcommand name to ``run(args)``.
COMMAND_MODULES: tuple[str, ...] = ("viz.corpus.cli", "viz.attribution.cli", "viz.syntax.cli")


def _command_modules() -> list:
    import importlib

    return [importlib.import_module(name) for name in COMMAND_MODULES]


def _read_lines(f: IO[str], name: str, max_chars: int) -> Iterator[str]:
    """The lines of ``f`` without their line ends; a longer line is cut to ``max_chars`` + 1
    characters (the rest is read in pieces and dropped, so a huge line never sits in memory
    whole; the one character more tells the extraction, which cuts at ``max_chars`` and counts
    its cuts, that this line was longer). A NUL byte means it is not a text file."""
    limit = max_chars + 2  # the text and its line end, "\r\n" at most
    number, skip_lf = 0, False
    while line := f.readline(limit):
        if skip_lf and line == "\n":  # the "\n" of a "\r\n" split by the limit
            skip_lf = False
            continue
        number += 1
        ended, piece = line.endswith(("\n", "\r")), line
        while not ended and (piece := f.readline(limit)):
            ended = piece.endswith(("\n", "\r"))
            if "\x00" in piece:
                raise UserError("input_nul", path=name, line=number)
            line = line[: max_chars + 1]  # enough to know it was cut
        if "\x00" in line:
            raise UserError("input_nul", path=name, line=number)
        skip_lf = len(line) == limit and line.endswith("\r")
        text = line.rstrip("\r\n")
        yield text[: max_chars + 1]


def _lines(path: Path, max_chars: int) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="strict", newline="") as f:
        yield from _read_lines(f, str(path), max_chars)


def _is_stdin(path: Path) -> bool:
    return str(path) in (STDIN, "/dev/stdin")


def _spooled(path: Path, max_chars: int) -> tuple[IO[str], int]:
    """Standard input, a FIFO or a device, read once: its lines (cut) go to a temporary file,
    which is read again to embed them. Returns the file (at its start) and its line count."""
    if _is_stdin(path):
        source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")
        name = "standard input"
    else:
        source, name = path.open(encoding="utf-8", errors="strict", newline=""), str(path)
    spool = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")
    n = 0
    try:
        with source:
            for line in _read_lines(source, name, max_chars):
                spool.write(line + "\n")
                n += 1
    except UnicodeDecodeError:
        spool.close()
        raise UserError("input_not_utf8_after", path=name, line=n + 1) from None
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, n


def _not_utf8(path: Path) -> UserError:
    """Where a file stops being UTF-8, found by reading it again line by line (error path only)."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return UserError("input_not_utf8", path=str(path), line=number, byte=err.start + 1)
    return UserError("input_not_utf8_somewhere", path=str(path))


def _check_input(path: Path) -> bool:
    """Whether ``path`` is read once (standard input, a FIFO, a device) rather than twice."""
    if _is_stdin(path):
        return True
    if path.is_dir():
        raise UserError("input_is_folder", path=str(path))
    if path.is_file():
        return False
    if path.exists():  # a FIFO or a character device: readable once, as a stream
        return True
    raise UserError("input_missing", path=str(path))


def _check_output(path: Path, suffix: str, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse an output path that cannot be written before any work is done. The file is
    renamed into place, which would replace a device, a FIFO or a symbolic link (and what it
    points to would stay as it was): only a new path or a regular file is written."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise UserError("out_is_folder", path=str(path), example=str(path / suffix))
    if mode is not None and stat.S_ISLNK(mode):
        raise UserError("out_is_link", path=str(path))
    if mode is not None and not stat.S_ISREG(mode):
        raise UserError("out_not_regular", path=str(path))
    if not path.parent.is_dir():
        raise UserError("out_folder_missing", folder=str(path.parent))
    if any(path.resolve() == source.resolve() for source in inputs if not _is_stdin(source)):
        raise UserError("out_is_input", path=str(path))


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: set it back at once
    os.umask(mask)
    return mask


def _disk_full(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def _written_whole(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it becomes ``path`` only if the block finishes,
    so an error or Ctrl-C never leaves a half-written file that looks complete. The file gets
    the mode any new file gets (0666 less the umask), not the temporary file's 0600. A full
    disk is a UserError naming the output."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        try:
            os.fchmod(fd, 0o666 & ~_umask())
        finally:
            os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as err:
        if _disk_full(err):
            raise UserError("out_no_space", path=str(path)) from err
        raise
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _write_npy(f: IO[bytes], shape: tuple[int, ...], blocks: Iterator[np.ndarray]) -> None:
    """A float32 .npy of ``shape`` from row blocks, written in order without a memory map (a
    map on a full disk dies of SIGBUS). The space is reserved first, so a disk too small says
    so before the model runs."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False}
    np.lib.format.write_array_header_1_0(f, {**header, "shape": shape})
    start = f.tell()
    total = start + 4 * int(np.prod(shape))
    try:
        os.posix_fallocate(f.fileno(), 0, total)
    except OSError as err:
        if _disk_full(err):
            raise
        # a file system without fallocate: a full disk is then found by write()
    rows = 0
    for block in blocks:
        f.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        rows += len(block)
    if rows != shape[0] or f.tell() != total:
        raise RuntimeError(f"wrote {rows} rows of {shape[0]}")  # our bug, not the user's
    f.flush()
    os.fsync(f.fileno())  # a full disk that a delayed write would hit is found here


def _unknown_note(unknown: int, tokens: int, unk: str, lines: int | None = None) -> str:
    """What the summary says about tokens the model read as its unknown token."""
    if not unknown:
        return ""
    where = f" (in {_lines_count(lines)})" if lines is not None else ""
    note = f"{unknown} of {tokens} tokens{where} are {unk}"
    if unknown / max(tokens, 1) > MOSTLY_UNKNOWN:
        return note + (
            ": this model does not read this script; try a model whose vocabulary covers it"
        )
    return note + " (not in this model's vocabulary: it cannot tell them apart)"


def _lines_count(n: int, kind: str = "") -> str:
    return f"{n} {kind + ' ' if kind else ''}line{'' if n == 1 else 's'}"


def run_trace(args: argparse.Namespace) -> None:
    only = None
    if args.only is not None:
        only = [name.strip() for name in args.only.split(",") if name.strip()]
        kinds_of(only)  # a typo is reported before the model loads
    _check_output(args.out, "trace.npz")
    # torch and transformers only now: a mistake above is said in a fraction of a second
    from viz.capture import trace
    from viz.models import load_encoder
    from viz.tokens import MAX_CHARS, unknown_mask

    encoder = load_encoder(args.model, allow_pickle=args.allow_pickle)
    result = trace(encoder, args.text, args.pair, only=only)
    with _written_whole(args.out) as tmp, tmp.open("wb") as f:
        result.save_npz(f)  # a file object: numpy would add ".npz" to a name without it
        f.flush()
        os.fsync(f.fileno())
    note = (
        f", {result.dropped_tokens} tokens dropped beyond the maximum"
        if result.dropped_tokens
        else ""
    )
    if result.dropped_chars:
        note += f", {result.dropped_chars} characters beyond the first {MAX_CHARS} not read"
    unk = getattr(encoder.tokenizer, "unk_token", None) or ""
    unknown = int(unknown_mask(result.tokens, result.special, unk).sum())
    if unknown:
        note += ", " + _unknown_note(unknown, int((~result.special).sum()), unk)
    print(
        f"wrote {args.out}: {result.num_tokens} tokens x {result.facts.num_layers} layers{note}",
        file=sys.stderr,
    )


def run_extract(args: argparse.Namespace) -> None:
    from viz.corpus.cli import check_engine

    once = _check_input(args.input)
    name = "standard input" if _is_stdin(args.input) else str(args.input)
    _check_output(args.out, "emb.npy", (args.input,))
    check_engine(args)
    if args.batch_size < 1:
        raise UserError("cli_batch_size")
    if args.max_tokens is not None and args.max_tokens < 3:
        raise UserError("cli_max_tokens")
    # torch and transformers only now: a mistake above is said in a fraction of a second
    from tqdm import tqdm

    from viz.extract import (
        ExtractStats,
        max_chars,
        parse_layers,
        sentence_transformers_cut,
        stream_sentence_embeddings,
    )
    from viz.models import load_encoder
    from viz.tokens import MAX_CHARS

    # Before the model is known, lines are read up to the app's limit; once its token limit is
    # known, up to what that limit can read.
    first = max_chars(args.max_tokens) if args.max_tokens else MAX_CHARS
    spool: IO[str] | None = None
    if once:
        spool, n = _spooled(args.input, first)
    else:
        try:
            n = sum(1 for _ in _lines(args.input, first))  # and checks that it is text
        except UnicodeDecodeError:
            raise _not_utf8(args.input) from None
    with contextlib.ExitStack() as stack:
        if spool is not None:
            stack.enter_context(spool)
        if n == 0:
            raise UserError("input_empty", path=name)
        encoder = load_encoder(args.model, allow_pickle=args.allow_pickle)
        layers = parse_layers(args.layers, encoder.facts.num_layers)
        limit = min(args.max_tokens or encoder.facts.max_tokens, encoder.facts.max_tokens)
        st_cut = sentence_transformers_cut(encoder)
        D = encoder.facts.hidden_size
        shape = (n, len(layers) * D) if args.concat else (n, len(layers), D)
        stats = ExtractStats(longer_than=st_cut if st_cut is not None and st_cut < limit else None)
        chars = max_chars(limit)
        if spool is not None:
            lines = _read_lines(spool, name, chars)
        else:
            lines = _lines(args.input, chars)
        with (
            _written_whole(args.out) as tmp,
            tmp.open("wb") as f,
            tqdm(total=n, unit="sent", disable=args.quiet, file=sys.stderr) as bar,
        ):
            blocks = stream_sentence_embeddings(
                encoder,
                lines,
                layers,
                args.pooling,
                args.batch_size,
                chunk=max(args.batch_size * 16, 256),
                max_tokens=limit,
                stats=stats,
            )
            if args.engine == "ray":
                from viz.corpus.ray_engine import stream_pooled

                blocks = stream_pooled(
                    args.model, args.allow_pickle, lines, layers, args.pooling,
                    args.batch_size, limit, args.ray_address, args.actors, args.actor_gpus,
                    stats=stats,
                )  # fmt: skip

            def rows() -> Iterator[np.ndarray]:
                for block in blocks:
                    yield block.reshape(len(block), *shape[1:])
                    bar.update(len(block))

            _write_npy(f, shape, rows())
    notes = ""
    if stats.blank:
        notes += f"; {_lines_count(stats.blank, 'blank')} got the vector of an empty input"
    if stats.cut:
        notes += f"; {_lines_count(stats.cut)} longer than {limit} tokens, cut to {limit}"
    if stats.cut_chars:
        notes += (
            f"; {_lines_count(stats.cut_chars)} longer than {chars} characters, cut to "
            f"{chars} before tokenising"
        )
    if stats.longer:
        notes += (
            f"; {_lines_count(stats.longer)} longer than {st_cut} tokens, where "
            f"sentence-transformers cuts this model: their vectors differ from its "
            f"(--max-tokens {st_cut} reproduces them)"
        )
    unk = getattr(encoder.tokenizer, "unk_token", None) or ""
    if stats.unknown:
        notes += "; " + _unknown_note(stats.unknown, stats.tokens, unk, stats.unknown_texts)
    print(
        f"wrote {args.out}: float32 {list(shape)} (layers {', '.join(map(layer_name, layers))}; "
        f"{args.pooling} pooling){notes}",
        file=sys.stderr,
    )


def language() -> str:
    """The language of the messages: Chinese when the locale is (``LC_ALL``, ``LC_MESSAGES``,
    ``LANG``, the first one set, as the C library reads them), else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if value := os.environ.get(name):
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def say(key: str, **values: object) -> str:
    """The CLI string ``key`` of the UI's catalogues in the user's language (``language``)."""
    from viz.ui.i18n import tr_in

    return tr_in(language(), key, **values)


def _error_text(err: Exception) -> str:
    """A user error in the user's language, anything else as it is; its first line only."""
    from viz.ui.i18n import bind, error_text

    bind(language())
    text = error_text(err) if isinstance(err, UserError) else str(err)
    return text.splitlines()[0] if text else type(err).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        runners = {"trace": run_trace, "extract": run_extract}
        for module in _command_modules():
            runners.update(module.RUNNERS)
        runners[args.command](args)
    except (ValueError, OSError) as err:
        print(f"error: {_error_text(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
