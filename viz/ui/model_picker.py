"""The models on this machine, offered where a user needs one: a picker under the model field,
a switch when most of the text is [UNK], and the models with a masked-LM head."""

from __future__ import annotations

import re

import streamlit as st

from viz.local_models import LocalModel, find_local_models, readers, unknown_share
from viz.ui.cached import allowed_models
from viz.ui.i18n import language, tr, tr_in
from viz.ui.widgets import plain

PICK = "model_pick"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
CHINESE_PROBE = "我们在河边的银行门口见面，然后去银行存钱。"
MOSTLY_UNKNOWN = 0.5  # above this share of [UNK] tokens the page says so first


@st.cache_data(ttl=60, show_spinner=False)
def local_models() -> list[LocalModel]:
    """Rescanned at most once a minute: a model copied in shows up without a restart."""
    return find_local_models()


def switch_to(model_key: str, name: str) -> None:
    st.session_state[model_key] = name


def picker(model_key: str, text: str) -> None:
    """A box listing the local encoders, each marked with whether it reads ``text`` and has a
    masked-LM head; choosing one puts it in the model field."""
    models = {m.name: m for m in local_models()}
    lang = language()

    def label(name: str) -> str:
        m = models[name]
        share = unknown_share(m, text) if text.strip() else 0.0
        reads = tr_in(lang, "reads_text") if share <= 0.05 else tr_in(lang, "unk_share", p=share)
        mlm = " · MLM" if m.has_mlm_head else ""
        return f"{name} ({m.model_type}{mlm}) · {reads}"

    def chosen() -> None:
        if (name := st.session_state.get(PICK)) is not None:
            switch_to(model_key, name)
        st.session_state[PICK] = None

    st.selectbox(
        tr("models_here", n=len(models)),
        list(models),
        index=None,
        key=PICK,
        placeholder=tr("models_here_pick"),
        format_func=label,
        on_change=chosen,
    )
    st.caption(tr("models_offline_help"))


def model_field(model_key: str, text: str) -> None:
    """The sidebar's model field: with an allow-list, a box of just those models (nothing else
    loads, so the label does not invite ids or folders); else a name to type, and the picker."""
    if allowed := allowed_models():
        st.selectbox(tr("model_allowed"), allowed, key=model_key)
    else:
        st.text_input(tr("model"), key=model_key)
        picker(model_key, text)


def reads_chinese() -> bool:
    """Whether a model on this machine reads Chinese (not as [UNK])."""
    return bool(readers(local_models(), CHINESE_PROBE))


def example_label(example: str) -> str:
    """An example as the box shows it: a Chinese one says it needs a Chinese model when this
    machine has none."""
    if CJK.search(example) and not reads_chinese():
        return f"{example} {tr('example_needs_chinese')}"
    return example


def how_to_add(missing: str) -> str:
    """What is missing, and where to read how to add a model: the sidebar says it under the
    picker (with an allow-list a visitor cannot add one, so only what is missing)."""
    return tr(missing) if allowed_models() else f"{tr(missing)} {tr('models_see_sidebar')}"


def mostly_unknown(model_key: str, current: str, text: str, unknown: int, real: int) -> bool:
    """Say prominently, first, when most of the text is [UNK], and offer a local model that
    reads it (one click). Returns whether it said so."""
    if not real or unknown / real <= MOSTLY_UNKNOWN:
        return False
    better = [m for m in readers(local_models(), text) if m.name != current]
    st.warning(tr("mostly_unknown", n=unknown, total=real, model=plain(current)))
    if better:
        st.button(
            tr("switch_to", model=better[0].name),
            key="switch_reader",
            on_click=switch_to,
            args=(model_key, better[0].name),
        )
    else:
        st.caption(how_to_add("no_local_reader"))
    return True


def mlm_models(current: str) -> list[LocalModel]:
    """Local models with a masked-LM head, other than ``current``."""
    return [m for m in local_models() if m.has_mlm_head and m.name != current]


def offer_mlm_models(model_key: str, current: str) -> None:
    """For a page that needs a masked-LM head the current model lacks: a button per local model
    that has one, or how to get one."""
    found = mlm_models(current)
    if not found:
        st.caption(how_to_add("no_local_mlm"))
        return
    st.caption(tr("local_mlm"))
    for m in found[:5]:
        st.button(
            tr("switch_to", model=m.name),
            key=f"switch_mlm_{m.name}",
            on_click=switch_to,
            args=(model_key, m.name),
        )
