"""The Corpus page under AppTest: the demo's button, an opened index's map, neighbours and
neurons, UMAP, an index of another model, a folder that is not an index; and the probe page
on an index's labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.drivers import charts, new_app, no_problem
from viz.corpus.index import build_index
from viz.models import DEFAULT_MODEL
from viz.ui.pages.corpus import demo_folder

CORPUS = [
    "The river bank was muddy after the storm.",
    "I deposited money at the bank this morning.",
    "A bank loan helped them buy the house.",
    "Strawberries are sweet in June.",
    "Fog lay over the quiet forest at dawn.",
    "Ripe peaches taste of the summer sun.",
]
LABELS = ["nature", "money", "money", "food", "nature", "food"]
TEXT = "The bank by the river flooded again."


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory, bundled):
    """A small index where the page looks for the default model's demo."""
    root = tmp_path_factory.mktemp("corpus")
    mp = pytest.MonkeyPatch()
    mp.setenv("VIZ_CORPUS_DIR", str(root))
    folder = demo_folder(DEFAULT_MODEL)
    folder.parent.mkdir(parents=True, exist_ok=True)
    build_index(bundled, CORPUS, LABELS, folder, [0, 3, 6], batch_size=4)
    yield root
    mp.undo()


def _open(**query):
    at = new_app(**{"text": TEXT, **query})
    at.sidebar.radio(key="view").set_value("corpus").run()
    assert no_problem(at), [e.value for e in at.exception]
    return at


def test_demo_button_before_any_index(tmp_path, monkeypatch):
    monkeypatch.setenv("VIZ_CORPUS_DIR", str(tmp_path))
    at = _open()
    assert at.button(key="corpus_demo_build") and charts(at) == 0


def test_an_index_shows_map_neighbours_and_neurons(demo_dir):
    at = _open()
    assert charts(at) == 2  # the map and the same-word line
    at.button_group(key="corpus_word").set_value(2).run()  # [CLS] The bank
    assert no_problem(at)
    kwic = at.dataframe[0].value
    assert list(kwic.columns) == ["cosine", "line", "left", "word", "right", "label"]
    assert kwic["word"].iloc[0].lower() == "bank"
    # the left context aligned right: a narrow cell drops its far end, not the keyword's side
    assert json.loads(at.dataframe[0].proto.columns)["left"]["alignment"] == "right"
    at.button(key="corpus_neurons_run").click().run()
    assert no_problem(at), [e.value for e in at.exception]
    top = at.dataframe[-1].value
    assert list(top.columns) == ["activation", "line", "left", "token", "right"]
    assert top["activation"].is_monotonic_decreasing
    assert json.loads(at.dataframe[-1].proto.columns)["left"]["alignment"] == "right"
    at.radio(key="corpus_method").set_value("t-SNE").run()
    assert no_problem(at) and charts(at) == 2
    at.select_slider(key="corpus_layer").set_value(0).run()
    assert no_problem(at) and charts(at) == 2


def test_other_model_and_not_an_index(demo_dir, tiny_mlm_folder, tmp_path):
    at = new_app(text=TEXT, model=tiny_mlm_folder)
    at.sidebar.radio(key="view").set_value("corpus").run()
    at.radio(key="corpus_source").set_value("folder").run()
    at.text_input(key="corpus_folder").input(str(demo_folder(DEFAULT_MODEL))).run()
    assert no_problem(at) and any("is an index of the model" in i.value for i in at.info)
    at.text_input(key="corpus_folder").input(str(tmp_path)).run()
    assert no_problem(at) and any("not a corpus index" in i.value for i in at.info)


def test_clicking_a_word_of_the_sentence_picks_it(demo_dir):
    at = _open()
    strip = at.button_group(key="corpus_word")
    assert strip.value == 2  # the first content word, "bank"
    before = at.dataframe[0].value
    assert before["word"].str.lower().eq("bank").iloc[0]
    strip.set_value(5).run()  # [CLS] The bank by the river
    assert no_problem(at), [e.value for e in at.exception]
    after = at.dataframe[0].value
    assert after["word"].iloc[0].lower() == "river"
    assert not after.equals(before)
    assert at.query_params["corpus_word"] == "5"  # in the share link
    assert any("'river' itself" in c.value for c in at.caption)


def test_the_word_comes_back_from_the_link_and_a_stale_one_is_replaced(demo_dir):
    at = _open(corpus_word="5")
    assert at.button_group(key="corpus_word").value == 5
    assert at.dataframe[0].value["word"].iloc[0].lower() == "river"
    at = _open(corpus_word="99")  # not a word of this sentence: the first content word
    assert no_problem(at) and at.button_group(key="corpus_word").value == 2


def test_the_map_colours_by_any_column_with_fixed_axes(demo_dir):
    at = _open()
    colour = at.radio(key="corpus_colour")
    assert any("probes this index's labels at every layer" in c.value for c in at.caption)
    assert list(colour.options) == ["label", "line number", "tokens in the line"]
    fig = at.get("plotly_chart")[0].proto.spec
    assert '"autorange":false' in fig.replace(" ", "")
    ranges = [_axis_range(fig, a) for a in ("xaxis", "yaxis")]
    at.select_slider(key="corpus_layer").set_value(0).run()
    assert [_axis_range(at.get("plotly_chart")[0].proto.spec, a) for a in ("xaxis", "yaxis")] == (
        ranges
    )  # the same frame at another layer
    at.radio(key="corpus_colour").set_value("tokens").run()
    assert no_problem(at) and '"colorscale"' in at.get("plotly_chart")[0].proto.spec


def _axis_range(spec: str, axis: str) -> list[float]:
    import json

    return json.loads(spec)["layout"][axis]["range"]


def _probe_on_index(lang: str = "en"):
    at = new_app(text=TEXT, lang=lang)
    at.sidebar.radio(key="view").set_value("probe").run()
    at.radio(key="probe_source").set_value("index").run()
    assert no_problem(at), [e.value for e in at.exception]
    return at


def test_the_probe_on_an_index_gives_one_score_per_layer(demo_dir):
    at = _probe_on_index()
    at.button(key="probe_index_run").click().run()
    assert no_problem(at), [e.value for e in at.exception]
    scores = at.dataframe[-1].value
    assert list(scores["layer"]) == ["emb", "L3", "L6"]  # the index's layers, no others
    assert scores["accuracy"].between(0, 1).all()
    assert charts(at) == 1 and at.success


@pytest.mark.parametrize(
    ("lang", "no_labels", "one_class"),
    [
        ("en", "This index has no labels", "fewer than two classes"),
        ("zh", "该索引没有标签", "少于两个"),
    ],
)
def test_the_probe_says_when_an_index_cannot_be_probed(
    bundled, tmp_path, lang, no_labels, one_class
):
    unlabelled, single = tmp_path / "unlabelled", tmp_path / "single"
    build_index(bundled, CORPUS, None, unlabelled, [0, 6], batch_size=4)
    build_index(bundled, CORPUS, ["a"] * 5 + ["b"], single, [0, 6], batch_size=4)
    at = _probe_on_index(lang)
    at.radio(key="corpus_source").set_value("folder").run()
    at.text_input(key="corpus_folder").input(str(unlabelled)).run()
    assert no_problem(at) and any(no_labels in i.value for i in at.info)
    at.text_input(key="corpus_folder").input(str(single)).run()
    assert no_problem(at) and any(one_class in i.value for i in at.info)
    assert all(b.key != "probe_index_run" for b in at.button)


def test_keyword_in_context_cuts_at_word_boundaries():
    from viz.ui.pages.corpus import KWIC_CHARS, _left, _right

    before = "the manager was patient with all my questions and set up the"
    after = "account quickly, and then the whole family opened savings accounts too"
    left, right = _left(before), _right(after)
    assert left.startswith("…") and before.endswith(left[1:]) and len(left) <= KWIC_CHARS + 1
    assert before[-len(left[1:]) - 1] == " "  # a whole word first, not "r was patient"
    assert right.endswith("…") and after.startswith(right[:-1]) and len(right) <= KWIC_CHARS + 1
    assert after[len(right[:-1])] == " "
    assert _left("short  text") == "short text" and _right("short") == "short"


CHINESE = "我们在河边的银行门口见面，然后去银行存钱。"


def test_a_new_sentence_starts_on_its_first_content_word_never_punctuation(demo_dir):
    """A word number means another word in another sentence: the 13th word of the English
    example ("Street") is the "，" of the Chinese one."""
    at = _open(text="The bank by the river flooded, so the bank on Main Street closed early.")
    at.button_group(key="corpus_word").set_value(13).run()
    assert any("'Street' itself" in c.value for c in at.caption)
    at.sidebar.text_area(key="text").input(CHINESE).run()
    assert no_problem(at), [e.value for e in at.exception]
    strip = at.button_group(key="corpus_word")
    assert strip.value == 4 and any("'河' itself" in c.value for c in at.caption)  # not "，"
    # every word the model reads as [UNK] or punctuation: the first that is not punctuation
    at = new_app(text="，你好。", view="corpus")
    assert no_problem(at) and at.button_group(key="corpus_word").value == 2  # 你, not "，"


def test_an_index_without_labels_is_not_coloured_by_label(bundled, tmp_path):
    build_index(bundled, CORPUS, None, tmp_path / "plain", [0, 6], batch_size=4)
    at = _open()
    at.radio(key="corpus_source").set_value("folder").run()
    at.text_input(key="corpus_folder").input(str(tmp_path / "plain")).run()
    assert no_problem(at), [e.value for e in at.exception]
    colour = at.radio(key="corpus_colour")
    assert list(colour.options) == ["line number", "tokens in the line"]
    assert colour.value == "line"
    assert '"colorscale"' in at.get("plotly_chart")[0].proto.spec  # numbers: a colour scale
    assert len(json.loads(at.get("plotly_chart")[1].proto.spec)["data"]) == 1  # one series


def test_one_outlier_line_does_not_squeeze_the_map(bundled, tmp_path):
    """A line of "!" lies far from every other line at every layer: the frame holds the rest
    (Tukey's far fences), the outlier is drawn on its edge, and the chart says so."""
    build_index(bundled, [*CORPUS, "!" * 24], LABELS + ["odd"], tmp_path / "odd", [0, 3, 6], 4)
    at = _open()
    at.radio(key="corpus_source").set_value("folder").run()
    at.text_input(key="corpus_folder").input(str(tmp_path / "odd")).run()
    assert no_problem(at), [e.value for e in at.exception]
    xs, ys = [], []  # every other line, at every layer
    for layer in (0, 3, 6):
        at.select_slider(key="corpus_layer").set_value(layer).run()
        fig = json.loads(at.get("plotly_chart")[0].proto.spec)
        others = [t for t in fig["data"] if t["name"] != "odd"]
        xs += [_values(t["x"]) for t in others]
        ys += [_values(t["y"]) for t in others]
    (x0, x1), (y0, y1) = fig["layout"]["xaxis"]["range"], fig["layout"]["yaxis"]["range"]
    # they fill the frame (with the outlier in it, they had a fifth of each axis)
    assert np.ptp(np.concatenate(xs)) > 0.8 * (x1 - x0)
    assert np.ptp(np.concatenate(ys)) > 0.8 * (y1 - y0)
    (odd,) = [t for t in fig["data"] if t["name"] == "odd"]
    assert odd["marker"]["symbol"] == ["diamond-open"]
    assert _values(odd["x"])[0] in (np.float32(x0), np.float32(x1)) or _values(odd["y"])[0] in (
        np.float32(y0),
        np.float32(y1),
    )  # on the frame's edge
    title = fig["layout"]["title"]["text"]
    assert "One frame for every layer" in title and "1 at this layer, drawn on its edge" in title


def _values(axis) -> np.ndarray:
    """A trace's coordinates: a list, or Plotly's base64 typed array."""
    import base64

    if isinstance(axis, dict):
        return np.frombuffer(base64.b64decode(axis["bdata"]), dtype=axis["dtype"])
    return np.asarray(axis, np.float32)


def test_a_special_token_among_the_top_tokens_has_its_lines_context(bundled, demo_dir):
    from viz.corpus.index import CorpusIndex
    from viz.corpus.neurons import layer_activations

    index = CorpusIndex(demo_folder(DEFAULT_MODEL))
    acts = layer_activations(bundled, index, 6)
    tokens = index.table("tokens")
    sep = np.array([t == "[SEP]" for t in tokens.column("token").to_pylist()])[acts.rows]
    values = acts.values.astype(np.float32)
    neuron = int(np.argmax(values[sep].max(axis=0) - values[~sep].max(axis=0)))  # [SEP] first
    at = _open()
    at.number_input(key="corpus_neuron").set_value(neuron).run()
    for button in [b for b in at.button if b.key == "corpus_neurons_run"]:  # not yet run
        button.click().run()
    assert no_problem(at), [e.value for e in at.exception]
    top = at.dataframe[-1].value
    row = top.iloc[0]
    assert row["token"] == "[SEP]"
    assert row["left"] == CORPUS[row["line"]] and row["right"] == ""  # after the line
    first = top[top["token"] == "[CLS]"]
    assert all(first["left"] == "")


def test_the_neurons_offer_goes_once_it_has_run_and_comes_back_for_another_layer(demo_dir):
    at = _open()
    at.slider(key="corpus_neuron_layer").set_value(2).run()  # a layer no other test runs
    assert any("Finding what a neuron fires on" in c.value for c in at.caption)
    at.button(key="corpus_neurons_run").click().run()
    assert no_problem(at), [e.value for e in at.exception]
    assert all(b.key != "corpus_neurons_run" for b in at.button)  # answered: no button left
    assert not any("Finding what a neuron fires on" in c.value for c in at.caption)
    assert any("neuron 0 of layer 2" in c.value for c in at.caption)
    at.slider(key="corpus_neuron_layer").set_value(1).run()
    (button,) = [b for b in at.button if b.key == "corpus_neurons_run"]
    assert button.label == "Find the top tokens at layer 1"
