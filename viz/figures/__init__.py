"""Pure Plotly builders: arrays in, ``go.Figure`` out. One module per view."""
