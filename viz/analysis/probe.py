"""Which layer should I use? Read a labelled CSV, then score every layer and pooling with a
cross-validated logistic-regression probe (as in Tenney et al. 2019's layer-wise probing)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from viz.errors import UserError

MAX_UPLOAD_BYTES = 5 * 2**20
MAX_ROWS = 5000
MAX_FOLDS = 5


@dataclass(frozen=True)
class LabelledTexts:
    texts: tuple[str, ...]
    labels: tuple[str, ...]
    skipped_rows: int  # rows with an empty text or label

    @property
    def classes(self) -> Counter:
        return Counter(self.labels)


def read_labelled_csv(
    data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_rows: int = MAX_ROWS
) -> LabelledTexts:
    """Parse a ``text,label`` CSV. Every problem is a ``UserError`` saying what to fix."""
    if len(data) > max_bytes:
        raise UserError(
            "csv_too_large", size_mb=f"{len(data) / 2**20:.1f}", limit_mb=f"{max_bytes / 2**20:.0f}"
        )
    if not data.strip():
        raise UserError("csv_empty")
    if b"\x00" in data[:65536]:
        raise UserError("csv_binary")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError("csv_not_utf8", byte=err.start) from None
    try:
        rows = list(csv.reader(io.StringIO(content)))
    except csv.Error as err:
        raise UserError("csv_unreadable", detail=str(err)) from None
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "text" not in header or "label" not in header:
        if not header:
            raise UserError("csv_no_header")
        raise UserError("csv_columns", header=", ".join(repr(h) for h in header[:6]))
    ti, li = header.index("text"), header.index("label")
    body = rows[1:]
    if len(body) > max_rows:
        raise UserError("csv_too_many_rows", rows=len(body), limit=max_rows)
    texts, labels, skipped = [], [], 0
    for row in body:
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
    if smallest < 2:
        rare = [k for k, n in classes.items() if n < 2]
        code = "csv_rare_label" if len(rare) == 1 else "csv_rare_labels"
        raise UserError(code, labels=", ".join(map(repr, rare[:5])))
    return result


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
