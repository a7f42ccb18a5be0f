"""The frame: page config, the sidebar's inputs, the trace, the page router and the address.

Everything a page shows lives in its module in ``viz/ui/pages/``; everything that computes
lives below ``viz/ui`` and never imports streamlit. ``streamlit run app.py`` and the console
script ``bert-layer-explorer`` both run this file.
"""

from __future__ import annotations

import os

# Before torch loads: idle OpenMP threads sleep instead of spinning. When sessions and the
# server share the cores, spinning made a 16-token forward ~50x slower (bench/RESULTS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st  # noqa: E402

from viz.memory import return_freed_memory  # noqa: E402
from viz.models import DEFAULT_MODEL, ModelLoadError  # noqa: E402
from viz.tokens import MAX_CHARS  # noqa: E402
from viz.ui import i18n, state  # noqa: E402
from viz.ui.cached import (  # noqa: E402
    allowed_model,
    allowed_models,
    count_unknown,
    get_encoder,
    get_trace,
)
from viz.ui.examples import EXAMPLES  # noqa: E402
from viz.ui.i18n import LANGUAGES, labeller, tr  # noqa: E402
from viz.ui.pages import PAGE_NAMES, load_pages  # noqa: E402
from viz.ui.state import TraceKey  # noqa: E402
from viz.ui.widgets import IMAGE_FORMAT, message, plain  # noqa: E402

PAGES = load_pages()
EXAMPLE = state.widget("example_pick", translated=True)
VIEW = state.widget("view", translated=True)


def use_example() -> None:
    choice = st.session_state.get(EXAMPLE)
    if choice in EXAMPLES:
        st.session_state.text = choice


def sidebar() -> None:
    """Language, text, pair, model, page and image format; every one lives in the address."""
    with st.sidebar:
        st.radio(
            tr("language"),
            list(LANGUAGES),
            key="lang",
            horizontal=True,
            format_func=LANGUAGES.get,
            on_change=state.hand_back_translated,
        )
        i18n.bind(st.session_state.lang)  # the new choice speaks from here on
        st.selectbox(
            tr("example"),
            [None, *EXAMPLES],
            key=EXAMPLE,
            format_func=labeller(lambda e: "example_none" if e is None else None),
            on_change=use_example,
        )
        st.text_area(tr("sentence"), key="text", height=110)
        st.text_input(tr("pair"), key="pair")
        if allowed := allowed_models():
            st.selectbox(tr("model"), allowed, key="model")
        else:
            st.text_input(tr("model"), key="model")
        st.radio(tr("view"), PAGE_NAMES, key=VIEW, format_func=labeller(lambda v: f"view_{v}"))
        st.radio(tr("image_format"), ("png", "svg"), key=IMAGE_FORMAT, horizontal=True)


def notices(t) -> None:
    """What the page must say about the input before any view: cuts and unknown tokens."""
    f = t.facts
    facts = dict(L=f.num_layers, H=f.num_heads, D=f.hidden_size, T=t.num_tokens)
    st.caption(tr("facts", name=plain(f.name), type=f.model_type, **facts))
    if t.dropped_chars:
        st.warning(tr("truncated_chars", read=MAX_CHARS, cut=t.dropped_chars))
    if t.dropped_tokens:
        st.warning(tr("truncated", max=f.max_tokens, n=t.dropped_tokens))
    unknown, real, unk = count_unknown([t])
    if unknown:
        st.info(tr("unknown_tokens", n=unknown, total=real, unk=plain(unk)))


def main() -> None:
    st.set_page_config(page_title="BERT layer explorer", page_icon="🔎", layout="wide")
    return_freed_memory()  # keeps resident memory near the cache bounds
    state.from_address(LANGUAGES, PAGE_NAMES, EXAMPLES[0], allowed_model)
    i18n.bind(st.session_state.lang)
    state.restore_kept()
    sidebar()
    s = st.session_state
    st.title(tr("title"))
    st.caption(tr("subtitle"))
    model_name = s.model.strip() or DEFAULT_MODEL
    if (allowed := allowed_models()) and model_name not in allowed:
        st.error(tr("not_allowed", models=plain(", ".join(allowed))))
        return
    if not s.text.strip():
        st.error(tr("empty_text"))
        return state.to_address()
    key = TraceKey(model_name, s.text, s.pair if s.pair.strip() else None)
    try:
        with st.spinner(tr("loading_model")):
            get_encoder(model_name)
        with st.spinner(tr("running")):
            t = get_trace(key)
    except ModelLoadError as err:
        st.error(tr("bad_model", msg=message(err)))
        return state.to_address()
    except ValueError as err:
        st.error(message(err))
        return state.to_address()
    state.fit_to_model(t.facts)
    notices(t)
    PAGES[s[VIEW]].render(t, key)
    state.to_address()


if __name__ == "__main__":  # streamlit runs a script as __main__
    main()
