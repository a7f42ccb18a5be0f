"""The encoders on this machine: the bundled default, the Hugging Face cache, and the folders
under ``VIZ_MODELS_DIR``, with what each can do (its family is supported, it has a masked-LM
head, it reads a given text without [UNK]). Offline, these are the models a user can switch to.

The cache is read with ``huggingface_hub.scan_cache_dir`` (the library that writes it).
Nothing here loads weights: a config and a tokenizer are enough.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from transformers import AutoTokenizer

from viz.arch import DECODER_ONLY, families
from viz.models import DEFAULT_MODEL, bundled_model_dir

log = logging.getLogger(__name__)
MODELS_DIR_VARIABLE = "VIZ_MODELS_DIR"
MLM_ARCHITECTURES = ("ForMaskedLM", "ForPreTraining")


@dataclass(frozen=True)
class LocalModel:
    name: str  # what the model field takes: the default's name, a Hub id, or a folder
    folder: Path  # where its config and tokenizer are
    model_type: str
    has_mlm_head: bool


def _read_config(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _model(name: str, folder: Path) -> LocalModel | None:
    """A model the explorer can load from ``folder``, or None (not an encoder we support)."""
    config = _read_config(folder)
    if not isinstance(config, dict):
        return None
    model_type = str(config.get("model_type", ""))
    if model_type not in families() or model_type in DECODER_ONLY:
        return None
    family = families()[model_type]
    architectures = config.get("architectures") or []
    has_mlm = bool(family.mlm_head) and any(
        str(a).endswith(MLM_ARCHITECTURES) for a in architectures
    )
    return LocalModel(name, folder, model_type, has_mlm)


def _cached(cache_dir: str | Path | None = None) -> list[LocalModel]:
    """Models in the Hugging Face cache (default: the one transformers uses), by id, the newest
    snapshot of each."""
    try:
        from huggingface_hub import scan_cache_dir

        repos = scan_cache_dir(cache_dir).repos
    except Exception:  # no cache yet, or one the library cannot read: nothing to offer
        return []
    found = []
    for repo in sorted(repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        newest = max(repo.revisions, key=lambda r: r.last_modified)
        if (model := _model(repo.repo_id, Path(newest.snapshot_path))) is not None:
            found.append(model)
    return found


def _in_folder(root: Path) -> list[LocalModel]:
    """Model folders directly under ``root`` (each with a config.json), by path."""
    try:
        if not root.is_dir():
            return []
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError as err:  # a folder the server may not read: the other models still count
        log.warning("cannot list the models in %s: %s", root, err)
        return []
    found = []
    for folder in folders:
        if (model := _model(str(folder), folder)) is not None:
            found.append(model)
    return found


def find_local_models(
    models_dir: str | None = None, cache_dir: str | Path | None = None
) -> list[LocalModel]:
    """Every encoder this machine can load without the Hub: the bundled default first, then the
    folders under ``models_dir`` (default: ``$VIZ_MODELS_DIR``), then the Hugging Face cache
    (default: the one transformers uses)."""
    found: list[LocalModel] = []
    try:
        default = _model(DEFAULT_MODEL, bundled_model_dir())
    except ValueError:  # the bundled package is missing: the others still count
        default = None
    if default is not None:
        found.append(default)
    models_dir = models_dir if models_dir is not None else os.environ.get(MODELS_DIR_VARIABLE)
    if models_dir:
        found += _in_folder(Path(models_dir).expanduser())
    names = {m.name for m in found}
    found += [m for m in _cached(cache_dir) if m.name not in names]
    return found


@functools.lru_cache(maxsize=32)
def _tokenizer(folder: Path) -> object | None:
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except Exception:  # a folder whose tokenizer cannot load reads nothing
        return None


def unknown_share(model: LocalModel, text: str) -> float:
    """The share of ``text``'s tokens that ``model`` reads as its unknown token (0 = reads all
    of it, 1 = none of it, or no tokenizer)."""
    tokenizer = _tokenizer(model.folder)
    if tokenizer is None:
        return 1.0
    ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=512)["input_ids"]
    unk = getattr(tokenizer, "unk_token_id", None)
    return sum(i == unk for i in ids) / len(ids) if ids and unk is not None else 0.0


def readers(models: list[LocalModel], text: str, at_most: float = 0.05) -> list[LocalModel]:
    """The models that read ``text`` with at most ``at_most`` of its tokens unknown."""
    return [m for m in models if unknown_share(m, text) <= at_most]
