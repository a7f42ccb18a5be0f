"""The Trace: everything one forward pass computed for one input, as float32 numpy arrays.

A Trace is an immutable value. It pickles (so ``st.cache_data`` can keep it), saves to a
pickle-free ``.npz`` and checks its shapes on construction.

``ARRAYS`` is the one table of the arrays a capture makes: each one's name (the Trace field and
the ``.npz`` key), its shape in the letters of ``LETTERS``, the capture kind whose hooks fill it
(``viz.capture``) and what it holds. Preallocation, the shape checks, ``--only`` and the CLI's
help all read it.

Calling this module runs a trace: ``viz.trace(encoder, text)`` is ``viz.capture.trace``.
"""

from __future__ import annotations

import functools
import io
import json
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from viz.errors import UserError

# The shape letters, used everywhere in viz.
LETTERS = {
    "L": "layers",
    "H": "heads",
    "T": "tokens",
    "D": "hidden size",
    "dk": "head width (D / H)",
    "F": "feed-forward width",
}


def _terms(shape: str) -> tuple[tuple[str | None, int], ...]:
    """'L+1 T D' -> (('L', 1), ('T', 0), ('D', 0)); a number is (None, n)."""
    out = []
    for term in shape.split():
        letter, _, extra = term.partition("+")
        if letter.isdigit():
            out.append((None, int(letter)))
        elif letter in LETTERS:
            out.append((letter, int(extra or 0)))
        else:
            raise ValueError(f"Unknown shape letter {letter!r} in {shape!r}.")
    return tuple(out)


def _dims(terms: tuple[tuple[str | None, int], ...], sizes: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(n if letter is None else sizes[letter] + n for letter, n in terms)


def shape_of(shape: str, sizes: Mapping[str, int]) -> tuple[int, ...]:
    """The shape letters ``shape`` (e.g. 'L+1 T D') with ``sizes`` put in for the letters."""
    return _dims(_terms(shape), sizes)


@dataclass(frozen=True)
class Array:
    """One captured array: one row of ``ARRAYS``."""

    name: str  # the Trace field and the .npz key
    shape: str  # in LETTERS, e.g. "L+1 T D"
    kind: str  # the capture kind whose hooks fill it (viz.capture)
    meaning: str

    @functools.cached_property
    def terms(self) -> tuple[tuple[str | None, int], ...]:
        return _terms(self.shape)

    def dims(self, sizes: Mapping[str, int]) -> tuple[int, ...]:
        """The shape for these sizes of the letters (``ModelFacts.sizes``)."""
        return _dims(self.terms, sizes)


ARRAYS: tuple[Array, ...] = (
    Array("hidden_states", "L+1 T D", "hidden", "index 0 = embedding output, i = layer i's output"),
    Array("attentions", "L H T T", "probs", "softmax attention probabilities, rows sum to 1"),
    Array("queries", "L H T dk", "q", "queries per head, before scaling (after rotary, if any)"),
    Array("keys", "L H T dk", "k", "keys per head (after rotary; shared ones repeated per head)"),
    Array("values", "L H T dk", "v", "values per head"),
    Array("attn_context", "L T D", "ctx", "heads concatenated, before the output projection"),
    Array("attn_outputs", "L T D", "attn_out", "what attention adds to the residual stream"),
    Array(
        "ffn_activations",
        "L T F",
        "act",
        "the feed-forward activation, after the nonlinearity (gated: times the gate)",
    ),
    Array(
        "ffn_outputs", "L T D", "ffn_out", "what the feed-forward block adds to the residual stream"
    ),
)
CAPTURED = tuple(a.name for a in ARRAYS)  # the Trace fields a capture fills, in table order
KINDS = tuple(a.kind for a in ARRAYS)
FIELDS = {a.kind: a.name for a in ARRAYS}  # capture kind -> Trace field
# Per token, and the relative-position term some families add (one shared or one per layer).
TOKEN_ARRAYS = {
    "token_ids": "T",
    "special": "T",
    "word_ids": "T",
    "segment_ids": "T",
    "offsets": "T 2",
}
ATTN_BIAS = {3: "H T T", 4: "L H T T"}  # by number of dimensions: MPNet, DeBERTa
_SHAPES = {  # parsed once: every trace is checked against them
    **{name: _terms(shape) for name, shape in TOKEN_ARRAYS.items()},
    **{a.name: a.terms for a in ARRAYS},
}
_BIAS_SHAPES = {ndim: _terms(shape) for ndim, shape in ATTN_BIAS.items()}


def kinds_of(names: Iterable[str]) -> tuple[str, ...]:
    """The capture kinds that fill these Trace fields (e.g. ``("hidden_states",)``), in table
    order; a name that is not a captured array raises ``UserError`` listing them."""
    wanted = set(names)
    choices = ", ".join(CAPTURED)
    if not wanted:
        raise UserError("capture_nothing", choices=choices)
    unknown = sorted(wanted - set(CAPTURED))
    if unknown:
        raise UserError("capture_unknown", names=", ".join(unknown), choices=choices)
    return tuple(a.kind for a in ARRAYS if a.name in wanted)


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

    def sizes(self, num_tokens: int) -> dict[str, int]:
        """The value of every shape letter for an input of ``num_tokens`` tokens."""
        return {
            "L": self.num_layers,
            "H": self.num_heads,
            "T": num_tokens,
            "D": self.hidden_size,
            "dk": self.head_dim,
            "F": self.ffn_size,
        }


@dataclass(frozen=True, eq=False)
class Trace:
    """One input through the encoder.

    Arrays (float32): one field per row of ``ARRAYS``, and ``attn_bias``: None, or the
    relative-position term added to the scores, [H, T, T] for every layer (MPNet) or
    [L, H, T, T] one per layer (DeBERTa).
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
        sizes = self.facts.sizes(len(self.tokens))
        shapes = {**_SHAPES, "attn_bias": _BIAS_SHAPES[4 if np.ndim(self.attn_bias) == 4 else 3]}
        present = {n: getattr(self, n) for n in shapes if getattr(self, n) is not None}
        if not present.keys() & set(CAPTURED):
            raise ValueError("A Trace needs at least one captured array.")
        for name, array in present.items():
            expected = _dims(shapes[name], sizes)
            if array.shape != expected:
                raise ValueError(f"Trace.{name} has shape {array.shape}, expected {expected}.")
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
        """The names of the captured arrays this trace holds (all of ``ARRAYS`` unless made with
        ``only``)."""
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


class _CallableModule(types.ModuleType):
    """This module, callable: ``viz.trace`` names both this module (``viz.trace.Trace``) and the
    public function (``viz.trace(encoder, text)``), since Python binds a package's attribute to
    its submodule of that name once the submodule is imported."""

    def __call__(self, *args, **kwargs) -> Trace:
        import viz.capture  # torch: only once a trace is asked for

        return viz.capture.trace(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
