"""How layers and heads are spelled everywhere: menus, axes, tables, file names, the CLI.

Layers are numbered as the hidden states are: 0 is the embedding output (``emb``), 1..L the
layers' outputs (``L1`` .. ``LL``). Heads are 1-based (``H1``); a head of a layer is ``L3H4``.
Everything that shows or reads such a name goes through this module.
"""

from __future__ import annotations

import re

EMBEDDINGS = "emb"
_HEAD = re.compile(r"^L(\d+)H(\d+)$")
_LAYER = re.compile(r"^L(\d+)$")


def layer_name(layer: int) -> str:
    """0 -> 'emb', 3 -> 'L3' (hidden-state numbering: 0 is the embedding output)."""
    return EMBEDDINGS if layer == 0 else f"L{layer}"


def layer_names(num_layers: int, with_embeddings: bool = True) -> list[str]:
    """['emb', 'L1', ..., 'LL'], or ['L1', ..., 'LL'] without the embeddings."""
    first = 0 if with_embeddings else 1
    return [layer_name(i) for i in range(first, num_layers + 1)]


def head_label(head: int) -> str:
    """4 -> 'H4' (1-based)."""
    return f"H{head}"


def head_labels(num_heads: int) -> list[str]:
    return [head_label(h) for h in range(1, num_heads + 1)]


def head_name(layer: int, head: int) -> str:
    """'L3H4': layer 3, head 4 (both 1-based)."""
    return f"L{layer}H{head}"


def head_names(num_layers: int, num_heads: int) -> list[str]:
    """Every head's name in flat order: index ``layer * num_heads + head`` (0-based)."""
    return [head_name(i + 1, h + 1) for i in range(num_layers) for h in range(num_heads)]


def parse_head(name: str) -> tuple[int, int] | None:
    """'L3H4' -> (3, 4), 1-based; None for anything else."""
    match = _HEAD.match(name.strip())
    return (int(match[1]), int(match[2])) if match else None


def parse_layer(name: str) -> int | None:
    """'emb' -> 0, 'L3' -> 3, '3' -> 3; None for anything else."""
    name = name.strip()
    if name == EMBEDDINGS:
        return 0
    match = _LAYER.match(name)
    if match:
        return int(match[1])
    return int(name) if name.isdigit() else None
