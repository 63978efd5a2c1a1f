"""Forms of the managers' screens."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField

from mailer.forms import at_most
from mailer.models import User


class BlockForm(FlaskForm):
    """Why a manager blocks a user: the page that asks is the block's confirmation."""

    reason = TextAreaField(
        _l("Reason"),
        validators=[at_most(User.BLOCK_REASON_MAX)],
        description=_l("Optional. The user is told it when they try to log in."),
    )
