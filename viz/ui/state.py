"""What a session remembers: the trace key, widgets declared by their pages, the address.

Streamlit forgets a widget's value when a run does not draw it (another page, an error), and a
radio with translated labels shows nothing selected after a language switch. A page declares
each widget that must survive a page switch, follow the model's range or be handed back after a
language switch with ``widget(...)`` beside the widget itself; the frame applies the
declarations of every page at the start and end of a run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
class Codec:
    """How a widget's value is written into the page address and read back. ``decode`` raises
    ``ValueError`` for a value the widget cannot take (a forged or stale link): it is ignored."""

    encode: Callable[[object], str]
    decode: Callable[[str], object]


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(text)
    return text == "1"


def _number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 100_000:
        raise ValueError(text)
    return value


def _heads(text: str) -> list[str]:
    heads = [h for h in text.split(",") if h]
    if any(names.parse_head(h) is None for h in heads):
        raise ValueError(text)
    return heads


TEXT = Codec(str, str)
NUMBER = Codec(str, _number)
FLAG = Codec(lambda v: "1" if v else "0", _flag)
HEADS = Codec(",".join, _heads)  # switched-off heads: L3H4,L5H1


def choice(options: Iterable[object]) -> Codec:
    """One of ``options`` (compared as text)."""
    by_text = {str(o): o for o in options}

    def decode(text: str) -> object:
        if text not in by_text:
            raise ValueError(text)
        return by_text[text]

    return Codec(str, decode)


@dataclass(frozen=True)
class Widget:
    key: str
    persist: bool  # survives runs that do not draw it
    clamp: Clamp | None  # brought into the model's range after a model switch
    translated: bool  # a choice shown with translated labels
    link: Codec | None  # written into the page address (and then also persisted)


_WIDGETS: dict[str, Widget] = {}


def widget(
    key: str,
    *,
    persist: bool = False,
    clamp: Clamp | None = None,
    translated: bool = False,
    link: Codec | None = None,
) -> str:
    """Declare a widget's memory; returns ``key`` to pass as the widget's ``key=``. A widget
    with a ``link`` codec is in the page address, so a copied link reopens it as it was.
    Declaring one key twice is an error (two pages would fight over it)."""
    if key in _WIDGETS:
        raise ValueError(f"Widget {key!r} is declared twice.")
    _WIDGETS[key] = Widget(key, persist or link is not None, clamp, translated, link)
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
URL_TEXT_LIMIT = 2000  # a longer text is left out of the address (the page says so)


def from_address(defaults: dict[str, object]) -> None:
    """First run of a session: every linked widget from the address, where it is readable;
    ``defaults`` for the rest. A forged or stale value is ignored, never an error."""
    s = st.session_state
    if s.get("_initialised"):
        return
    s.update(defaults)
    q = st.query_params
    for w in _WIDGETS.values():
        if w.link is None or w.key not in q:
            continue
        try:
            s[w.key] = s[_kept(w.key)] = w.link.decode(q[w.key])
        except (ValueError, TypeError):
            pass
    s["_initialised"] = True


def address() -> tuple[dict[str, str], list[str]]:
    """The address of what the page shows now: (query parameters, keys left out because their
    text is longer than ``URL_TEXT_LIMIT``)."""
    s, params, too_long = st.session_state, {}, []
    for w in _WIDGETS.values():
        if w.link is None or w.key not in s or s[w.key] is None:
            continue
        value = w.link.encode(s[w.key])
        if len(value) > URL_TEXT_LIMIT:
            too_long.append(w.key)
        else:
            params[w.key] = value
    return params, too_long


def to_address() -> None:
    """Write what the page shows into the address, so a copied link reopens it."""
    keep()
    params, _ = address()
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)
