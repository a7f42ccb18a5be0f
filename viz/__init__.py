"""An explorer of BERT-style encoders, layer by layer: capture, analyses and figures.

Nothing in this package imports streamlit; ``app.py`` is the only UI layer.
"""

__version__ = "0.1.0"
