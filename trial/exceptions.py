from config.errors import DomainError


class TrialSlugTaken(DomainError):
    code = "slug_taken"
    http_status = 409
