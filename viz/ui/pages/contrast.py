"""Contrast: one word in several sentences; how alike its vectors are, layer by layer (pairs
of the same sense against pairs of different senses), and its self-similarity against the
anisotropy baseline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from viz import capture
from viz.analysis import contrast as contrast_stats
from viz.errors import UserError
from viz.figures import lines as lines_fig
from viz.names import layer_name
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_encoder, unknown_tokens
from viz.ui.examples import CONTRAST_EXAMPLES
from viz.ui.i18n import language, tr
from viz.ui.state import TraceKey
from viz.ui.widgets import chart, message, plain

# This page reads its own sentences, not the sidebar's: the frame leaves the notices about the
# sidebar text (unknown tokens, cuts) to it, and it shows those of its own sentences.
OWN_NOTICES = True
# At most this many sentences, each cut at the model's maximum (512 tokens for most): the worst
# input is 20 forward passes of 512 tokens, and what the page keeps of them is small (Reading).
MAX_SENTENCES = 20
# Tokens per sentence kept for the anisotropy baseline: 32 x 7 layers x 384 floats is 0.3 MB
# (1.3 MB for bert-base); a sentence's 512-token trace would be 120 MB (bert-base: 1.1 GB).
BASELINE_TOKENS = 32
# Sentences (of every session) whose Reading stays cached: 90 MB for the bundled model, 330 MB
# for bert-base.
READINGS_KEPT = 256
SENTENCES = state.widget("contrast_text", link=state.TEXT)  # the sense tags travel with them
WORD = state.widget("contrast_word", link=state.TEXT)
SENSE_MARK = "|"
CLEAR_GAP = 0.01  # a smaller gap between the two means is not read as the senses parting
# The sense of each line of the examples, in their order.
EXAMPLE_SENSES = {
    "en": ("river", "money", "river", "money"),
    "zh": ("花费", "花费", "花朵", "花朵"),
}


def tagged_lines(text: str) -> list[tuple[str, str | None]]:
    """Each non-empty line as (sentence, sense tag or None): the tag is what follows the last
    ``|`` of the line ('We sat on the bank. | river')."""
    out = []
    for line in text.splitlines():
        sentence, tag = line, None
        if SENSE_MARK in line:
            sentence, _, tag = line.rpartition(SENSE_MARK)
            tag = tag.strip() or None
        if sentence.strip():
            out.append((sentence.strip(), tag))
    return out


def example_text(lang: str) -> tuple[str, str]:
    """The language's example sentences, each with its sense tag, and the shared word."""
    sentences, word = CONTRAST_EXAMPLES[lang]
    lines = sentences.splitlines()
    senses = EXAMPLE_SENSES.get(lang, ())
    if len(senses) == len(lines):
        lines = [f"{line} {SENSE_MARK} {sense}" for line, sense in zip(lines, senses)]
    return "\n".join(lines), word


def pair_groups(
    found: list[tuple[int, str | None]], cosines: dict[tuple[int, int], np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """Pairs by kind: 'same' (the two sentences carry the same tag), 'different', 'untagged'
    (one of them has no tag). ``found``: (line number, tag) per sentence; ``cosines``: the
    word's cosine per layer for each pair of indexes into ``found``."""
    groups: dict[str, dict[str, np.ndarray]] = {"same": {}, "different": {}, "untagged": {}}
    for (a, b), values in cosines.items():
        (na, ta), (nb, tb) = found[a], found[b]
        if ta is None or tb is None:
            kind = "untagged"
        else:
            kind = "same" if ta.casefold() == tb.casefold() else "different"
        name = f"#{na} vs #{nb}" if kind == "untagged" else f"#{na} ({ta}) vs #{nb} ({tb})"
        groups[kind][name] = values
    return groups


@dataclass(frozen=True)
class Reading:
    """What this page keeps of one sentence: the shared word's vectors and a small sample of
    token vectors for the baseline, not the sentence's trace."""

    vectors: np.ndarray | None  # [L+1, D]: the word's vector per layer; None: word not found
    sample: np.ndarray  # [L+1, k <= BASELINE_TOKENS, D]: tokens other than [CLS]/[SEP]
    unknown: int  # tokens the model read as its unknown token
    real: int  # tokens other than the special ones
    unk: str  # the unknown token
    dropped_tokens: int  # cut at the model's maximum
    dropped_chars: int  # cut at viz.tokens.MAX_CHARS
    error: tuple[str, dict] | None = None  # a UserError's code and parameters: unreadable


@st.cache_data(max_entries=READINGS_KEPT, show_spinner=False)
def read_sentence(model_name: str, sentence: str, word: str) -> Reading:
    """One forward pass capturing the hidden states only; cached per model, sentence and word
    (a rerun costs a copy of a few hundred kB per sentence, not a forward pass)."""
    encoder = get_encoder(model_name)
    empty = np.zeros((encoder.facts.num_layers + 1, 0, encoder.facts.hidden_size), np.float32)
    try:
        t = capture.trace(encoder, sentence, only=["hidden_states"])
    except UserError as err:
        return Reading(None, empty, 0, 0, "", 0, 0, (err.code, err.params))
    pos = contrast_stats.find_word(t.display_tokens, t.word_ids, word, t.text, t.offsets)
    unknown, unk = unknown_tokens(t)
    return Reading(
        vectors=contrast_stats.word_vectors(t.hidden_states, pos) if pos else None,
        sample=contrast_stats.token_sample(t.hidden_states[:, ~t.special], BASELINE_TOKENS),
        unknown=int(unknown.sum()),
        real=int((~t.special).sum()),
        unk=unk,
        dropped_tokens=t.dropped_tokens,
        dropped_chars=t.dropped_chars,
    )


@st.cache_data(max_entries=32, show_spinner=False)
def word_statistics(
    model_name: str, sentences: tuple[str, ...], word: str
) -> tuple[dict[tuple[int, int], np.ndarray], np.ndarray, np.ndarray]:
    """For the sentences where the word is found (at least two): the word's cosine per layer
    for every pair of them (by index among them), its self-similarity and the anisotropy
    baseline, each [L+1]. Cached: a rerun draws the charts without recomputing them."""
    readings = [read_sentence(model_name, sentence, word) for sentence in sentences]
    found = [r for r in readings if r.vectors is not None]
    vectors = np.stack([r.vectors for r in found])  # [N, L+1, D]
    cosines = {
        (a, b): contrast_stats.cosine_by_layer(vectors[a], vectors[b])
        for a in range(len(found))
        for b in range(a + 1, len(found))
    }
    baseline = contrast_stats.anisotropy([r.sample for r in found])
    return cosines, contrast_stats.self_similarity(vectors), baseline


def numbers(lines: list[int]) -> str:
    return ", ".join(f"#{i}" for i in lines)


def notices(readings: list[Reading], left_out: int, max_tokens: int) -> None:
    """What the page says about its sentences before the charts: lines left out, sentences cut
    or unreadable, the word missing, tokens the model does not know."""
    if left_out:
        st.warning(tr("contrast_too_many", limit=MAX_SENTENCES, n=left_out))
    cut = [i for i, r in enumerate(readings, 1) if r.dropped_tokens or r.dropped_chars]
    if cut:
        st.warning(tr("contrast_cut", which=numbers(cut), max=max_tokens))
    for i, r in enumerate(readings, 1):
        if r.error:
            st.warning(f"#{i}: {message(UserError(r.error[0], **r.error[1]))}")
    missing = [i for i, r in enumerate(readings, 1) if r.vectors is None and not r.error]
    if missing:
        st.warning(tr("contrast_missing", which=numbers(missing)))
    unknown, real = sum(r.unknown for r in readings), sum(r.real for r in readings)
    if unknown:
        unk = next(r.unk for r in readings if r.unknown)
        st.info(tr("unknown_tokens", n=unknown, total=real, unk=plain(unk)))


def render(t: Trace, key: TraceKey) -> None:
    if SENTENCES not in st.session_state:
        sentences, word = example_text(language())
        st.session_state.update({SENTENCES: sentences, WORD: word})
    c1, c2 = st.columns([4, 1])
    c1.text_area(tr("contrast_sentences"), key=SENTENCES, height=120)
    word = c2.text_input(tr("contrast_word"), key=WORD)
    every = tagged_lines(st.session_state[SENTENCES])
    lines = every[:MAX_SENTENCES]
    with st.spinner(tr("contrast_running", n=len(lines))):
        readings = [read_sentence(key.model, sentence, word) for sentence, _ in lines]
    notices(readings, len(every) - len(lines), t.facts.max_tokens)
    found = [i for i, r in enumerate(readings) if r.vectors is not None]
    if len(found) < 2:
        st.info(tr("contrast_need_two"))
        return
    tags = [(i + 1, lines[i][1]) for i in found]
    cosines, self_sim, aniso = word_statistics(key.model, tuple(s for s, _ in lines), word)
    pairs_chart(tags, cosines)
    st.caption(tr("contrast_help", tokens=BASELINE_TOKENS))
    chart(
        lines_fig.by_layer(
            {
                tr("self_similarity"): self_sim,
                tr("anisotropy"): aniso,
                tr("adjusted"): self_sim - aniso,
            },
            tr("contrast_self"),
            tr("y_cosine"),
        ),
        key="contrast_self",
    )


def pairs_chart(
    tags: list[tuple[int, str | None]], cosines: dict[tuple[int, int], np.ndarray]
) -> None:
    """The word's cosine for every pair of sentences: same-sense and different-sense pairs in
    two colours with their means when the sentences carry sense tags, else one line a pair."""
    groups = pair_groups(tags, cosines)
    if not groups["same"] and not groups["different"]:
        lines = dict(list(groups["untagged"].items())[:15])
        chart(lines_fig.by_layer(lines, tr("contrast_pairs"), tr("y_cosine")), key="contrast_pairs")
        st.caption(tr("contrast_pairs_untagged_help", mark=SENSE_MARK))
        return
    names = {
        "same": tr("contrast_same", n=len(groups["same"])),
        "different": tr("contrast_different", n=len(groups["different"])),
        "untagged": tr("contrast_untagged", n=len(groups["untagged"])),
    }
    chart(
        lines_fig.grouped_by_layer(groups, names, tr("contrast_pairs"), tr("y_cosine")),
        key="contrast_pairs",
    )
    st.caption(tr("contrast_pairs_help"))
    if groups["same"] and groups["different"]:
        gap = np.mean(list(groups["same"].values()), axis=0) - np.mean(
            list(groups["different"].values()), axis=0
        )
        i = int(np.argmax(gap))
        if gap[i] < CLEAR_GAP:
            st.caption(tr("contrast_no_gap", layer=layer_name(i), gap=gap[i]))
        elif i == len(gap) - 1:
            st.caption(tr("contrast_gap_last", layer=layer_name(i), gap=gap[i]))
        else:
            st.caption(tr("contrast_gap", layer=layer_name(i), gap=gap[i], last=gap[-1]))
    else:
        st.caption(tr("contrast_one_kind"))
