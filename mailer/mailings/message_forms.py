"""Forms of the message screens."""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired

from mailer.forms import at_most
from mailer.mailings.message_services import SUBJECT_MAX, MessageData

PLACEHOLDER_HELP = _l(
    "Placeholders: {{ client.full_name }}, {{ client.email }}, {{ client.comment }}, "
    "{{ unsubscribe_url }}."
)


class RequiredToSave(DataRequired):
    """Required to save the message, spaces alone being none (an email with a blank
    subject, listed as an empty link); its draft may be previewed without it (the body
    before a subject is thought of)."""

    def __call__(self, form, field) -> None:
        if request.form.get("action") != "preview":
            super().__call__(form, field)


class MessageForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[RequiredToSave(), at_most(SUBJECT_MAX)])
    body_text = TextAreaField(
        _l("Text body"),
        validators=[RequiredToSave()],
        description=PLACEHOLDER_HELP,
        render_kw={"rows": 10},
    )
    body_html = TextAreaField(
        _l("HTML body (optional)"),
        description=_l("Sent as the HTML part of the email; the same placeholders work here."),
        render_kw={"rows": 10},
    )

    def data_for_model(self) -> MessageData:
        return MessageData(
            subject=self.subject.data.strip(),
            body_text=self.body_text.data,
            body_html=self.body_html.data if (self.body_html.data or "").strip() else "",
        )
