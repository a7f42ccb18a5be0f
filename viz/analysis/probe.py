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
    """Parse a ``text,label`` CSV. Every problem is a ``ValueError`` saying what to fix."""
    if len(data) > max_bytes:
        raise ValueError(
            f"The file is {len(data) / 2**20:.1f} MB; the limit is "
            f"{max_bytes / 2**20:.0f} MB. Upload a smaller sample."
        )
    if not data.strip():
        raise ValueError("The file is empty. Upload a CSV with a header row: text,label")
    if b"\x00" in data[:65536]:
        raise ValueError(
            "This looks like a binary file, not a CSV. Upload a UTF-8 text CSV "
            "with the columns text,label."
        )
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"The file is not UTF-8 (byte {err.start} is invalid). Save it as "
            "UTF-8 (in Excel: 'CSV UTF-8') and upload it again."
        ) from None
    try:
        rows = list(csv.reader(io.StringIO(content)))
    except csv.Error as err:
        raise ValueError(f"The CSV could not be read: {err}.") from None
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "text" not in header or "label" not in header:
        raise ValueError(
            f"The CSV needs the columns 'text' and 'label'; its header has "
            f"{', '.join(repr(h) for h in header[:6]) or 'nothing'}."
        )
    ti, li = header.index("text"), header.index("label")
    body = rows[1:]
    if len(body) > max_rows:
        raise ValueError(
            f"The file has {len(body)} rows; the limit is {max_rows}. Upload a sample of it."
        )
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
    if len(classes) < 2:
        raise ValueError(
            f"All rows have the same label ({next(iter(classes), 'none')!r}); a "
            "probe needs at least two classes."
        )
    smallest = min(classes.values())
    if smallest < 2:
        rare = [k for k, n in classes.items() if n < 2]
        raise ValueError(
            f"Each label needs at least 2 examples for cross-validation; "
            f"{', '.join(map(repr, rare[:5]))} {'has' if len(rare) == 1 else 'have'} "
            "only one."
        )
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
