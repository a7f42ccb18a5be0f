"""Switching heads off: a pre-hook on each attention output projection zeroes the heads'
slices of its input (the concatenated heads), so later layers see the change."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from viz.errors import UserError


def heads_off_hook(
    ablate: frozenset[tuple[int, int]],
    each_head: tuple[int, int] | None,
    num_heads: int,
    head_dim: int,
) -> Callable:
    """The pre-hook for every layer's output projection (see ``capture`` for ``ablate`` and
    ``each_head``). Layers are counted by call, which tells ALBERT's shared layer apart.
    A head outside 0..H-1 is the user's mistake, refused before any hook is registered."""
    H, dk = num_heads, head_dim
    heads = [h for _, h in ablate] + ([each_head[1]] if each_head else [])
    if any(not (0 <= h < H) for h in heads):
        raise UserError("head_out_of_range", num_heads=H)

    def heads_off(layer: int) -> list[tuple[int | slice, int]]:
        """(batch rows, head) pairs to zero at this layer."""
        off: list[tuple[int | slice, int]] = [(slice(None), h) for lay, h in ablate if lay == layer]
        if each_head is not None and each_head[0] == layer:
            off += [(row, head) for row, head in enumerate(range(each_head[1], H))]
        return off

    calls = [0]  # output-projection calls so far: the layer being run

    def hook(module: nn.Module, args: tuple) -> tuple:
        layer = calls[0]
        calls[0] += 1
        off = heads_off(layer)
        if not off:
            return args
        context = args[0].clone()  # [B, T, H*dk]
        for rows, h in off:
            if isinstance(rows, slice) or rows < context.shape[0]:
                context[rows, :, h * dk : (h + 1) * dk] = 0.0
        return (context, *args[1:])

    return hook
