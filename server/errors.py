"""The server's one error type: a refusal with its HTTP status, in French and in English.

The API answers it as `{"detail": …, "errors": […]}`; the web pages show the message in the
reader's language, beside the form field it names when it names one.
"""

from __future__ import annotations


class Refusal(Exception):
    """Something the server will not do, and why, for a person (French first, English)."""

    def __init__(
        self,
        status: int,
        french: str,
        english: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(french)
        self.status, self.french, self.english = status, french, english
        self.errors = errors or []
        self.headers = headers
        self.field = field

    def say(self, english: bool) -> str:
        """The message in the reader's language."""
        return self.english if english else self.french
