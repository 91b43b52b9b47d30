from config.errors import DomainError


class InvalidGroup(DomainError):
    code = "invalid_group"


class CurriculumMissing(DomainError):
    code = "curriculum_missing"
    http_status = 409


class CurriculumExists(DomainError):
    code = "curriculum_exists"
    http_status = 409


class ReasonRequired(DomainError):
    code = "reason_required"


class SessionHeld(DomainError):
    code = "session_held"
    http_status = 409


class SessionCancelled(DomainError):
    code = "session_cancelled"
    http_status = 409


class SessionNotStarted(DomainError):
    code = "session_not_started"
    http_status = 409


class ReplacementExists(DomainError):
    code = "replacement_exists"
    http_status = 409


class NotAMember(DomainError):
    code = "not_a_member"


class PlacementImpossible(DomainError):
    code = "placement_impossible"
    http_status = 409


class InvalidAttendance(DomainError):
    code = "invalid_attendance"


class NotFlagged(DomainError):
    code = "not_flagged"
    http_status = 409


class FollowUpNotOver(DomainError):
    code = "follow_up_not_over"
    http_status = 409


class SessionNotCancelled(DomainError):
    code = "session_not_cancelled"
    http_status = 409
