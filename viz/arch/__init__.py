"""The encoder families the explorer captures, one module each, and the registry of them.

Every module in this package that defines ``FAMILY`` (a ``viz.arch.family.Family``) is a
family, found by name: adding one is a new module here plus its tiny config in
``tests/drivers.py`` (``TINY_CONFIGS``; a test fails when either is missing).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from viz.arch.family import (
    LAYER_POINTS,
    AskForAttentions,
    ConfigNames,
    Family,
    Hook,
    Paths,
    Quirk,
    resolve,
)
from viz.errors import UserError

__all__ = [
    "DECODER_ONLY",
    "LAYER_POINTS",
    "AskForAttentions",
    "ConfigNames",
    "Family",
    "Hook",
    "Paths",
    "Quirk",
    "families",
    "family_for",
    "family_of",
    "resolve",
    "supported_types",
]

# Model types refused with a message saying why: they read left to right only.
DECODER_ONLY = frozenset(
    {
        "gpt2",
        "gpt_neo",
        "gptj",
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "phi",
        "opt",
        "bloom",
        "falcon",
        "gemma",
        "gemma2",
        "gemma3",
        "mixtral",
        "olmo",
        "smollm3",
    }
)


@functools.cache
def families() -> dict[str, Family]:
    """Every family, by ``model_type``, in name order."""
    found: dict[str, Family] = {}
    for info in pkgutil.iter_modules(__path__):
        family = getattr(importlib.import_module(f"{__name__}.{info.name}"), "FAMILY", None)
        if family is None:
            continue
        if family.model_type in found:
            raise RuntimeError(f"Two modules in viz.arch define {family.model_type!r}.")
        found[family.model_type] = family
    return dict(sorted(found.items()))


def supported_types() -> str:
    return ", ".join(families())


def family_for(model_type: str) -> Family:
    """The family of ``model_type``; a ``UserError`` naming the supported ones otherwise."""
    known = families()
    if model_type in known:
        return known[model_type]
    code = "decoder_only" if model_type in DECODER_ONLY else "unsupported_type"
    raise UserError(code, model_type=model_type, supported=supported_types())


def family_of(config: object) -> Family:
    """The family of a model config, after its quirks have checked that it can be captured."""
    family = family_for(config.model_type)
    family.check(config)
    return family
