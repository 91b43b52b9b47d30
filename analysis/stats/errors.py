class AnalysisInputError(ValueError):
    """The data cannot be analysed as asked; the message names the problem and what is accepted."""
