from config.errors import DomainError


class TrialSlugTaken(DomainError):
    code = "slug_taken"
    http_status = 409


class UnknownTemplate(DomainError):
    code = "unknown_template"


class InvalidSetting(DomainError):
    code = "invalid_setting"


class SettingLocked(DomainError):
    """A setting that would invalidate data already collected."""

    code = "setting_locked"
    http_status = 409


class WrongStatus(DomainError):
    code = "wrong_status"
    http_status = 409


class RosterFileRefused(DomainError):
    """The whole file is refused (nothing written)."""

    code = "roster_file_refused"


class ScreeningNotReady(DomainError):
    code = "screening_not_ready"
    http_status = 409


class ScreeningClosed(DomainError):
    code = "screening_closed"
    http_status = 409


class ConsentRefused(DomainError):
    code = "consent_refused"


class NotEligible(DomainError):
    code = "not_eligible"
    http_status = 409


class NotEnrolled(DomainError):
    code = "not_enrolled"
    http_status = 409


class AlreadyEnrolled(DomainError):
    code = "already_enrolled"
    http_status = 409


class AlreadyWithdrawn(DomainError):
    code = "already_withdrawn"
    http_status = 409


class RandomizationNotLocked(DomainError):
    code = "randomization_not_locked"
    http_status = 409


class RandomizationLocked(DomainError):
    code = "randomization_locked"
    http_status = 409


class AlreadyAllocated(DomainError):
    code = "already_randomized"
    http_status = 409


class NothingToRandomize(DomainError):
    code = "nothing_to_randomize"
    http_status = 409


class CorrectionRefused(DomainError):
    code = "correction_refused"
    http_status = 409
