"""Pharmacy preparation: product lots, per-dose worksheets and bag labels.

``lots`` and ``worksheet`` are pure (no I/O); ``render`` is the edge that writes PDF, CSV and JSON.
"""
