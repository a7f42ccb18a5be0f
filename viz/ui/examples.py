"""Example inputs the pages start from, per language."""

from __future__ import annotations

EXAMPLES = [
    "The bank by the river flooded, so the bank on Main Street closed early.",
    "The animal didn't cross the street because it was too tired.",
    "我们在河边的银行门口见面，然后去银行存钱。",
    "She saw the saw that he saw on the table.",
    "Transformers process every token of a sentence in parallel.",
]
FIRST_EXAMPLE = {"en": EXAMPLES[0], "zh": EXAMPLES[2]}  # the sidebar's sentence, per language


def first_example(lang: str | None) -> str:
    """The sentence a page opens with in ``lang`` (English for an unknown one)."""
    return FIRST_EXAMPLE.get(lang or "en", FIRST_EXAMPLE["en"])


CONTRAST_EXAMPLES = {  # (sentences, the shared word) per language
    "en": (
        "We sat on the bank of the river and watched the boats.\n"
        "I deposited my salary at the bank this morning.\n"
        "The river bank was muddy after the storm.\n"
        "The bank raised its interest rates again.",
        "bank",
    ),
    "zh": (  # 花: to spend / a flower
        "我花了很多钱买这本书。\n他每个月都要花掉一半的工资。\n花园里的花都开了。\n她送给我一束红色的花。",
        "花",
    ),
}
