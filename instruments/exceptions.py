from config.errors import DomainError


class InvalidAnswers(DomainError):
    code = "invalid_answers"


class AlreadySubmitted(DomainError):
    code = "already_submitted"
    http_status = 409


class NotOpen(DomainError):
    """The administration's window is not open (not yet, or closed)."""

    code = "not_open"
    http_status = 409


class Incomplete(DomainError):
    code = "incomplete"


class WordingMissing(DomainError):
    code = "wording_missing"
    http_status = 409


class InvalidWording(DomainError):
    code = "invalid_wording"


class InvalidKey(DomainError):
    code = "invalid_key"


class PaperEntryRefused(DomainError):
    code = "paper_entry_refused"
    http_status = 409


class WindowUnknown(DomainError):
    code = "window_unknown"
    http_status = 409
