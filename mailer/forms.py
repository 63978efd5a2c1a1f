"""What mailer's forms share: field settings and filters, and what every form template
uses beyond the markup of _forms.html."""

from __future__ import annotations

from flask import Flask
from wtforms import Field
from wtforms.validators import Length

from mailer.i18n import lazy_ngettext

# An address field is text, not `type="email"`: Chromium sends such a field's international
# domain as punycode, so `nina@пример.рф` was kept, and shown to its owner, as
# `nina@xn--e1afmkfd.xn--p1ai`. A phone still shows its email keyboard.
EMAIL_INPUT = {
    "autocomplete": "email",
    "inputmode": "email",
    "autocapitalize": "none",
    "spellcheck": "false",
}


def at_most(characters: int) -> Length:
    """Length(max=...), saying the limit as the viewer writes numbers ("2 000" in Russian)
    and in its plural; WTForms' own message writes "2000" in every language."""
    message = lazy_ngettext("At most %(num)s character.", "At most %(num)s characters.", characters)
    return Length(max=characters, message=message)


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
