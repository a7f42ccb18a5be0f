"""What the capture loop needs to know about one encoder family.

A ``Family`` names the modules to hook, as the model's own tree spells them (``Paths``), the
config attributes that hold its sizes (``ConfigNames``), the modules of its masked-LM head, and
its ``quirks``: small objects for what the generic loop in ``viz.capture`` does not do (a
forward input of its own, hooks of its own, an array it adds to the trace). Each family is one
module in ``viz/arch`` that defines ``FAMILY``; ``viz.arch`` collects them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from torch import nn

from viz.errors import UserError

if TYPE_CHECKING:
    from viz.capture.store import Store
    from viz.models import Encoder


@dataclass(frozen=True)
class Paths:
    """Module paths. ``layers`` is relative to the base model (``model.base_model``) and may use
    ``*`` for "every child"; None: found in the model's tree (the first ``ModuleList`` whose
    every module has the ``attention`` path). Every other path is relative to one layer."""

    attention: str  # module whose output[1] is the attention probabilities [B, H, T, T]
    # Linear D -> D: queries, all heads side by side. A family whose projection is fused (one
    # Linear D -> 3D) names that module for all three; it captures Q/K/V through the interface.
    query: str
    key: str
    value: str
    attn_out: str  # Linear: input = concatenated heads, output = attention's residual update
    attn_norm: str  # LayerNorm after the attention residual add
    ffn_in: str  # Linear D -> F
    ffn_out: str  # Linear F -> D: input = activation, output = feed-forward residual update
    ffn_norm: str  # LayerNorm after the feed-forward residual add
    layers: str | None = None
    # A gated block: the Linear D -> F whose output goes through the activation, while
    # ffn_in's output multiplies it. The same path as ffn_in: one fused Linear D -> 2F whose
    # first half is the activation's input and second half the multiplier (ModernBERT's Wi).
    ffn_gate: str | None = None


# The hook points of every layer that capture reaches (``Encoder.layer_points``).
LAYER_POINTS = ("attention", "query", "key", "value", "attn_out", "ffn_out")


@dataclass(frozen=True)
class ConfigNames:
    """The config attributes that hold the sizes (L, H, D, F) and the FFN nonlinearity."""

    num_layers: str = "num_hidden_layers"
    num_heads: str = "num_attention_heads"
    hidden_size: str = "hidden_size"
    ffn_size: str = "intermediate_size"
    activation: str = "hidden_act"


class Hook(NamedTuple):
    """One hook a quirk asks for; the capture loop registers it and removes it with its own."""

    module: nn.Module
    fn: Callable
    pre: bool = False  # a forward pre-hook (sees and may change the inputs)
    with_kwargs: bool = False  # the hook also receives the forward's keyword arguments

    def register(self):
        if self.pre:
            return self.module.register_forward_pre_hook(self.fn, with_kwargs=self.with_kwargs)
        return self.module.register_forward_hook(self.fn, with_kwargs=self.with_kwargs)


class Quirk:
    """Something a family does that the generic capture loop does not; every method does
    nothing by default and a quirk overrides what it needs.

    A quirk is shared by every session using the family, so it keeps no state of its own: what
    one capture needs lives in the closures ``hooks`` makes for it and in that capture's
    ``Store`` (``store.extra``, keyed by the Trace field it becomes)."""

    # capture kinds this quirk captures with its own hooks instead of the generic ones
    takes: frozenset[str] = frozenset()

    def check(self, config: object) -> None:
        """Raise ``UserError`` for a config of this family that the explorer cannot capture."""

    def inputs(self) -> dict[str, object]:
        """Keyword arguments the forward pass needs besides the token ids."""
        return {}

    def score_factor(self, attention: nn.Module) -> int:
        """Scores are Q·Kᵀ/√(dk·factor); the factor this quirk contributes (multiplied)."""
        return 1

    def hooks(self, encoder: Encoder, store: Store, kinds: tuple[str, ...]) -> list[Hook]:
        """The hooks this quirk needs for one capture of ``kinds``."""
        return []

    def arrays(self, store: Store, num_tokens: int) -> dict[str, np.ndarray]:
        """Trace fields this quirk adds, made from what its hooks left in ``store.extra``."""
        return {}


class AskForAttentions(Quirk):
    """Older attention modules return the probabilities only when asked for them."""

    def inputs(self) -> dict[str, object]:
        return {"output_attentions": True}


# What a layer may do that post-norm BERT's does not (the math view names them; the catalogues
# hold each as ``math_diff_<code>``).
DIFFERENCES = {
    "pre_norm": "a norm before attention and before the feed-forward block",
    "rotary": "rotary positions applied to q and k",
    "gated": "a gated feed-forward block",
    "window": "local layers that see a sliding window of keys",
    "grouped": "keys and values shared by groups of heads",
}
# The differences the math view's recomputation (viz.analysis.head_math) follows; a family
# with any other gets the view's notice instead of wrong numbers.
RECOMPUTED = frozenset({"pre_norm", "rotary", "gated", "window", "grouped"})
ROTARY_LAYOUTS = ("half", "interleaved")


@dataclass(frozen=True)
class Family:
    """One encoder family: how to find its layers and what each part of a layer is called."""

    model_type: str  # as in config.json
    paths: Paths
    mlm_head: tuple[str, ...] = ()  # modules of the masked-LM model, applied in order: D -> V
    config: ConfigNames = field(default_factory=ConfigNames)
    position_offset: int = 0  # positions the model reserves (RoBERTa: padding_idx + 1)
    quirks: tuple[Quirk, ...] = ()
    # Q, K, V (after rotary embeddings) and the probabilities come from transformers' attention
    # interface (viz.capture.attention), not from hooks on query/key/value/attention.
    interface: bool = False
    # Pre-norm families normalise the last layer's output once more (base-relative path);
    # transformers reports that as the last hidden state, and so does the trace.
    final_norm: str | None = None
    # How its layers differ from post-norm BERT's, the layer the math view recomputes
    # (viz.analysis.head_math); each is a DIFFERENCES code.
    differs: tuple[str, ...] = ()
    # Rotary positions: which dimensions of q and k turn together, "half" (p with p + dk/2,
    # transformers' rotate_half) or "interleaved" (2p with 2p + 1, RoFormer).
    rotary: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.differs) - set(DIFFERENCES)
        if unknown:
            raise RuntimeError(f"{self.model_type}: unknown differences {sorted(unknown)}.")
        if ("rotary" in self.differs) != (self.rotary in ROTARY_LAYOUTS):
            raise RuntimeError(f"{self.model_type}: rotary positions need a layout, and only they.")
        if ("gated" in self.differs) != (self.paths.ffn_gate is not None):
            raise RuntimeError(f"{self.model_type}: a gated block needs ffn_gate, and only it.")

    @property
    def layer_math(self) -> bool:
        """Whether the math view's step-by-step recomputation follows this family's layer."""
        return set(self.differs) <= RECOMPUTED

    def check(self, config: object) -> None:
        for quirk in self.quirks:
            quirk.check(config)

    @functools.cached_property
    def inputs(self) -> dict[str, object]:
        """Extra forward keyword arguments (read-only: shared by every capture)."""
        return {k: v for quirk in self.quirks for k, v in quirk.inputs().items()}

    @functools.cached_property
    def takes(self) -> frozenset[str]:
        return frozenset().union(*(quirk.takes for quirk in self.quirks))

    def score_factor(self, attention: nn.Module) -> int:
        return math.prod(quirk.score_factor(attention) for quirk in self.quirks)

    def layers(self, base: nn.Module) -> list[nn.Module]:
        """The distinct layer modules, in execution order (``*`` expands to every child)."""
        if self.paths.layers is None:
            return self._found_layers(base)
        found: list[nn.Module] = [base]
        for part in self.paths.layers.split("."):
            if part == "*":
                found = [child for module in found for child in module.children()]
            else:
                found = [resolve(module, part) for module in found]
        return found

    def _found_layers(self, base: nn.Module) -> list[nn.Module]:
        for module in base.modules():
            if (
                isinstance(module, nn.ModuleList)
                and len(module)
                and all(_has(layer, self.paths.attention) for layer in module)
            ):
                return list(module)
        raise UserError(
            "module_missing", path=f"*.{self.paths.attention}", module=type(base).__name__
        )

    def sizes(self, config: object) -> tuple[int, int, int, int]:
        """(L, H, D, F) from the config."""
        names = self.config
        return tuple(
            int(getattr(config, name))
            for name in (names.num_layers, names.num_heads, names.hidden_size, names.ffn_size)
        )


def _has(root: nn.Module, path: str) -> bool:
    try:
        root.get_submodule(path)
    except AttributeError:
        return False
    return True


def resolve(root: nn.Module, path: str) -> nn.Module:
    """``root.get_submodule(path)`` with an error that names the missing path."""
    try:
        return root.get_submodule(path)
    except AttributeError as err:
        raise UserError("module_missing", path=path, module=type(root).__name__) from err
