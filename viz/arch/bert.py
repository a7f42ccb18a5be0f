"""BERT (``BertModel``): the layout RoBERTa, XLM-RoBERTa, ELECTRA and DeBERTa-v2 copy."""

from viz.arch.family import Family, Paths

PATHS = Paths(
    layers="encoder.layer.*",
    attention="attention.self",
    query="attention.self.query",
    key="attention.self.key",
    value="attention.self.value",
    attn_out="attention.output.dense",
    attn_norm="attention.output.LayerNorm",
    ffn_in="intermediate.dense",
    ffn_out="output.dense",
    ffn_norm="output.LayerNorm",
)

FAMILY = Family("bert", PATHS, mlm_head=("cls",))
