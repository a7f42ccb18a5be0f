"""The Corpus page under AppTest: the demo's button, an opened index's map, neighbours and
neurons, UMAP, an index of another model, a folder that is not an index."""

from __future__ import annotations

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
]
LABELS = ["nature", "money", "money", "food"]
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
    at = new_app(text=TEXT, **query)
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
    at.selectbox(key="corpus_word").set_value(2).run()  # [CLS] The bank
    assert no_problem(at)
    kwic = at.dataframe[0].value
    assert list(kwic.columns) == ["cosine", "line", "left", "word", "right", "label"]
    assert kwic["word"].iloc[0].lower() == "bank"
    at.button(key="corpus_neurons_run").click().run()
    assert no_problem(at), [e.value for e in at.exception]
    top = at.dataframe[-1].value
    assert list(top.columns) == ["activation", "line", "left", "token", "right"]
    assert top["activation"].is_monotonic_decreasing
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
