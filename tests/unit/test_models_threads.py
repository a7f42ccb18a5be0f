"""Loading from several threads at once, as app sessions switching models do: every load
succeeds and gives a working encoder (no weight left on the meta device, tied heads tied)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from transformers import AutoModelForMaskedLM

from tests.drivers import TINY_CONFIGS
from viz.capture import trace
from viz.models import DEFAULT_MODEL, Encoder, load_encoder

# Masked-LM checkpoints: their tied output embeddings are not in the file, so a load that
# skips tying leaves them on the meta device.
FAMILIES = ("bert", "roberta", "electra", "distilbert", "mpnet")


@pytest.fixture(scope="module")
def mlm_folders(tmp_path_factory, tokenizer) -> list[str]:
    folders = []
    for family in FAMILIES:
        folder = tmp_path_factory.mktemp(f"mlm-{family}")
        torch.manual_seed(0)
        AutoModelForMaskedLM.from_config(TINY_CONFIGS[family]()).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders.append(str(folder))
    return folders


def load_all_at_once(names: list[str]) -> dict[str, Encoder | BaseException]:
    start = threading.Barrier(len(names))
    results: dict[str, Encoder | BaseException] = {}

    def load(name: str) -> None:
        start.wait()
        try:
            results[name] = load_encoder(name)
        except BaseException as err:  # noqa: BLE001 - the test reports whatever a thread hit
            results[name] = err

    threads = [threading.Thread(target=load, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_loads_all_succeed_and_work(mlm_folders):
    names = [*mlm_folders, DEFAULT_MODEL]
    for _ in range(3):
        results = load_all_at_once(names)
        failed = {n: repr(r) for n, r in results.items() if not isinstance(r, Encoder)}
        assert not failed
        for name, encoder in results.items():
            assert all(p.device.type != "meta" for p in encoder.model.parameters()), name
            if name != DEFAULT_MODEL:
                assert encoder.facts.has_mlm_head, name
                out = encoder.model.get_output_embeddings().weight
                assert out.data_ptr() == encoder.model.get_input_embeddings().weight.data_ptr()
                logits = encoder.mlm_logits(torch.zeros(2, encoder.facts.hidden_size))
                assert torch.isfinite(logits).all(), name
            t = trace(encoder, "The bank by the river closed.")
            assert np.isfinite(t.hidden_states).all(), name
