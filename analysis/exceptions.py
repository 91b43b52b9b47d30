from config.errors import DomainError


class AnalysisRefused(DomainError):
    code = "analysis_refused"
