"""The linguistic lens: annotations from spaCy (English) and jieba (Chinese), aligned to a model's
tokens; which heads follow dependency relations (Clark et al. 2019); which layer knows parts of
speech, entities and dependency labels (token-level probes, Tenney et al. 2019)."""

TASKS = ("pos", "ner", "dep")  # the token probes: parts of speech, entities, dependency labels
