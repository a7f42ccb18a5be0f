"""The corpus: an index folder or a demo built from the bundled samples; its map of lines at a
layer, the corpus neighbours of a word of the sidebar sentence, and what FFN neurons fire on."""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st

from viz.analysis.mlm import is_punctuation
from viz.corpus import maps, neurons
from viz.corpus.index import MANIFEST, CorpusIndex, build_index
from viz.corpus.inputs import read_corpus
from viz.corpus.neighbors import search, words_of
from viz.errors import UserError
from viz.figures import corpus as corpus_fig
from viz.figures.lines import colour
from viz.names import layer_name
from viz.tokens import word_groups, word_texts
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_encoder
from viz.ui.i18n import labeller, language, tr, tr_in
from viz.ui.state import TraceKey
from viz.ui.widgets import chart, message, plain, table, word_choices, word_to_mask

FRAGMENT = True
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
# news topics, reviews, and lines that use "bank" and 生 in two senses each (about 20 lines a
# sense: enough for a word's neighbours at a layer to be all of one sense, or not)
DEMO_FILES = ("topic.csv", "sentiment.csv", "senses.csv")
# the demo's labels, each with its name in the catalogues (a user's labels are data: shown as
# they are)
DEMO_LABELS = {
    "sports": "sports",
    "business": "business",
    "politics": "politics",
    "science": "science",
    "positive": "positive",
    "negative": "negative",
    "bank: river": "bank_river",
    "bank: money": "bank_money",
    "生: student": "sheng_student",
    "生: life": "sheng_life",
}
SOURCES = ("demo", "folder")
METHODS = ("PCA", "t-SNE", "UMAP")
MAP_LINES = 5000  # the map draws at most this many lines (the first ones)
NEURON_LINES = 2000  # neurons are found over at most this many lines
KWIC_CHARS = 50
KNOWN_COLUMNS = ("label", "line", "tokens")  # colour choices with a translated name
SOURCE = state.widget("corpus_source", translated=True, link=state.choice(SOURCES))
FOLDER = state.widget("corpus_folder", persist=True)
LAYER = state.widget("corpus_layer", persist=True, clamp=state.layers_from(0))
METHOD = state.widget("corpus_method", link=state.choice(METHODS))
COLOUR = state.widget("corpus_colour", persist=True)  # a column of the index's lines
WORD = state.widget("corpus_word", link=state.NUMBER)  # brought into the sentence's words
WORD_OF = "_corpus_word_sentence"  # the sentence WORD was chosen in: a word of another is stale
K = state.widget("corpus_k", persist=True)
NEURON_LAYER = state.widget("corpus_neuron_layer", persist=True, clamp=state.layers_from(1))
NEURON = state.widget("corpus_neuron", persist=True)


def demo_folder(model: str) -> Path:
    """Where the demo index of ``model`` lives: shared by every session of this machine."""
    root = Path(os.environ.get("VIZ_CORPUS_DIR", Path(tempfile.gettempdir()) / "viz-corpus"))
    return root / hashlib.sha1(model.encode("utf-8")).hexdigest()[:16]


@st.cache_resource(show_spinner=False)
def build_lock() -> threading.Lock:
    return threading.Lock()  # one demo build at a time: two sessions must not write one folder


def index_stamp(folder: str) -> float:
    try:
        return (Path(folder) / MANIFEST).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(max_entries=4, show_spinner=False)
def open_index(folder: str, stamp: float) -> CorpusIndex:
    return CorpusIndex(Path(folder))


@st.cache_data(max_entries=4, show_spinner=False)
def shared_pca(folder: str, stamp: float) -> maps.SharedPCA:
    index = open_index(folder, stamp)
    return maps.shared_pca(np.stack([index.line_vectors(k)[:MAP_LINES] for k in index.layers]))


@st.cache_data(max_entries=16, show_spinner=False)
def fitted_coords(folder: str, stamp: float, layer: int, method: str) -> np.ndarray:
    index = open_index(folder, stamp)
    start = shared_pca(folder, stamp).coords[index.layers.index(layer)]
    fit = maps.umap_layer if method == "UMAP" else maps.tsne_layer
    return fit(index.line_vectors(layer)[:MAP_LINES], start)


@st.cache_data(max_entries=32, show_spinner=False)
def nearest(folder: str, stamp: float, model: str, text: str, word: int, k: int):
    """Word ``word`` of ``text`` (its characters) and, per indexed layer, its ``k`` nearest
    corpus words."""
    index = open_index(folder, stamp)
    encoder = get_encoder(model)
    words, _, vectors = words_of(encoder, text, index.layers, index.manifest["max_tokens"])
    found = {ly: search(index, ly, vectors[i, word], k) for i, ly in enumerate(index.layers)}
    return words[word], found


def same_word_counts(word: str, found: dict) -> dict[str, list[int]]:
    """Per label of their lines, and per layer (in ``found``'s order), how many of the
    neighbours are ``word`` (case folded); the labels most counted first."""
    wanted = word.casefold()
    counts: dict[str, list[int]] = {}
    for k, hits in enumerate(found.values()):
        for n in hits:
            if n.token.casefold() == wanted:
                counts.setdefault(n.label or "", [0] * len(found))[k] += 1
    return dict(sorted(counts.items(), key=lambda item: (-sum(item[1]), item[0])))


@st.cache_data(max_entries=4, show_spinner=False)
def line_columns(folder: str, stamp: float) -> dict[str, list[str] | np.ndarray]:
    """What a map point can be coloured by: every column of the index's lines but the text
    (labels as text, numbers as numbers; no labels in an index built without them: every
    line's label is blank), and each line's count of tokens."""
    index = open_index(folder, stamp)
    lines = index.table("lines")
    out: dict[str, list[str] | np.ndarray] = {}
    for name in lines.column_names:
        if name == "text" or (name == "label" and not index.manifest.get("labels")):
            continue
        column = lines.column(name)
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            out[name] = column.to_numpy()
        else:
            out[name] = [str(v) if v is not None else "" for v in column.to_pylist()]
    line_of_token = index.table("tokens").column("line").to_numpy()
    out["tokens"] = np.bincount(line_of_token, minlength=len(lines)).astype(np.int64)
    return out


ACTIVATIONS_KEPT = 2  # layers' activations kept for every session (30 MB each at most)


@st.cache_resource(show_spinner=False)
def activation_store() -> tuple[threading.Lock, OrderedDict]:
    return threading.Lock(), OrderedDict()


def activations(folder: str, stamp: float, model: str, layer: int, progress=None):
    """A layer's FFN activations over the corpus (float16), shared by every session; computed
    here (with this session's progress bar) the first time."""
    lock, store = activation_store()
    key = (folder, stamp, model, layer)
    with lock:
        if key in store:
            store.move_to_end(key)
            return store[key]
    index = open_index(folder, stamp)
    value = neurons.layer_activations(
        get_encoder(model), index, layer, NEURON_LINES, progress=progress
    )
    with lock:
        store[key] = value
        while len(store) > ACTIVATIONS_KEPT:
            store.popitem(last=False)
    return value


def has_activations(folder: str, stamp: float, model: str, layer: int) -> bool:
    lock, store = activation_store()
    with lock:
        return (folder, stamp, model, layer) in store


def demo_label(label: str) -> str:
    """One of the demo's labels in the bound language; any other label as it is."""
    key = DEMO_LABELS.get(label)
    return tr(f"corpus_label_{key}") if key else label


@functools.cache
def demo_texts() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The demo's lines and labels, from the bundled samples."""
    texts, labels = [], []
    for name in DEMO_FILES:
        corpus = read_corpus(SAMPLES / name, label_column="label")
        texts += corpus.texts
        labels += corpus.labels or []
    return tuple(texts), tuple(labels)


def _build_demo(model: str, folder: Path) -> None:
    texts, labels = map(list, demo_texts())
    encoder = get_encoder(model)
    bar = st.progress(0.0, text=tr("corpus_building", n=len(texts)))
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        bar.progress(min(1.0, done[0] / len(texts)), text=tr("corpus_building", n=len(texts)))

    with build_lock():
        folder.parent.mkdir(parents=True, exist_ok=True)
        layers = list(range(encoder.facts.num_layers + 1))
        build_index(encoder, texts, labels, folder, layers, batch_size=16, progress=progress)
    bar.empty()


def _left(text: str) -> str:
    """The last ``KWIC_CHARS`` characters before a word, from a word boundary ("…" when cut)."""
    left = " ".join(text.split())
    if len(left) <= KWIC_CHARS:
        return left
    cut = left[-KWIC_CHARS:]
    space = cut.find(" ")
    return "…" + (cut[space + 1 :] if 0 <= space < len(cut) - 1 else cut)


def _right(text: str) -> str:
    """The first ``KWIC_CHARS`` characters after a word, to a word boundary ("…" when cut)."""
    right = " ".join(text.split())
    if len(right) <= KWIC_CHARS:
        return right
    cut = right[:KWIC_CHARS]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut) + "…"


def _kwic_row(n, text_key: str = "word") -> dict:
    return {
        "left": _left(n.context[: n.start]),
        text_key: n.context[n.start : n.end] or n.token,
        "right": _right(n.context[n.end :]),
    }


def choose_index(key: TraceKey) -> CorpusIndex | None:
    source = st.radio(
        tr("corpus_source"),
        SOURCES,
        horizontal=True,
        key=SOURCE,
        format_func=labeller(lambda s: f"corpus_source_{s}"),
    )
    if source == "demo":
        folder = demo_folder(key.model)
        if not (folder / MANIFEST).exists():
            offer = st.empty()  # the offer goes once the demo is built
            with offer.container():
                st.caption(tr("corpus_demo_help", n=len(demo_texts()[0])))
                pressed = st.button(tr("corpus_demo_build"), key="corpus_demo_build")
            if not pressed:
                return None
            try:
                _build_demo(key.model, folder)
            except UserError as err:
                st.error(message(err))
                return None
            offer.empty()
    else:
        typed = st.text_input(tr("corpus_folder"), key=FOLDER, placeholder="/data/my-index")
        if not typed.strip():
            st.caption(tr("corpus_folder_help"))
            return None
        folder = Path(typed.strip()).expanduser()
    try:
        index = open_index(str(folder), index_stamp(str(folder)))
        index.check_model(get_encoder(key.model))
    except UserError as err:
        st.info(message(err))
        return None
    return index


def _map(index: CorpusIndex, folder: str, stamp: float, layer: int, label_of) -> None:
    st.subheader(tr("corpus_map_header"))
    method = st.radio(tr("method"), METHODS, horizontal=True, key=METHOD)
    pca = shared_pca(folder, stamp)
    k = index.layers.index(layer)
    coords, axes = pca.coords[k], ("PC 1", "PC 2")
    subtitle = tr("corpus_map_pca", a=pca.explained[0], b=pca.explained[1])
    # one PCA for every layer, so one frame too: the points move, the frame stays
    ranges = corpus_fig.span(pca.coords) if method == "PCA" else None
    if method != "PCA":
        with st.spinner(tr("corpus_fit_running", method=method)):
            coords = fitted_coords(folder, stamp, layer, method)
        axes = (f"{method} 1", f"{method} 2")
        subtitle = tr("corpus_map_fitted", method=method, seed=maps.SEED)
    else:
        outside = int(corpus_fig.outside(coords, ranges).sum())
        subtitle += "\n" + tr("corpus_map_frame", share=f"{corpus_fig.OUTLIER_SHARE * 100:g}")
        if outside:
            subtitle += tr("corpus_map_outside", n=outside)
    n = len(coords)
    columns = line_columns(folder, stamp)
    names = sorted(columns, key=lambda c: (c != "label", c))  # the label first: the usual colour
    if st.session_state.get(COLOUR) not in names:
        st.session_state[COLOUR] = "label" if "label" in names else "line"
    lang = language()  # taken now: Streamlit may format the options outside the run

    def colour_name(c: str) -> str:
        return tr_in(lang, f"corpus_colour_{c}") if c in KNOWN_COLUMNS else plain(c)

    by = st.radio(tr("corpus_colour"), names, horizontal=True, key=COLOUR, format_func=colour_name)
    shown = tr(f"corpus_colour_{by}") if by in KNOWN_COLUMNS else by
    values = columns[by][:n]
    if by == "label":
        values = [label_of(v) for v in values]
    chart(
        corpus_fig.corpus_map(
            coords,
            values,
            index.texts()[:n],
            tr("corpus_map_title", layer=layer_name(layer), n=n),
            axes,
            subtitle,
            colour_name=shown,
            ranges=ranges,
            outside_note=tr("corpus_map_outside_point"),
        ),
        key="corpus_map",
    )
    st.caption(tr("corpus_map_help_pca") if method == "PCA" else tr("corpus_map_help_fitted"))
    if index.manifest.get("labels"):
        st.caption(tr("corpus_probe_hint"))


SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _numbered(labels: dict[int, str]) -> dict[int, str]:
    """Each label, a repeated one with its occurrence as a superscript ("bank¹", "bank²"):
    Streamlit's pills tell their options apart by the label shown, so two alike would be one
    (a click on the first "bank" left the second chosen)."""
    total: dict[str, int] = {}
    for text in labels.values():
        total[text] = total.get(text, 0) + 1
    seen: dict[str, int] = {}
    out = {}
    for g, text in labels.items():
        seen[text] = seen.get(text, 0) + 1
        out[g] = text + str(seen[text]).translate(SUPERSCRIPTS) if total[text] > 1 else text
    return out


def start_word(t: Trace, first: list[int]) -> int:
    """The word the neighbours start on: the first content word (``word_to_mask``), else the
    first word of ``first`` that is not punctuation ("，" has no neighbours worth reading)."""
    groups = word_groups(t.word_ids)
    words = word_texts(groups, t.display_tokens, t.offsets, t.segment_ids, t.text, t.pair)
    start = word_to_mask(t)
    if start in first and not is_punctuation(words[start]):
        return start
    return next((g for g in first if not is_punctuation(words[g])), first[0])


def _neighbours(
    t: Trace, key: TraceKey, index: CorpusIndex, folder, stamp, layer, label_of
) -> None:
    st.subheader(tr("corpus_neighbours_header"))
    keep, labels = word_choices(t)
    groups = word_groups(t.word_ids)
    first = [g for g in keep if t.segment_ids[groups[g][0]] == 0]  # words of the sentence
    if not first:
        st.info(tr("corpus_no_words"))
        return
    s, sentence = st.session_state, (t.text, t.pair)
    # a new sentence starts on its first content word: the old one's word number means
    # another word here (its 13th word, "Street", was a "，" of the Chinese example)
    if s.get(WORD) not in first or s.get(WORD_OF, sentence) != sentence:
        s[WORD] = start_word(t, first)
    s[WORD_OF] = sentence
    shown = _numbered({g: plain(labels[g]) for g in first})
    word = st.pills(
        tr("corpus_word"),
        first,
        required=True,
        key=WORD,
        format_func=shown.get,
        width="stretch",
    )
    k = st.slider(tr("corpus_k"), 1, 50, value=10, key=K)
    try:
        text, found = nearest(folder, stamp, key.model, t.text, first.index(word), k)
    except UserError as err:
        st.info(message(err))
        return
    rows = [
        {"cosine": round(n.score, 3), "line": n.line, **_kwic_row(n), "label": label_of(n.label)}
        for n in found[layer]
    ]
    st.caption(tr("corpus_neighbours_help", k=k, word=text, layer=layer_name(layer)))
    table(pd.DataFrame(rows), hide_index=True, width="stretch", right=("left",))
    counts = same_word_counts(text, found)
    here = sum(c[index.layers.index(layer)] for c in counts.values())
    st.caption(tr("corpus_same_here", n=here, k=k, word=text, layer=layer_name(layer)))
    labelled = bool(index.manifest.get("labels"))
    if labelled:
        st.caption(tr("corpus_same_labels"))
    colours = None
    if labelled and counts:
        series = {label_of(label): c for label, c in counts.items()}
        # each label in its colour on the map (the order in which the lines bring them)
        order = {v: i for i, v in enumerate(dict.fromkeys(line_columns(folder, stamp)["label"]))}
        colours = [colour(order.get(label, len(order) + i)) for i, label in enumerate(counts)]
    else:
        totals = [sum(c) for c in zip(*counts.values())] if counts else [0] * len(found)
        series = {tr("corpus_same_series"): totals}
    chart(
        corpus_fig.same_word(
            [layer_name(ly) for ly in index.layers],
            series,
            k,
            tr("corpus_same_title", word=text, k=k),
            tr("corpus_same_y", k=k),
            colours,
        ),
        key="corpus_same",
    )


def _neurons(t: Trace, key: TraceKey, index: CorpusIndex, folder, stamp) -> None:
    st.subheader(tr("corpus_neurons_header"))
    f = t.facts
    c1, c2 = st.columns(2)
    layer = c1.slider(
        tr("corpus_neuron_layer"), 1, f.num_layers, value=f.num_layers, key=NEURON_LAYER
    )
    neuron = c2.number_input(
        tr("corpus_neuron", last=f.ffn_size - 1), 0, f.ffn_size - 1, value=0, step=1, key=NEURON
    )
    if t.ffn_activations is not None:
        pick = ~t.special
        top = neurons.top_neurons(t.ffn_activations[layer - 1][pick], 3)
        shown = [d for d, p in zip(t.display_tokens, pick) if p]
        st.caption(tr("corpus_sentence_neurons", layer=layer))
        frame = pd.DataFrame({"token": shown, "neurons": [", ".join(map(str, r)) for r in top]})
        table(frame, hide_index=True, width="stretch", height=min(400, 35 * (len(frame) + 1)))
    if not has_activations(folder, stamp, key.model, layer):
        n = min(len(index.texts()), NEURON_LINES)
        offer = st.empty()  # the offer goes once the run is over: the run has answered it
        with offer.container():
            st.caption(tr("corpus_neurons_start", n=n))
            pressed = st.button(tr("corpus_neurons_run", layer=layer), key="corpus_neurons_run")
        if not pressed:
            return
        bar = st.progress(0.0, text=tr("corpus_neurons_running", n=n))
        acts = activations(folder, stamp, key.model, layer, lambda p: bar.progress(min(p, 1.0)))
        bar.empty()
        offer.empty()
    else:
        acts = activations(folder, stamp, key.model, layer)
    tokens = index.table("tokens")
    texts = index.texts()
    rows = []
    for row, value in neurons.top_tokens(acts, int(neuron), 20):
        line = tokens.column("line")[row].as_py()
        start, end = tokens.column("start")[row].as_py(), tokens.column("end")[row].as_py()
        text = texts[line]
        special = tokens.column("word_index")[row].as_py() < 0
        if special and tokens.column("position")[row].as_py() > 0:
            start = end = len(text)  # [SEP] (its offsets are 0, 0): after the line, not before
        rows.append(
            {
                "activation": round(value, 3),
                "line": line,
                "left": _left(text[:start]),
                "token": tokens.column("token")[row].as_py(),
                "right": _right(text[end:]),
            }
        )
    st.caption(tr("corpus_neurons_help", layer=layer, neuron=int(neuron), n=len(acts.values)))
    table(pd.DataFrame(rows), hide_index=True, width="stretch", right=("left",))


def render(t: Trace, key: TraceKey) -> None:
    st.caption(tr("corpus_intro"))
    index = choose_index(key)
    if index is None:
        return
    folder = str(index.folder)
    stamp = index_stamp(folder)
    m = index.manifest
    st.caption(
        tr("corpus_about", lines=m["lines"], tokens=m["tokens"], words=m["words"], folder=folder)
    )
    # the demo's own labels are ours, so translated; an index folder's are its data
    label_of = demo_label if st.session_state.get(SOURCE) == "demo" else str
    layers = index.layers
    if st.session_state.get(LAYER) not in layers:
        st.session_state[LAYER] = layers[-1]
    layer = st.select_slider(tr("layer_emb"), layers, key=LAYER, format_func=layer_name)
    _map(index, folder, stamp, layer, label_of)
    _neighbours(t, key, index, folder, stamp, layer, label_of)
    _neurons(t, key, index, folder, stamp)
