"""What mailer's forms share: field settings and filters, and what every form template
uses beyond the markup of _forms.html."""

from __future__ import annotations

from flask import Flask
from wtforms import Field

# An address field is text, not `type="email"`: Chromium sends such a field's international
# domain as punycode, so `nina@пример.рф` was kept, and shown to its owner, as
# `nina@xn--e1afmkfd.xn--p1ai`. A phone still shows its email keyboard.
EMAIL_INPUT = {
    "autocomplete": "email",
    "inputmode": "email",
    "autocapitalize": "none",
    "spellcheck": "false",
}


def stripped(value):
    """A field filter: typed text without the spaces around it."""
    return value.strip() if isinstance(value, str) else value


def field_aria(field: Field, help_id: str | None = None) -> dict[str, str]:
    """A field's aria-invalid and aria-describedby: a screen reader then says the field is
    wrong and reads its errors (`<field id>-error`, from the `errors` macro), then its help."""
    described = [f"{field.id}-error"] if field.errors else []
    if help_id:
        described.append(help_id)
    attributes = {"aria-describedby": " ".join(described)} if described else {}
    if field.errors:
        attributes["aria-invalid"] = "true"
    return attributes


def init_app(app: Flask) -> None:
    app.jinja_env.globals["field_aria"] = field_aria
