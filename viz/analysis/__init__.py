"""Pure analyses: arrays in, arrays out. No streamlit, no torch modules where avoidable."""
