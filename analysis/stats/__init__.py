"""The statistics engine: pure functions over pandas DataFrames, returning frozen dataclasses.

No Django, no ORM, no settings, no I/O: `analysis/datasets.py` is the only bridge from models.
"""
from .errors import AnalysisInputError

# Stamped on every stored result: a change of definitions must not reuse an old result.
ENGINE_VERSION = "1.0"

__all__ = ["ENGINE_VERSION", "AnalysisInputError"]
