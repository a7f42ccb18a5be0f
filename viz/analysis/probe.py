"""Which layer should I use? Read a labelled CSV, then score every layer and pooling with a
cross-validated logistic-regression probe (as in Tenney et al. 2019's layer-wise probing)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from viz.errors import UserError

# Megabytes as the file uploader counts them (10**6 bytes: "5.0MB"), so the two limits agree.
MAX_UPLOAD_MB = 5
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 10**6
MAX_ROWS = 5000
MAX_FOLDS = 5
# A probe reads each text up to this many tokens ([CLS]/[SEP] included): a sentence-level
# probe needs the gist, and a 512-token text costs the model 4-5x a 128-token one.
TEXT_TOKENS = 128
# A run reads at most this many tokens (after the cut): about a minute of the bundled model on
# two CPU cores, while a 5,000-row file of long texts would be half an hour.
TOKEN_BUDGET = 100_000
MIN_PER_LABEL = 2  # the fewest examples of a label that cross-validation can split


@dataclass(frozen=True)
class LabelledTexts:
    texts: tuple[str, ...]
    labels: tuple[str, ...]
    skipped_rows: int  # rows with an empty text or label

    @property
    def classes(self) -> Counter:
        return Counter(self.labels)

    def subset(self, rows: np.ndarray) -> LabelledTexts:
        """The texts and labels of ``rows`` (indexes, in the order given)."""
        return LabelledTexts(
            tuple(self.texts[i] for i in rows), tuple(self.labels[i] for i in rows), 0
        )


def check_size(size: int, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
    """Refuse a file by its size alone, before it is read."""
    if size > max_bytes:
        shown = f"{size / 10**6:.1f}"
        if float(shown) <= max_bytes / 10**6:  # "5.0 MB; the limit is 5 MB" reads as allowed
            shown = f"{size / 10**6:.6f}".rstrip("0")
        raise UserError("csv_too_large", size_mb=shown, limit_mb=f"{max_bytes / 10**6:g}")


def _ends_in_quotes(record: str) -> bool:
    """Whether the raw text of one CSV record (excel dialect, as ``csv`` reads it when not
    strict) ends inside a quoted field: a quote opened and never closed."""
    inside = after_quote = False
    start = True  # at the start of a field
    for c in record:
        if inside:
            if c == '"':
                inside, after_quote = False, True
        elif after_quote and c == '"':  # "" inside a quoted field: a literal quote
            inside, after_quote = True, False
        else:
            if start and c == '"':
                inside = True
            after_quote = False
            start = c in ",\r\n"
    return inside


def _records(content: str, max_rows: int) -> tuple[list[list[str]], int]:
    """The CSV's first ``max_rows + 1`` records (the header first) and how many records follow
    the header: past ``max_rows`` they are counted, not kept (5 MB of blank lines is 5 million
    records). Lines may end in LF, CR LF or CR alone (old Mac spreadsheets)."""
    lines = io.StringIO(content, newline="")  # any line ending; csv joins a quoted field's lines
    held = [[]]  # the raw lines of the record being read

    def feed() -> Iterator[str]:
        for line in lines:
            held[0].append(line)
            yield line

    reader = csv.reader(feed())
    kept: list[list[str]] = []
    count, last, last_line = -1, [], 1
    while True:
        if count == max_rows:  # any more records are only counted, at the csv module's pace
            try:
                count += sum(1 for _ in csv.reader(lines))
            except csv.Error:
                count += 1  # at least one more, which is enough to refuse the file
            return kept, count
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            if _ends_in_quotes("".join(held[0])):  # an open quote ran into the field size limit
                raise UserError("csv_open_quote", line=line) from None
            raise UserError("csv_unreadable", detail=str(err)) from None
        count += 1
        kept.append(row)
        last, last_line, held[0] = held[0], line, []
    if last and _ends_in_quotes("".join(last)):  # csv reads an open quote to the end of the file
        raise UserError("csv_open_quote", line=last_line)
    return kept, max(count, 0)


def read_labelled_csv(
    data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_rows: int = MAX_ROWS
) -> LabelledTexts:
    """Parse a ``text,label`` CSV. Every problem is a ``UserError`` saying what to fix."""
    check_size(len(data), max_bytes)
    if not data.strip():
        raise UserError("csv_empty")
    if b"\x00" in data[:65536]:
        raise UserError("csv_binary")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError("csv_not_utf8", byte=err.start) from None
    rows, body_count = _records(content, max_rows)
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "text" not in header or "label" not in header:
        if not header:
            raise UserError("csv_no_header")
        raise UserError("csv_columns", header=", ".join(repr(h) for h in header[:6]))
    ti, li = header.index("text"), header.index("label")
    if body_count > max_rows:
        raise UserError("csv_too_many_rows", rows=body_count, limit=max_rows)
    texts, labels, skipped = [], [], 0
    for row in rows[1:]:
        text = row[ti].strip() if len(row) > ti else ""
        label = row[li].strip() if len(row) > li else ""
        if text and label:
            texts.append(text)
            labels.append(label)
        else:
            skipped += 1
    result = LabelledTexts(tuple(texts), tuple(labels), skipped)
    classes = result.classes
    if not classes:
        raise UserError("csv_no_rows")
    if len(classes) < 2:
        raise UserError("csv_one_label", label=repr(next(iter(classes))))
    smallest = min(classes.values())
    if smallest < MIN_PER_LABEL:
        rare = [k for k, n in classes.items() if n < MIN_PER_LABEL]
        code = "csv_rare_label" if len(rare) == 1 else "csv_rare_labels"
        raise UserError(code, labels=", ".join(map(repr, rare[:5])))
    return result


def within_budget(
    labels: tuple[str, ...] | list[str],
    tokens: np.ndarray,
    budget: int = TOKEN_BUDGET,
    max_rows: int = MAX_ROWS,
    seed: int = 0,
) -> np.ndarray:
    """Indexes (ascending) of the rows a probe run reads, given each row's ``tokens`` [N]: all
    of them when they fit ``budget`` and ``max_rows``; else a seeded random sample that keeps
    each label's share of the rows, as many rows as fit both, and at least ``MIN_PER_LABEL``
    of every label."""
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.sum() <= budget and len(tokens) <= max_rows:
        return np.arange(len(tokens))
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    share = np.empty(len(labels))  # the k-th drawn row of a label of n rows sits at (k + 0.5) / n
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        share[rng.permutation(rows)] = (np.arange(len(rows)) + 0.5) / len(rows)
    order = np.lexsort((rng.random(len(labels)), share))  # labels interleaved by their share
    take = set(order[np.cumsum(tokens[order]) <= budget][:max_rows].tolist())
    for label in np.unique(labels):
        short = MIN_PER_LABEL - sum(labels[i] == label for i in take)
        if short > 0:
            take.update([i for i in order if labels[i] == label and i not in take][:short])
    return np.array(sorted(take), dtype=np.int64)


@dataclass(frozen=True)
class ProbeScore:
    pooling: str
    layer: int  # 0 = embeddings
    mean: float
    std: float
    folds: int


def probe_layers(
    features: dict[str, np.ndarray],
    labels: tuple[str, ...] | list[str],
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> list[ProbeScore]:
    """features[pooling]: [N, K, D] -> a cross-validated accuracy per (pooling, layer).

    Standardised features, L2-regularised logistic regression, stratified k-fold (k = 5, or
    fewer when the smallest class is smaller), the same folds for every layer."""
    y = np.asarray(labels)
    folds = min(MAX_FOLDS, min(Counter(labels).values()))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    jobs = [(pooling, layer) for pooling, x in features.items() for layer in range(x.shape[1])]
    scores = []
    with threadpool_limits(limits=1):
        for done, (pooling, layer) in enumerate(jobs):
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
            acc = cross_val_score(model, features[pooling][:, layer], y, cv=splitter)
            scores.append(ProbeScore(pooling, layer, float(acc.mean()), float(acc.std()), folds))
            if progress:
                progress((done + 1) / len(jobs))
    return scores


def best(scores: list[ProbeScore]) -> ProbeScore:
    """Highest mean accuracy; ties go to the earlier (cheaper) layer."""
    return max(scores, key=lambda s: (round(s.mean, 6), -s.layer))
