"""``python -m viz index`` and ``python -m viz neighbors``: build a corpus index, query it."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path

from viz.errors import UserError
from viz.names import layer_name

ENGINES = ("local", "ray")


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--engine``, ``--ray-address`` and ``--actors`` (shared with ``extract``)."""
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: this process; ray: Ray Data, one model per actor (default: local)",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="join this Ray cluster (e.g. ray://head:10001 or auto); without it --engine ray "
        "starts a local 2-CPU cluster",
    )
    p.add_argument(
        "--actors",
        type=int,
        default=2,
        metavar="N",
        help="Ray actors, one model each (default 2)",
    )
    p.add_argument(
        "--actor-gpus",
        type=float,
        default=0.0,
        metavar="G",
        help="GPUs per Ray actor (e.g. 1: each actor loads its model on its own GPU). Default 0",
    )


def add_parsers(sub, model_options) -> None:
    i = sub.add_parser(
        "index",
        help="index a corpus: every token's and line's vectors per layer, and a FAISS index",
        description="Build a corpus index in a folder: per layer, every token's vector and every "
        "line's mean-pooled vector, the token table (line, position, token, its word, offsets) "
        "and the labels, as Parquet, and a FAISS inner-product index of the words (pieces "
        "merged, unit vectors: cosine). An interrupted run resumes from its last whole shard; "
        "the folder is an index once manifest.json is written, at the end.",
    )
    i.add_argument(
        "--input",
        required=True,
        type=Path,
        help=".txt (one text per line), .csv, .jsonl or .parquet",
    )
    i.add_argument("--text-column", help="the column of texts in a table (default: text)")
    i.add_argument("--label-column", help="an optional column of labels")
    i.add_argument("--out", required=True, type=Path, help="the index folder (new or resumed)")
    model_options(i)
    i.add_argument(
        "--layers",
        default="all",
        help="'all', 'last4', or indices / names like emb,L3 (as extract). Default: all",
    )
    i.add_argument("--batch-size", type=int, default=32, help="lines per forward pass (32)")
    i.add_argument(
        "--max-tokens", type=int, metavar="N", help="cut each line to N tokens (default: max)"
    )
    add_engine_options(i)
    i.add_argument("--quiet", action="store_true", help="no progress bar")

    n = sub.add_parser(
        "neighbors",
        help="the corpus words nearest to a word of a text, at one layer",
        description="The K corpus words nearest to WORD as it occurs in TEXT (its pieces "
        "merged into their mean vector), best first, by cosine similarity at layer L.",
    )
    n.add_argument("dir", type=Path, metavar="DIR", help="an index folder (python -m viz index)")
    n.add_argument("--text", required=True, help="the sentence the word occurs in")
    n.add_argument(
        "--word",
        required=True,
        help="a word of the text, or several in a row (银行: two characters, each a word of an "
        "English vocabulary); case is ignored",
    )
    n.add_argument(
        "--occurrence", type=int, default=1, help="which occurrence of the word (default 1)"
    )
    n.add_argument("--layer", default="-1", help="a layer: index or name (emb, L3). Default: last")
    n.add_argument("--k", type=int, default=10, help="how many neighbours (default 10)")
    n.add_argument(
        "--json",
        action="store_true",
        help="a JSON list of {line, position, token, context, score}, and label when the "
        "index has labels (line counts from 0)",
    )
    model_options(n, default=None, default_help="the index's own model")
    n.description += " The model is the index's own unless --model names it."


def check_engine(args: argparse.Namespace) -> None:
    """--ray-address and --actors make sense only with --engine ray; a cluster must answer
    at --ray-address."""
    if args.engine == "local" and args.ray_address:
        raise UserError("ray_address_local")
    if args.actors < 1 or args.actor_gpus < 0:
        raise UserError("ray_actors")
    if args.engine == "ray" and args.ray_address:
        from viz.corpus.ray_engine import probe

        probe(args.ray_address)  # before the model loads: no cluster there is said in seconds


def run_index(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from viz.cli import _check_input
    from viz.corpus.index import build_index
    from viz.corpus.inputs import read_corpus
    from viz.extract import parse_layers
    from viz.models import load_encoder

    if args.batch_size < 1:
        raise UserError("cli_batch_size")
    if args.max_tokens is not None and args.max_tokens < 3:
        raise UserError("cli_max_tokens")
    check_engine(args)
    _check_input(args.input)
    if args.out.exists() and not args.out.is_dir():
        raise UserError("index_out_not_folder", path=str(args.out))
    corpus = read_corpus(args.input, args.text_column, args.label_column)
    encoder = load_encoder(args.model, allow_pickle=args.allow_pickle)
    layers = parse_layers(args.layers, encoder.facts.num_layers)
    engine = None
    if args.engine == "ray":
        from viz.corpus.ray_engine import RayEngine

        engine = RayEngine(
            args.model,
            args.allow_pickle,
            corpus.texts,
            layers,
            args.batch_size,
            args.max_tokens,
            args.ray_address,
            args.actors,
            args.actor_gpus,
            labels=corpus.labels,
            folder=args.out,
        )
    with tqdm(total=len(corpus.texts), unit="line", disable=args.quiet, file=sys.stderr) as bar:
        result = build_index(
            encoder,
            corpus.texts,
            corpus.labels,
            args.out,
            layers,
            args.batch_size,
            args.max_tokens,
            progress=bar.update,
            engine=engine,
        )
    notes = ""
    if result.resumed:
        notes = f"; {result.resumed} of {result.shards} shards kept from before"
    notes += _cuts_note(encoder, corpus, args.max_tokens, args.text_column or "text")
    print(
        f"wrote {args.out}: {result.lines} lines, {result.tokens} tokens, {result.words} words "
        f"x layers {', '.join(map(layer_name, layers))}{notes}",
        file=sys.stderr,
    )


def _cuts_note(encoder, corpus, max_tokens: int | None, column: str) -> str:
    """What the summary says of the lines the index did not read whole, as ``extract``'s
    does: counted, not said line by line."""
    from viz.cli import _lines_count
    from viz.corpus.index import _limit, count_cuts
    from viz.extract import max_chars

    limit = _limit(encoder, max_tokens)
    chars = max_chars(limit)
    cut, cut_chars = count_cuts(encoder, corpus.texts, max_tokens)
    notes = ""
    if corpus.not_text:
        rows = f"{corpus.not_text} row{'' if corpus.not_text == 1 else 's'}"
        notes += (
            f"; {rows} with no text in the column '{column}' (missing, null, or not a "
            "string), indexed as blank lines"
        )
    if cut:
        notes += f"; {_lines_count(cut)} longer than {limit} tokens, cut to {limit}"
    if cut_chars:
        notes += (
            f"; {_lines_count(cut_chars)} longer than {chars} characters, cut to {chars} "
            "before tokenising"
        )
    return notes


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal: a wide (CJK) character two, a combining one none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _cut(text: str, width: int, keep_end: bool) -> str:
    """``text`` in at most ``width`` columns: its end (``keep_end``, a left context) or its
    start, cut between words (at a space; between any two characters of a text without
    spaces, as Chinese), with … where it was cut."""
    if _width(text) <= width:
        return text
    chars = list(text[::-1] if keep_end else text)
    kept, used = [], 1  # the … takes a column
    for c in chars:
        used += _width(c)
        if used > width:
            break
        kept.append(c)
    piece = "".join(kept)
    nxt = chars[len(kept)]
    if " " in piece and not nxt.isspace():  # the cut fell inside a word: drop its part
        piece = piece[: piece.rindex(" ")]
    piece = piece.rstrip()
    return "…" + piece[::-1] if keep_end else piece + "…"


def _pad(text: str, width: int, right: bool = True) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def _kwic(rows, labels: bool, width: int = 40) -> str:
    """A keyword-in-context table: the word between its left and right context (cut between
    words, spaced as in the line), its line (counted from 0) and, with ``labels``, its
    label."""
    label_width = min(16, max([len("label")] + [_width(r.label) for r in rows]))
    head = ["score", _pad("line", 6)] + (["label".ljust(label_width)] if labels else [])
    out = ["  ".join([*head, "context"])]
    for r in rows:
        before, after = r.context[: r.start], r.context[r.end :]
        left = _cut(" ".join(before.split()), width, keep_end=True)
        right = _cut(" ".join(after.split()), width, keep_end=False)
        word = r.context[r.start : r.end] or r.token
        left += " " if before[-1:].isspace() else ""
        right = (" " if after[:1].isspace() else "") + right
        cells = [f"{r.score:5.3f}", f"{r.line:>6}"]
        if labels:
            cells.append(_pad(_cut(r.label, label_width, False), label_width, right=False))
        out.append("  ".join([*cells, f"{_pad(left, width + 1)}[{word}]{right}"]))
    out.append("(line: the corpus line's number, counted from 0)")
    return "\n".join(out)


def run_neighbors(args: argparse.Namespace) -> None:
    from viz.cli import say
    from viz.corpus.index import CorpusIndex
    from viz.corpus.neighbors import locate, search
    from viz.extract import parse_one_layer
    from viz.models import load_encoder

    if args.k < 1:
        raise UserError("neighbors_k")
    index = CorpusIndex(args.dir)
    encoder = load_encoder(args.model or index.identity["model"], allow_pickle=args.allow_pickle)
    index.check_model(encoder)
    layer = parse_one_layer(args.layer, encoder.facts.num_layers)
    index._check_layer(layer)
    word = locate(
        encoder, args.text, args.word, [layer], args.occurrence, index.manifest["max_tokens"]
    )
    if word.unknown:
        unk = getattr(encoder.tokenizer, "unk_token", None)
        print(
            say(
                "cli_word_unknown",
                word=word.text,
                unknown=word.unknown,
                pieces=word.pieces,
                unk=unk,
            ),
            file=sys.stderr,
        )
    found = search(index, layer, word.vectors[0], args.k)
    labels = bool(index.manifest.get("labels"))
    if args.json:
        json.dump([n.as_json(labels) for n in found], sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(_kwic(found, labels))


RUNNERS = {"index": run_index, "neighbors": run_neighbors}
