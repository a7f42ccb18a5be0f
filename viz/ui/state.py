"""What a session remembers: the trace key, widgets declared by their pages, the address.

Streamlit forgets a widget's value when a run does not draw it (another page, an error), and a
radio with translated labels shows nothing selected after a language switch. A page declares
each widget that must survive a page switch, follow the model's range or be handed back after a
language switch with ``widget(...)`` beside the widget itself; the frame applies the
declarations of every page at the start and end of a run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import streamlit as st

from viz import names
from viz.trace import ModelFacts


@dataclass(frozen=True)
class TraceKey:
    """Which trace: the model, the text and the pair, and how the input was changed (a masked
    word, heads switched off). Cached functions take one and fetch their own trace, so a trace
    and a key can never disagree."""

    model: str
    text: str
    pair: str | None = None
    mask_word: int | None = None
    ablate: frozenset[tuple[int, int]] = field(default_factory=frozenset)

    def masked(self, word: int) -> TraceKey:
        return replace(self, mask_word=word)

    def ablated(self, heads: frozenset[tuple[int, int]]) -> TraceKey:
        return replace(self, ablate=heads)


# A clamp brings a kept value into the model's range: (value, facts) -> value
Clamp = Callable[[object, ModelFacts], object]


def layers_from(low: int) -> Clamp:
    """Layer numbers from ``low`` (0 = the embeddings) to the model's last layer."""
    return lambda value, f: max(low, min(int(value), f.num_layers))


def heads_in_range(value: object, f: ModelFacts) -> object:
    return max(1, min(int(value), f.num_heads))


def existing_heads(value: object, f: ModelFacts) -> object:
    """Head names ('L12H3') that this model has."""
    exists = set(names.head_names(f.num_layers, f.num_heads))
    return [h for h in value if h in exists]


@dataclass(frozen=True)
class Widget:
    key: str
    persist: bool  # survives runs that do not draw it
    clamp: Clamp | None  # brought into the model's range after a model switch
    translated: bool  # a choice shown with translated labels


_WIDGETS: dict[str, Widget] = {}


def widget(
    key: str, *, persist: bool = False, clamp: Clamp | None = None, translated: bool = False
) -> str:
    """Declare a widget's memory; returns ``key`` to pass as the widget's ``key=``. Declaring
    one key twice with different rules is an error (two pages would fight over it)."""
    new = Widget(key, persist, clamp, translated)
    old = _WIDGETS.setdefault(key, new)
    if old != new:
        raise ValueError(f"Widget {key!r} is declared twice with different rules.")
    return key


def declared() -> dict[str, Widget]:
    return dict(_WIDGETS)


def _kept(key: str) -> str:
    return f"_kept_{key}"


def restore_kept() -> None:
    """Give back the value of every persisted widget a run did not draw."""
    s = st.session_state
    for w in _WIDGETS.values():
        if w.persist and w.key not in s and _kept(w.key) in s:
            s[w.key] = s[_kept(w.key)]


def keep() -> None:
    s = st.session_state
    for w in _WIDGETS.values():
        if w.persist and w.key in s:
            s[_kept(w.key)] = s[w.key]


def fit_to_model(f: ModelFacts) -> None:
    """Bring every clamped value into this model's range: after a switch from a 12-layer model to
    a 6-layer one, a slider left at 12 would stop the page."""
    s = st.session_state
    for w in _WIDGETS.values():
        if w.clamp is None:
            continue
        for name in (w.key, _kept(w.key)):
            if name in s:
                s[name] = w.clamp(s[name], f)


def hand_back_translated() -> None:
    """After a language switch: hand every translated choice back to the browser, which keeps a
    radio's choice by its shown label and would otherwise show none selected."""
    s = st.session_state
    for w in _WIDGETS.values():
        if w.translated and w.key in s:
            s[w.key] = s[w.key]


# ---------------------------------------------------------------- the address
URL_TEXT_LIMIT = 2000  # longer texts are not put in the address


def from_address(
    languages: dict[str, str],
    pages: tuple[str, ...],
    default_text: str,
    model: Callable[[str], str],
) -> None:
    """First run of a session: take model, text, view, layer, head and language from the
    address; anything missing or unreadable keeps its default."""
    if st.session_state.get("_initialised"):
        return
    q = st.query_params
    st.session_state.update(
        lang=q.get("lang") if q.get("lang") in languages else "en",
        text=q.get("text", default_text),
        pair=q.get("pair", ""),
        model=model(q.get("model", "")),
        view=q.get("view") if q.get("view") in pages else pages[0],
        layer=_positive(q.get("layer"), 1),
        head=_positive(q.get("head"), 1),
        _initialised=True,
    )


def _positive(value: str | None, default: int) -> int:
    try:
        return max(1, int(value)) if value is not None else default
    except ValueError:
        return default


def to_address() -> None:
    """Write what the page shows into the address, so a copied link reopens it."""
    keep()
    s = st.session_state
    params = {
        "model": s.model,
        "view": s.view,
        "layer": str(s.layer),
        "head": str(s.head),
        "lang": s.lang,
    }
    if len(s.text) <= URL_TEXT_LIMIT:
        params["text"] = s.text
    if s.pair and len(s.pair) <= URL_TEXT_LIMIT:
        params["pair"] = s.pair
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)
