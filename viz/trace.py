"""The Trace: everything one forward pass computed for one input, as float32 numpy arrays.

A Trace is an immutable value. It pickles (so ``st.cache_data`` can keep it), saves to a
pickle-free ``.npz`` and checks its shapes on construction.

Shape letters, used everywhere in ``viz``: L layers, H heads, T tokens, D hidden size,
dk = D / H per-head width, F feed-forward width.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ModelFacts:
    """The configuration facts a UI needs about the model that produced a trace."""

    name: str
    model_type: str
    num_layers: int  # L
    num_heads: int  # H
    hidden_size: int  # D
    head_dim: int  # dk
    ffn_size: int  # F
    activation: str
    max_tokens: int
    layer_norm_eps: float
    has_mlm_head: bool = False
    shared_layers: bool = False  # ALBERT: one set of weights for every layer
    score_factor: int = 1  # scores are Q·Kᵀ/√(dk·score_factor) (DeBERTa: 3)


CAPTURED = (
    "hidden_states",
    "attentions",
    "queries",
    "keys",
    "values",
    "attn_context",
    "attn_outputs",
    "ffn_activations",
    "ffn_outputs",
)


@dataclass(frozen=True, eq=False)
class Trace:
    """One input through the encoder.

    Arrays (float32 unless noted):
        hidden_states   [L+1, T, D]  index 0 = embedding output, i = output of layer i-1... as HF
        attentions      [L, H, T, T] softmax probabilities, rows sum to 1
        queries/keys/values [L, H, T, dk]
        attn_context    [L, T, D]    heads concatenated, before the output projection
        attn_outputs    [L, T, D]    what attention adds to the residual stream
        ffn_activations [L, T, F]    after the nonlinearity
        ffn_outputs     [L, T, D]    what the feed-forward block adds to the residual stream
        attn_bias       None, or the relative-position term added to the scores: [H, T, T]
                        for every layer (MPNet), [L, H, T, T] one per layer (DeBERTa)
    Token arrays, [T]: token_ids (int64), special (bool), word_ids (int64, -1 for special
    tokens, unique across a pair), segment_ids (int64: 0 first sentence, 1 second), offsets
    [T, 2] (character spans into ``text`` or ``pair``).

    A trace made with ``trace(..., only=...)`` holds only the arrays asked for; the others are
    None (``captured`` lists what it holds). The app's views all use full traces.
    """

    facts: ModelFacts
    text: str
    pair: str | None
    tokens: tuple[str, ...]
    token_ids: np.ndarray
    special: np.ndarray
    word_ids: np.ndarray
    segment_ids: np.ndarray
    offsets: np.ndarray
    dropped_tokens: int
    # None when the trace was made with only some of them (``trace(..., only=...)``)
    hidden_states: np.ndarray | None = None
    attentions: np.ndarray | None = None
    queries: np.ndarray | None = None
    keys: np.ndarray | None = None
    values: np.ndarray | None = None
    attn_context: np.ndarray | None = None
    attn_outputs: np.ndarray | None = None
    ffn_activations: np.ndarray | None = None
    ffn_outputs: np.ndarray | None = None
    attn_bias: np.ndarray | None = None
    display_tokens: tuple[str, ...] = field(default=())
    dropped_chars: int = 0  # characters of a huge paste never tokenised (see tokens.MAX_CHARS)

    def __post_init__(self) -> None:
        f = self.facts
        L, H, dk, D, F = f.num_layers, f.num_heads, f.head_dim, f.hidden_size, f.ffn_size
        T = len(self.tokens)
        expected = {
            "token_ids": (T,),
            "special": (T,),
            "word_ids": (T,),
            "segment_ids": (T,),
            "offsets": (T, 2),
            "hidden_states": (L + 1, T, D),
            "attentions": (L, H, T, T),
            "queries": (L, H, T, dk),
            "keys": (L, H, T, dk),
            "values": (L, H, T, dk),
            "attn_context": (L, T, H * dk),
            "attn_outputs": (L, T, D),
            "ffn_activations": (L, T, F),
            "ffn_outputs": (L, T, D),
        }
        expected["attn_bias"] = (L, H, T, T) if np.ndim(self.attn_bias) == 4 else (H, T, T)
        present = {n: getattr(self, n) for n in expected if getattr(self, n) is not None}
        if not present.keys() & set(CAPTURED):
            raise ValueError("A Trace needs at least one captured array.")
        for name, array in present.items():
            if array.shape != expected[name]:
                raise ValueError(
                    f"Trace.{name} has shape {array.shape}, expected {expected[name]}."
                )
            array.flags.writeable = False  # immutable all the way down
        if not self.display_tokens:
            object.__setattr__(self, "display_tokens", tuple(self.tokens))

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    def score_bias(self, layer: int) -> np.ndarray | None:
        """[H, T, T]: the relative-position term added to layer ``layer``'s scores, or None."""
        if self.attn_bias is None:
            return None
        return self.attn_bias[layer] if self.attn_bias.ndim == 4 else self.attn_bias

    @property
    def captured(self) -> tuple[str, ...]:
        """The names of the layer arrays this trace holds (all nine unless made with ``only``)."""
        return tuple(n for n in CAPTURED if getattr(self, n) is not None)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (what a cache entry costs)."""
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray))

    def to_npz_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.save_npz(buffer)
        return buffer.getvalue()

    def save_npz(self, path: str | Path | io.BytesIO) -> None:
        """Write every array plus tokens and facts; readable with ``np.load`` (no pickle)."""
        arrays = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        np.savez(  # uncompressed: float activations barely compress and zlib is slow
            path,
            tokens=np.array(self.tokens, dtype=str),
            display_tokens=np.array(self.display_tokens, dtype=str),
            text=np.array(self.text),
            pair=np.array(self.pair if self.pair is not None else ""),
            dropped_tokens=np.array(self.dropped_tokens),
            dropped_chars=np.array(self.dropped_chars),
            facts_json=np.array(json.dumps(asdict(self.facts))),
            **arrays,
        )

    @classmethod
    def load_npz(cls, path: str | Path) -> Trace:
        with np.load(path, allow_pickle=False) as data:
            facts = ModelFacts(**json.loads(str(data["facts_json"])))
            pair = str(data["pair"])
            scalars = (
                "tokens",
                "display_tokens",
                "text",
                "pair",
                "dropped_tokens",
                "dropped_chars",
            )
            arrays = {
                f.name: data[f.name]
                for f in fields(cls)
                if f.name in data.files and f.name not in scalars
            }
            return cls(
                facts=facts,
                text=str(data["text"]),
                pair=pair or None,
                tokens=tuple(str(t) for t in data["tokens"]),
                display_tokens=tuple(str(t) for t in data["display_tokens"]),
                dropped_tokens=int(data["dropped_tokens"]),
                dropped_chars=int(data["dropped_chars"]) if "dropped_chars" in data.files else 0,
                **arrays,
            )
