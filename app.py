"""The entry point: ``streamlit run app.py``. The frame is ``viz/ui/app.py`` (the installed
console script ``bert-layer-explorer`` runs that file directly)."""

from viz.ui.app import main

main()
