"""A corpus index: every line's token and pooled vectors at every chosen layer (Parquet), and a
FAISS nearest-neighbour index of its words per layer; local and Ray Data engines."""
