"""Reading a corpus: one text per line (.txt), or a column of a .csv, .jsonl or .parquet file."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from viz.errors import UserError
from viz.tokens import MAX_CHARS

SUFFIXES = (".txt", ".csv", ".jsonl", ".parquet")


@dataclass(frozen=True)
class Corpus:
    """The texts in input order (line i of the index is ``texts[i]``) and their labels."""

    texts: list[str]
    labels: list[str] | None = None
    not_text: int = 0  # rows of a table whose text is missing, null or not a string: blank


def _columns_check(path: Path, columns: list[str], wanted: str | None, option: str) -> None:
    if wanted is not None and wanted not in columns:
        raise UserError(
            "corpus_column_missing",
            path=str(path),
            column=wanted,
            option=option,
            columns=", ".join(columns) or "none",
        )


def _label(value: object) -> str:
    return "" if value is None else str(value)


def _texts(values: list) -> tuple[list[str], int]:
    """A table's texts, each cut one character past the app's limit (as ``.txt`` lines are, so
    that the cut is counted), and how many values were no text (missing, null, a number, a
    list...): those are blank lines, a number's digits or a list's repr being no text."""
    texts = [v[: MAX_CHARS + 1] if isinstance(v, str) else "" for v in values]
    return texts, sum(1 for v in values if not isinstance(v, str))


def read_corpus(path: Path, text_column: str | None = None, label_column: str | None = None):
    """A ``Corpus`` from ``path``; a table's text column defaults to ``text``. Texts are cut one
    character past the app's character limit (the extraction cuts them further to the token
    limit, and counts the cuts: ``count_cuts``)."""
    path = Path(path)
    if path.is_dir():
        raise UserError("input_is_folder", path=str(path))
    if not path.is_file():
        raise UserError("input_missing", path=str(path))
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError("corpus_format", path=str(path), suffixes=", ".join(SUFFIXES))
    if suffix == ".txt":
        if text_column or label_column:
            raise UserError("corpus_txt_columns", path=str(path))
        from viz.cli import _lines, _not_utf8

        try:
            texts = list(_lines(path, MAX_CHARS))
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        return _checked(path, Corpus(texts))
    text_column = text_column or "text"
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except Exception as err:  # pyarrow raises several types for a file that is not Parquet
            raise UserError("corpus_unreadable", path=str(path), detail=str(err)) from None
        _columns_check(path, names, text_column, "--text-column")
        _columns_check(path, names, label_column, "--label-column")
        wanted = [text_column] + ([label_column] if label_column else [])
        table = pq.read_table(path, columns=wanted)
        texts, not_text = _texts(table.column(text_column).to_pylist())
        labels = None
        if label_column:
            labels = [_label(v) for v in table.column(label_column).to_pylist()]
        return _checked(path, Corpus(texts, labels, not_text))
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = _csv_rows(path, f) if suffix == ".csv" else _jsonl_rows(path, f)
    except UnicodeDecodeError:
        from viz.cli import _not_utf8

        raise _not_utf8(path) from None
    columns = list(dict.fromkeys(k for row in rows for k in row))  # first seen, first
    _columns_check(path, columns, text_column, "--text-column")
    _columns_check(path, columns, label_column, "--label-column")
    texts, not_text = _texts([row.get(text_column) for row in rows])
    labels = [_label(row.get(label_column)) for row in rows] if label_column else None
    return _checked(path, Corpus(texts, labels, not_text))


def _csv_rows(path: Path, f) -> list[dict]:
    try:
        return list(csv.DictReader(f))
    except csv.Error as err:
        raise UserError("corpus_unreadable", path=str(path), detail=str(err)) from None


def _jsonl_rows(path: Path, f) -> list[dict]:
    rows = []
    for number, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise UserError(
                "corpus_jsonl_line", path=str(path), line=number, detail=str(err)
            ) from None
        if not isinstance(row, dict):
            raise UserError(
                "corpus_jsonl_line", path=str(path), line=number, detail="not a JSON object"
            )
        rows.append(row)
    return rows


def _checked(path: Path, corpus: Corpus) -> Corpus:
    if not corpus.texts:
        raise UserError("input_empty", path=str(path))
    return corpus
