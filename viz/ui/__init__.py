"""The Streamlit UI: the only part of viz that imports streamlit."""
