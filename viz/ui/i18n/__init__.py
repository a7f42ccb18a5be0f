"""The pages' strings in every language, from per-language catalogues grouped by page.

``bind(lang)`` once at the start of a run; ``tr(key, **values)`` then speaks that language
everywhere in the run, without a language argument threaded through every call. Each session's
run has its own binding (a context variable), so two visitors in two languages never mix.
A key missing from a catalogue falls back to English; a test keeps every catalogue complete.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from viz.errors import MESSAGES, UserError
from viz.ui.i18n import en, zh

LANGUAGES = {"en": "English", "zh": "中文"}
_CATALOGUES = {"en": en.CATALOGUE, "zh": zh.CATALOGUE}


def _flatten(groups: dict[str, dict[str, str]]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for group, entries in groups.items():
        for key, text in entries.items():
            if key in flat:
                raise KeyError(f"String {key!r} is in two groups of a catalogue ({group}).")
            flat[key] = text
    return flat


STRINGS: dict[str, dict[str, str]] = {lang: _flatten(c) for lang, c in _CATALOGUES.items()}
# Messages of the core's errors: English from viz.errors, other languages from their ERRORS.
STRINGS["en"].update({f"error_{code}": text for code, text in MESSAGES.items()})
STRINGS["zh"].update({f"error_{code}": text for code, text in zh.ERRORS.items()})

_language: ContextVar[str] = ContextVar("language", default="en")


def bind(lang: str) -> str:
    """Speak ``lang`` for the rest of this run (an unknown language means English)."""
    lang = lang if lang in LANGUAGES else "en"
    _language.set(lang)
    return lang


def language() -> str:
    return _language.get()


def has(key: str) -> bool:
    return key in STRINGS["en"]


def tr(key: str, **values: object) -> str:
    """The string ``key`` in the bound language, filled with ``values``."""
    return tr_in(_language.get(), key, **values)


def tr_in(lang: str, key: str, **values: object) -> str:
    text = STRINGS.get(lang, {}).get(key) or STRINGS["en"][key]
    return text.format(**values) if values else text


def error_text(err: UserError) -> str:
    """A core error in the bound language (its English message when no translation exists)."""
    key = f"error_{err.code}"
    params = {k: error_text(v) if isinstance(v, UserError) else v for k, v in err.params.items()}
    return tr(key, **params) if has(key) else str(err)


def labeller(key_of: Callable[[object], str | None]) -> Callable[[object], str]:
    """A choice widget's ``format_func`` in the bound language: option -> the string named by
    ``key_of(option)``, or the option itself when that is None. The language is taken now,
    since Streamlit may format options outside the run (when a choice is restored or tested)."""
    lang = _language.get()

    def label(option: object) -> str:
        key = key_of(option)
        return str(option) if key is None else tr_in(lang, key)

    return label
