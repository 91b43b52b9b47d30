"""The statistics engine: pure functions over pandas DataFrames, returning frozen dataclasses.

No Django, no ORM, no settings, no I/O: `analysis/datasets.py` is the only bridge from models.
"""
from .errors import AnalysisInputError

__all__ = ["AnalysisInputError"]
