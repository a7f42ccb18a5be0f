"""What the tests drive, in one place: the app under AppTest, a real Streamlit server and
Debian's headless Chromium (also used by the benchmarks), and the tiny model configs of every
encoder family."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest
from transformers import (
    AlbertConfig,
    BertConfig,
    BigBirdConfig,
    CamembertConfig,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    ErnieConfig,
    EuroBertConfig,
    GteConfig,
    JinaEmbeddingsV3Config,
    MegatronBertConfig,
    ModernBertConfig,
    MPNetConfig,
    NomicBertConfig,
    RemBertConfig,
    RobertaConfig,
    RobertaPreLayerNormConfig,
    RoFormerConfig,
    XLMRobertaConfig,
    XLMRobertaXLConfig,
)

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
CHROMIUM = os.environ.get("VIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_command(port: int) -> list[str]:
    """``streamlit run app.py`` on loopback ``port``, headless, no file watcher, no telemetry."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str] | None = None, timeout: float = 90) -> Iterator[str]:
    """Start ``streamlit run app.py`` on a free loopback port; yield its URL."""
    port = free_port()
    proc = subprocess.Popen(
        streamlit_command(port),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                    raise RuntimeError(f"streamlit did not start:\n{out[-3000:]}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# A chart on the page: Plotly's, or one of the attention page's canvases (viz/ui/canvas), in
# the order of the page; painted when Plotly has drawn its SVG or the canvas its first frame.
CHARTS = ".js-plotly-plot, .viz-chart"
PAINTED = "(p) => !!(p.querySelector('.main-svg') || p.dataset.painted)"


def thumbnail(page, layer: int, head: int) -> tuple[float, float]:
    """Where the model view's thumbnail of ``layer``, ``head`` (1-based) is on the page."""
    grid = page.locator('.viz-chart[data-kind="grid"]')
    box = grid.locator("canvas").bounding_box()
    at = json.loads(grid.get_attribute("data-cells"))
    return (
        box["x"] + at["x"] + (head - 0.5) * at["cell"],
        box["y"] + at["y"] + (layer - 0.5) * at["cell"],
    )


def wait_for_charts(page, count: int = 1, timeout: float = 90_000) -> None:
    """Wait until the script run is over and at least ``count`` charts have painted."""
    page.wait_for_function(
        f"""(n) => {{
            const app = document.querySelector('[data-testid="stApp"]');
            const idle = app && app.dataset.testScriptState === 'notRunning'
                && !document.querySelector('[data-testid="stStatusWidget"]');
            const painted = [...document.querySelectorAll('{CHARTS}')].filter({PAINTED}).length;
            return idle && painted >= n;
        }}""",
        arg=count,
        timeout=timeout,
    )


def submit_sentence(page, text: str, marker: str, charts: int = 3) -> None:
    """Type ``text`` into the sentence box, submit, and wait until the first chart shows
    ``marker`` (so the old page is never mistaken for the new one)."""
    box = page.get_by_label("Sentence", exact=True)
    box.fill(text)
    box.press("Control+Enter")
    page.wait_for_function(
        f"(m) => {{ const p = document.querySelector('{CHARTS}');"
        " return p && p.textContent.includes(m); }",
        arg=marker,
        timeout=90_000,
    )
    wait_for_charts(page, charts)


# ---------------------------------------------------------------- the app under AppTest
def new_app(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def canvases(at: AppTest) -> dict[str, dict]:
    """What the page sent each of its canvas components (viz/ui/canvas), by the key it gave
    them (Streamlit keeps the key at the end of the element's id)."""
    return {
        element.proto.id.rsplit("-", 1)[-1]: json.loads(element.proto.json)
        for element in at.get("bidi_component")
    }


def floats(b64: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A canvas component's float32 array, sent as base64."""
    values = np.frombuffer(base64.b64decode(b64), dtype=np.float32)
    return values if shape is None else values.reshape(shape)


def set_layer(at: AppTest, layer: int) -> AppTest:
    """Move the layer (1-based) and rerun: Streamlit's slider where the page has one; on the
    attention page, whose slider the browser draws (viz/ui/canvas), as its callback records a
    step (tests/browser/test_attention_in_chromium.py steps it in a real browser)."""
    try:
        slider = at.slider(key="layer")
    except KeyError:
        at.session_state["layer"] = layer
        return at.run()
    return slider.set_value(layer).run()


def layer_shown(at: AppTest) -> int:
    """The layer (1-based) the page's layer slider shows."""
    try:
        return at.slider(key="layer").value
    except KeyError:
        return canvases(at)["attention_layer"]["layer"]


def charts(at: AppTest) -> int:
    """Plotly charts and canvas charts (the heatmap, the model view, the head view) on the page."""
    drawn = [d for d in canvases(at).values() if d.get("kind") in ("heatmap", "grid", "heads")]
    return len(at.get("plotly_chart")) + len(drawn)


def no_problem(at: AppTest) -> bool:
    return not at.exception and not at.error


# ---------------------------------------------------------------- tiny models
SMALL = dict(
    vocab_size=30522,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
)

TINY_CONFIGS = {
    "bert": lambda: BertConfig(**SMALL),
    "roberta": lambda: RobertaConfig(
        **{**SMALL, "max_position_embeddings": 66}, pad_token_id=1, type_vocab_size=1
    ),
    "xlm-roberta": lambda: XLMRobertaConfig(
        **{**SMALL, "max_position_embeddings": 66}, pad_token_id=1, type_vocab_size=1
    ),
    "electra": lambda: ElectraConfig(**SMALL, embedding_size=16),
    "albert": lambda: AlbertConfig(**{**SMALL, "num_hidden_layers": 3}, embedding_size=16),
    "distilbert": lambda: DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64
    ),
    "mpnet": lambda: MPNetConfig(**{**SMALL, "max_position_embeddings": 66}),
    # as DeBERTa-v3: relative attention both ways, shared keys, log buckets, no absolute positions
    "deberta-v2": lambda: DebertaV2Config(
        **SMALL,
        type_vocab_size=0,
        relative_attention=True,
        position_biased_input=False,
        pos_att_type=["p2c", "c2p"],
        max_relative_positions=-1,
        position_buckets=16,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
    ),
    "camembert": lambda: CamembertConfig(
        **{**SMALL, "max_position_embeddings": 66}, pad_token_id=1, type_vocab_size=1
    ),
    "ernie": lambda: ErnieConfig(**SMALL),
    # full attention: block-sparse BigBird is refused (viz/arch/big_bird.py)
    "big_bird": lambda: BigBirdConfig(
        **SMALL, attention_type="original_full", pad_token_id=0, sep_token_id=102
    ),
    # narrower input embeddings, projected to the layers' width
    "rembert": lambda: RemBertConfig(
        **SMALL, input_embedding_size=16, output_embedding_size=16, pad_token_id=0
    ),
}
# The newer families (pre-norm, rotary positions, gated feed-forward blocks, fused, grouped or
# windowed attention), each tested in tests/unit/test_families_capture.py,
# tests/unit/test_math_families.py and tests/app/test_families.py. The bundled tokenizer's
# special ids ([PAD] 0, [CLS] 101, [SEP] 102, [MASK] 103) where a config's own are outside it.
BERT_IDS = dict(pad_token_id=0, bos_token_id=101, eos_token_id=102)
NEWER_TINY_CONFIGS = {
    # 3 layers: global, local (a window of 4 keys, 2 each side), global
    "modernbert": lambda: ModernBertConfig(
        **{**SMALL, "num_hidden_layers": 3},
        global_attn_every_n_layers=2,
        local_attention=4,
        **BERT_IDS,
        cls_token_id=101,
        sep_token_id=102,
    ),
    "gte": lambda: GteConfig(**SMALL),
    "nomic_bert": lambda: NomicBertConfig(**SMALL),
    # grouped keys and values: two query heads share each
    "eurobert": lambda: EuroBertConfig(
        **SMALL, num_key_value_heads=2, **BERT_IDS, mask_token_id=103
    ),
    "jina_embeddings_v3": lambda: JinaEmbeddingsV3Config(**SMALL),
    "xlm-roberta-xl": lambda: XLMRobertaXLConfig(
        **{**SMALL, "max_position_embeddings": 66}, pad_token_id=1, type_vocab_size=1
    ),
    "roberta-prelayernorm": lambda: RobertaPreLayerNormConfig(
        **{**SMALL, "max_position_embeddings": 66}, pad_token_id=1, type_vocab_size=1
    ),
    "megatron-bert": lambda: MegatronBertConfig(**SMALL),
    "roformer": lambda: RoFormerConfig(**SMALL),
}
# Families whose layers the math view cannot recompute step by step (a difference that
# viz.arch.family.RECOMPUTED does not hold); the view says so for them. None at present.
TINY_CONFIGS_WITHOUT_MATH: dict = {}
ALL_TINY_CONFIGS = {**TINY_CONFIGS, **NEWER_TINY_CONFIGS, **TINY_CONFIGS_WITHOUT_MATH}


def chinese_reader(folder: Path, text: str) -> Path:
    """A tiny random BERT whose vocabulary has every character of ``text`` (but ","): a model
    that reads it one character per token, saved in ``folder``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(text) - {","})]
    tok = BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
    )
    BertModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
