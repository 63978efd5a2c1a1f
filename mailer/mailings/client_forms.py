"""Forms of the client screens."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, ValidationError

from mailer.forms import EMAIL_INPUT, at_most
from mailer.ids import an_id
from mailer.mailings.client_services import (
    COMMENT_MAX,
    EMAIL_MAX,
    FULL_NAME_MAX,
    ClientData,
    email_error,
)


def _valid_email(form, field) -> None:
    # After Length: an address it found too long gets its one message, not the
    # validator's "too long" again (email_error checks the length first too).
    if field.errors:
        return
    problem = email_error(field.data.strip())
    if problem:
        raise ValidationError(problem[:1].upper() + problem[1:])  # a sentence of its own


_MAILING_GONE = _l(
    "One of the ticked mailings is not among yours: deleted meanwhile? "
    "Check the ticks and save again."
)


class ClientForm(FlaskForm):
    email = StringField(
        _l("Email"),
        validators=[InputRequired(), at_most(EMAIL_MAX), _valid_email],
        render_kw={**EMAIL_INPUT, "autocomplete": "off"},  # a client's, not the user's
    )
    full_name = StringField(_l("Full name"), validators=[at_most(FULL_NAME_MAX)])
    comment = TextAreaField(_l("Comment"), validators=[at_most(COMMENT_MAX)])
    # Checkboxes of the owner's mailings (the route sets the choices): those ticked send to
    # this client. An id that is not a choice (deleted meanwhile, or forged) is refused.
    mailing_ids = SelectMultipleField(
        _l("Mailings"),
        coerce=an_id,
        invalid_choice_message=_MAILING_GONE,
        invalid_value_message=_MAILING_GONE,
    )

    def data_for_model(self) -> ClientData:
        return ClientData(
            email=self.email.data.strip(),
            full_name=(self.full_name.data or "").strip(),
            comment=(self.comment.data or "").strip(),
            mailing_ids=frozenset(self.mailing_ids.data or ()),
            offered_mailing_ids=frozenset(value for value, _label in self.mailing_ids.choices),
        )


class ClientImportForm(FlaskForm):
    file = FileField(
        _l("Spreadsheet or CSV file"),
        validators=[FileRequired(_l("Choose a file to import."))],
        description=_l(
            "A workbook of Excel or LibreOffice (.xlsx, .xls, .ods: its first sheet with"
            " rows), or a CSV file separated by commas, semicolons or tabs, in UTF-8 or"
            " Windows-1251. Columns: email, full name, comment; with or without a header row."
        ),
    )
