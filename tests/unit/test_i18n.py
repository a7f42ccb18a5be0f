"""The catalogues: every language has every string with the same placeholders, and every error
the core can raise has a message in every language."""

from __future__ import annotations

import string

import pytest

from viz.errors import MESSAGES
from viz.ui import i18n
from viz.ui.i18n import en, zh


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("catalogue", [zh.CATALOGUE], ids=["zh"])
def test_every_language_has_every_string_with_the_same_placeholders(catalogue):
    assert catalogue.keys() == en.CATALOGUE.keys()  # the same groups
    for group, entries in en.CATALOGUE.items():
        assert catalogue[group].keys() == entries.keys(), group
        for key, text in entries.items():
            assert text.strip() and catalogue[group][key].strip(), key
            assert fields(text) == fields(catalogue[group][key]), key


def test_every_error_code_is_translated_with_its_placeholders():
    for code, english in MESSAGES.items():
        chinese = zh.ERRORS.get(code)
        assert chinese, f"no 中文 message for the error code {code!r}"
        assert fields(chinese) == fields(english), code


def test_no_translation_of_an_error_that_does_not_exist():
    assert not set(zh.ERRORS) - set(MESSAGES)


def test_an_error_speaks_the_bound_language():
    from viz.errors import UserError

    i18n.bind("zh")
    err = UserError("not_a_model_folder", name="/nowhere")
    assert i18n.error_text(err) == zh.ERRORS["not_a_model_folder"].format(name="/nowhere")
    i18n.bind("en")
    assert i18n.error_text(err) == str(err)


def test_the_bound_language_speaks_and_falls_back_to_english():
    i18n.bind("zh")
    assert i18n.tr("title") == zh.CATALOGUE["frame"]["title"]
    i18n.bind("xx")  # unknown: English
    assert i18n.tr("title") == en.CATALOGUE["frame"]["title"]
