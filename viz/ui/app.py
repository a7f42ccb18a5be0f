"""The frame: page config, the sidebar's inputs, the trace, the page router and the address.

Everything a page shows lives in its module in ``viz/ui/pages/``; everything that computes
lives below ``viz/ui`` and never imports streamlit. ``streamlit run app.py`` and the console
script ``bert-layer-explorer`` both run this file.
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

# Before torch loads: idle OpenMP threads sleep instead of spinning. When sessions and the
# server share the cores, spinning made a 16-token forward ~50x slower (bench/RESULTS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st  # noqa: E402

from viz.memory import return_freed_memory  # noqa: E402
from viz.models import DEFAULT_MODEL, ModelLoadError  # noqa: E402
from viz.tokens import MAX_CHARS  # noqa: E402
from viz.ui import i18n, model_picker, state  # noqa: E402
from viz.ui.cached import (  # noqa: E402
    allowed_model,
    allowed_models,
    count_unknown,
    get_encoder,
    get_trace,
)
from viz.ui.examples import EXAMPLES, FIRST_EXAMPLE, first_example  # noqa: E402
from viz.ui.i18n import LANGUAGES, labeller, tr  # noqa: E402
from viz.ui.pages import PAGE_NAMES, load_pages  # noqa: E402
from viz.ui.state import TraceKey  # noqa: E402
from viz.ui.widgets import IMAGE_FORMAT, IMAGE_FORMATS, message, plain  # noqa: E402

PAGES = load_pages()
LANG = state.widget("lang", link=state.choice(LANGUAGES))
TEXT = state.widget("text", link=state.TEXT)
PAIR = state.widget("pair", link=state.TEXT)
MODEL = state.widget("model", link=state.Codec(str, allowed_model))
VIEW = state.widget("view", translated=True, link=state.choice(PAGE_NAMES))
EXAMPLE = state.widget("example_pick")
# Streamlit's own "Press Ctrl+Enter to apply" is English only: ours is translated, beside Run.
# Streamlit's own "Ctrl+Enter to apply" hint (ours is translated); and a stale element dims
# at once after its delay instead of fading: a fade repaints the whole page every frame while
# a run waits its turn, which with several sessions on a small machine is most of the time
HIDE_INPUT_HINT = (
    "<style>[data-testid='InputInstructions'] {display: none}"
    " [data-stale='true'] {transition: opacity 0s linear 1s !important}</style>"
)


def use_example() -> None:
    choice = st.session_state.get(EXAMPLE)
    if choice in EXAMPLES:
        st.session_state[TEXT] = choice
    st.session_state[EXAMPLE] = None  # the box offers the examples again, not the last one


def switch_language() -> None:
    """A new language: translated choices handed back, and the sentence, while it is still
    one language's first example, the new language's."""
    state.hand_back_translated()
    s = st.session_state
    if s.get(TEXT) in FIRST_EXAMPLE.values():
        s[TEXT] = first_example(s[LANG])


def share_link() -> None:
    """The address of this page, to copy (the code box's copy button), and what it leaves out."""
    params, too_long = state.address()
    base = (st.context.url or "").split("?")[0]
    with st.expander(tr("share_link"), icon=":material/link:"):
        st.code(f"{base}?{urlencode(params)}", language=None, wrap_lines=True)
        st.caption(tr("share_link_help"))
        if too_long:
            st.warning(tr("share_too_long_here", limit=state.URL_TEXT_LIMIT))


def sidebar():
    """Language, text, pair, model, page and image format; every one lives in the address."""
    with st.sidebar:
        st.html(HIDE_INPUT_HINT)
        st.radio(
            tr("language"),
            list(LANGUAGES),
            key=LANG,
            horizontal=True,
            format_func=LANGUAGES.get,
            on_change=switch_language,
        )
        i18n.bind(st.session_state[LANG])  # the new choice speaks from here on
        st.selectbox(
            tr("example"),
            EXAMPLES,
            index=None,
            key=EXAMPLE,
            placeholder=tr("example_none"),
            format_func=model_picker.example_label,
            on_change=use_example,
        )
        st.text_area(tr("sentence"), key=TEXT, height=110)
        st.text_input(tr("pair"), key=PAIR)
        model_picker.model_field(MODEL, st.session_state[TEXT])
        st.button(tr("run"), type="primary", key="run")  # a click commits the boxes and runs
        st.caption(tr("run_hint"))
        st.radio(tr("view"), PAGE_NAMES, key=VIEW, format_func=labeller(lambda v: f"view_{v}"))
        st.radio(tr("image_format"), IMAGE_FORMATS, key=IMAGE_FORMAT, horizontal=True)
        return st.container()  # the share link, written once the page has run


def notices(t) -> None:
    """What the page must say about the input before any view: cuts and unknown tokens."""
    f = t.facts
    unknown, real, unk = count_unknown([t])
    mostly = model_picker.mostly_unknown(MODEL, f.name, t.text, unknown, real)
    facts = dict(L=f.num_layers, H=f.num_heads, D=f.hidden_size, T=t.num_tokens)
    st.caption(tr("facts", name=plain(f.name), type=f.model_type, **facts))
    if t.dropped_chars:
        st.warning(tr("truncated_chars", read=MAX_CHARS, cut=t.dropped_chars))
    if t.dropped_tokens:
        st.warning(tr("truncated", max=f.max_tokens, n=t.dropped_tokens))
    own = getattr(PAGES[st.session_state[VIEW]], "OWN_NOTICES", False)  # it counts its own texts
    if unknown and not mostly and not own:
        st.info(tr("unknown_tokens", n=unknown, total=real, unk=plain(unk)))


def bind_language() -> None:
    """The session's language for this run: a page's own rerun (a fragment) starts in a fresh
    context, without the frame's run that binds it."""
    i18n.bind(st.session_state[LANG])


def finish(link_box) -> None:
    """After the page: the address, and the share link (in the sidebar) that copies it."""
    state.to_address()
    with link_box:
        share_link()


def page_input():
    """The trace the page shows, or None once the page has said why there is none."""
    s = st.session_state
    model_name = s.model.strip() or DEFAULT_MODEL
    if (allowed := allowed_models()) and model_name not in allowed:
        st.error(tr("not_allowed", models=plain(", ".join(allowed))))
        return None
    if not s.text.strip():
        st.error(tr("empty_text"))
        return None
    key = TraceKey(model_name, s.text, s.pair if s.pair.strip() else None)
    try:
        with st.spinner(tr("loading_model")):
            get_encoder(model_name)
        with st.spinner(tr("running")):
            t = get_trace(key)
    except ModelLoadError as err:
        st.error(tr("bad_model", msg=message(err)))
        return None
    except ValueError as err:
        st.error(message(err))
        return None
    state.fit_to_model(t.facts)
    return t, key


def main() -> None:
    st.set_page_config(page_title="BERT layer explorer", page_icon="🔎", layout="wide")
    return_freed_memory()  # keeps resident memory near the cache bounds
    # a link in 中文 without a sentence opens on the Chinese example
    lang = st.query_params.get(LANG, "en")
    state.from_address(
        {
            LANG: "en",
            TEXT: first_example(lang),
            PAIR: "",
            MODEL: allowed_model(""),
            VIEW: PAGE_NAMES[0],
        }
    )
    i18n.bind(st.session_state[LANG])
    state.restore_kept()
    link_box = sidebar()
    st.title(tr("title"))
    st.caption(tr("subtitle"))
    if (found := page_input()) is None:
        return finish(link_box)
    t, key = found
    notices(t)
    page = PAGES[st.session_state[VIEW]]
    if getattr(page, "FRAGMENT", False):
        # A change of the page's own widgets reruns only the page (and the link it writes
        # into the sidebar's box): the rest of the frame is neither rebuilt nor resent.
        st.fragment(lambda: (bind_language(), page.render(t, key), finish(link_box)))()
    else:
        page.render(t, key)
        finish(link_box)


if __name__ == "__main__":  # streamlit runs a script as __main__
    main()
