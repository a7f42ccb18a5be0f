"""Contrast: one word in several sentences; how alike its vectors are, layer by layer, and its
self-similarity against the anisotropy baseline."""

from __future__ import annotations

import numpy as np
import streamlit as st

from viz.analysis import contrast as contrast_stats
from viz.figures import lines as lines_fig
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import count_unknown, get_trace
from viz.ui.examples import CONTRAST_EXAMPLES
from viz.ui.i18n import language, tr
from viz.ui.state import TraceKey
from viz.ui.widgets import chart, plain

MAX_SENTENCES = 20
SENTENCES = state.widget("contrast_text", link=state.TEXT)
WORD = state.widget("contrast_word", link=state.TEXT)


def render(t: Trace, key: TraceKey) -> None:
    if SENTENCES not in st.session_state:
        sentences, word = CONTRAST_EXAMPLES[language()]
        st.session_state.update({SENTENCES: sentences, WORD: word})
    c1, c2 = st.columns([4, 1])
    c1.text_area(tr("contrast_sentences"), key=SENTENCES, height=120)
    word = c2.text_input(tr("contrast_word"), key=WORD)
    sentences = [line.strip() for line in st.session_state[SENTENCES].splitlines() if line.strip()][
        :MAX_SENTENCES
    ]
    found, missing = [], []
    for i, sentence in enumerate(sentences, start=1):
        tr_i = get_trace(TraceKey(key.model, sentence))
        pos = contrast_stats.find_word(
            tr_i.display_tokens, tr_i.word_ids, word, tr_i.text, tr_i.offsets
        )
        (found if pos else missing).append((i, tr_i, pos))
    if missing:
        st.warning(tr("contrast_missing", which=", ".join(f"#{i}" for i, *_ in missing)))
    unknown = count_unknown([x for _, x, _ in found + missing])
    if unknown[0]:
        st.info(tr("unknown_tokens", n=unknown[0], total=unknown[1], unk=plain(unknown[2])))
    if len(found) < 2:
        st.info(tr("contrast_need_two"))
        return
    st.caption(tr("contrast_pairs_help"))
    vectors = np.stack([contrast_stats.word_vectors(x.hidden_states, pos) for _, x, pos in found])
    pairs = {
        f"#{found[a][0]} vs #{found[b][0]}": contrast_stats.cosine_by_layer(vectors[a], vectors[b])
        for a in range(len(found))
        for b in range(a + 1, len(found))
    }
    chart(
        lines_fig.by_layer(dict(list(pairs.items())[:15]), tr("contrast_pairs"), tr("y_cosine")),
        key="contrast_pairs",
    )
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
