"""Contrast: one word in several sentences; how alike its vectors are, layer by layer (pairs
of the same sense against pairs of different senses), and its self-similarity against the
anisotropy baseline."""

from __future__ import annotations

import numpy as np
import streamlit as st

from viz.analysis import contrast as contrast_stats
from viz.figures import lines as lines_fig
from viz.names import layer_name
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import count_unknown, get_trace
from viz.ui.examples import CONTRAST_EXAMPLES
from viz.ui.i18n import language, tr
from viz.ui.state import TraceKey
from viz.ui.widgets import chart, plain

# This page reads its own sentences, not the sidebar's: the frame leaves the notices about the
# sidebar text (unknown tokens, cuts) to it, and it shows those of its own sentences.
OWN_NOTICES = True
MAX_SENTENCES = 20
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


def render(t: Trace, key: TraceKey) -> None:
    if SENTENCES not in st.session_state:
        sentences, word = example_text(language())
        st.session_state.update({SENTENCES: sentences, WORD: word})
    c1, c2 = st.columns([4, 1])
    c1.text_area(tr("contrast_sentences"), key=SENTENCES, height=120)
    word = c2.text_input(tr("contrast_word"), key=WORD)
    lines = tagged_lines(st.session_state[SENTENCES])[:MAX_SENTENCES]
    found, missing, tags = [], [], []
    for i, (sentence, tag) in enumerate(lines, start=1):
        tr_i = get_trace(TraceKey(key.model, sentence))
        pos = contrast_stats.find_word(
            tr_i.display_tokens, tr_i.word_ids, word, tr_i.text, tr_i.offsets
        )
        (found if pos else missing).append((i, tr_i, pos))
        if pos:
            tags.append((i, tag))
    if missing:
        st.warning(tr("contrast_missing", which=", ".join(f"#{i}" for i, *_ in missing)))
    unknown = count_unknown([x for _, x, _ in found + missing])
    if unknown[0]:
        st.info(tr("unknown_tokens", n=unknown[0], total=unknown[1], unk=plain(unknown[2])))
    if len(found) < 2:
        st.info(tr("contrast_need_two"))
        return
    vectors = np.stack([contrast_stats.word_vectors(x.hidden_states, pos) for _, x, pos in found])
    cosines = {
        (a, b): contrast_stats.cosine_by_layer(vectors[a], vectors[b])
        for a in range(len(found))
        for b in range(a + 1, len(found))
    }
    pairs_chart(tags, cosines)
    self_sim = contrast_stats.self_similarity(vectors)
    aniso = contrast_stats.anisotropy([x.hidden_states[:, ~x.special] for _, x, _ in found])
    st.caption(tr("contrast_help"))
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
