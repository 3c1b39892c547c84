"""Recorder (columnar buffers), frames (DataFrames) and summary (headline figures)."""
