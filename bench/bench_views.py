"""Every view's server time on a long input, for the default model or a larger one.

Drives ``app.py`` with Streamlit's AppTest (in process, no browser) on a text of exactly
``--tokens`` tokens, and times, per round: each view's first render after the per-view caches
(``st.cache_data``) are cleared, as when a new sentence is opened there, and three moves of
the layer slider in the attention view. The baseline of the same run is a rerun that changes
nothing; the table gives each time against it. The trace itself is made once, before timing
(the model's forward is section 1's subject); the table counts the reruns that traced the text
again (a trace larger than the trace cache is evicted by the next one, e.g. the contrast
view's sentences), and the script checks that no slider move did.

``--bert-base`` builds a randomly initialised model of bert-base-uncased's shape (12 layers x
12 heads x 768, MLM head) with the bundled tokenizer, in a temporary folder: the weights are
random, the shapes and the work per view are those of bert-base.

Run from the repository root: ``python bench/bench_views.py [--quick] [--bert-base]
[--tokens N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import ROOT, median, quiet, report, table

import viz.capture

ROUNDS, QUICK_ROUNDS = 5, 2


def random_bert_base(folder: Path) -> str:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from viz.models import bundled_model_dir

    torch.manual_seed(0)
    BertForMaskedLM(BertConfig()).save_pretrained(folder)
    AutoTokenizer.from_pretrained(bundled_model_dir()).save_pretrained(folder)
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--bert-base", action="store_true", help="a random bert-base-sized model")
    parser.add_argument("--tokens", type=int, default=512, help="input length (default 512)")
    args = parser.parse_args()
    quiet()
    import streamlit as st
    from bench_capture import text_of_tokens
    from streamlit.testing.v1 import AppTest

    from viz.models import DEFAULT_MODEL, load_encoder
    from viz.ui.pages import PAGE_NAMES

    views = list(PAGE_NAMES)

    traces: list[str] = []  # the texts traced without a mask or ablation
    real = viz.capture.trace

    def counting(*a, **k):
        if not k.get("mask_word") and not k.get("ablate"):
            traces.append(a[1])
        return real(*a, **k)

    viz.capture.trace = counting
    with tempfile.TemporaryDirectory() as tmp:
        model = random_bert_base(Path(tmp)) if args.bert_base else DEFAULT_MODEL
        text = text_of_tokens(load_encoder(model), args.tokens)
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.query_params.update(model=model, text=text)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        times: dict[str, list[float]] = {name: [] for name in ["no change", *views, "layer move"]}

        runs = dict.fromkeys(times, 0)  # traces of the text itself made by each rerun

        def timed(name: str, action) -> None:
            before = traces.count(text)
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
            runs[name] += traces.count(text) - before
            assert not at.exception, (name, [e.value for e in at.exception])

        rounds = QUICK_ROUNDS if args.quick else ROUNDS
        for _ in range(rounds):
            timed("no change", at.run)
            st.cache_data.clear()
            for view in views:
                timed(view, lambda v=view: at.sidebar.radio(key="view").set_value(v).run())
            at.sidebar.radio(key="view").set_value("attention").run()
            f = load_encoder(model).facts
            for _ in range(3):
                new = at.slider(key="layer").value % f.num_layers + 1  # a different layer
                timed("layer move", lambda v=new: at.slider(key="layer").set_value(v).run())
        assert runs["layer move"] == 0, "a slider move ran the model again"
    base = median(times["no change"])
    rows = [
        [name, len(values), f"{median(values):.2f}", f"{median(values) / base:.1f}x", runs[name]]
        for name, values in times.items()
    ]
    label = "a random bert-base-sized model" if args.bert_base else f"the default {DEFAULT_MODEL}"
    body = (
        f"{label}: {f.num_layers} layers x {f.num_heads} heads x {f.hidden_size}; "
        f"{args.tokens} tokens; {rounds} rounds\n\n"
        + table(["rerun", "runs", "median s", "against no change", "traces of the text"], rows)
    )
    report("Every view's server time (AppTest)", body)


if __name__ == "__main__":
    main()
