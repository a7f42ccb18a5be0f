"""Why this output: gradient attributions to the input tokens, and context mixing per layer.

``attribute_gradient(encoder, text, pair, method, target)`` (``gradients.py``): one score per
input token for a target (``targets.py``): gradient x input, Integrated Gradients (Captum) and
attention x gradient. ``mixing(encoder, trace, method)`` (``mixing.py``): [L, T, T] from a
trace's captured arrays: the norm-based analysis with residual and LayerNorm, GlobEnc, ALTI
and Value Zeroing, with their rollouts. ``agreement.py``: rank agreement between measures.

``METHODS`` is the one table of methods: its name on the command line, its kind, its paper,
and whether it is slow (run on demand in the app).
"""

from __future__ import annotations

from dataclasses import dataclass

from viz.attribution.targets import TARGET_KINDS, Target, parse_target


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # "gradient" (one score per token, for a target) or "mixing" ([L, T, T])
    paper: str
    slow: bool = False


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "grad_input",
            "gradient",
            "gradient x input (Shrikumar et al. 2017, 'Learning Important Features Through "
            "Propagating Activation Differences'; Captum InputXGradient)",
        ),
        Method(
            "integrated_gradients",
            "gradient",
            "Integrated Gradients (Sundararajan et al. 2017, 'Axiomatic Attribution for Deep "
            "Networks'; Captum IntegratedGradients)",
            slow=True,
        ),
        Method(
            "attn_grad",
            "gradient",
            "attention x gradient, gradient-weighted rollout (Chefer et al. 2021, 'Generic "
            "Attention-model Explainability for Interpreting Bi-Modal and Encoder-Decoder "
            "Transformers')",
        ),
        Method(
            "norm_residual",
            "mixing",
            "norm-based with residual and LayerNorm (Kobayashi et al. 2021, 'Incorporating "
            "Residual and Normalization Layers into Analysis of Masked Language Models')",
        ),
        Method(
            "globenc",
            "mixing",
            "GlobEnc (Modarressi et al. 2022, 'GlobEnc: Quantifying Global Token Attribution "
            "by Incorporating the Whole Encoder Layer in Transformers'), with rollout",
        ),
        Method(
            "alti",
            "mixing",
            "ALTI (Ferrando et al. 2022, 'Measuring the Mixing of Contextual Information in "
            "the Transformer'), with rollout",
        ),
        Method(
            "value_zeroing",
            "mixing",
            "Value Zeroing (Mohebbi et al. 2023, 'Quantifying Context Mixing in Transformers'), "
            "with rollout",
            slow=True,
        ),
    )
}

__all__ = ["METHODS", "TARGET_KINDS", "Method", "Target", "parse_target"]
