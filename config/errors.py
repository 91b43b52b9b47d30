"""The base of every domain exception: its message says what was wrong and what is accepted."""


class DomainError(Exception):
    code = "invalid"
    http_status = 400

    def __init__(self, message: str):
        super().__init__(message)
