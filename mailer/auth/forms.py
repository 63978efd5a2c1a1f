"""Forms of the auth blueprint."""

from __future__ import annotations

import logging
import re
from functools import cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    Length,
    Optional,
    ValidationError,
)

from mailer.auth.passwords import MAX_LENGTH, MIN_LENGTH, check_password_hash, is_common
from mailer.auth.throttle import login_throttle, minutes_to_wait
from mailer.forms import EMAIL_INPUT, at_most, stripped
from mailer.i18n import LANGUAGES, known_timezones, lazy_ngettext, ngettext
from mailer.models import User

log = logging.getLogger(__name__)


@cache
def timezone_choices() -> list[SelectChoice]:
    return [SelectChoice(name) for name in known_timezones()]


def language_choices() -> list[SelectChoice]:
    return [SelectChoice(code, name) for code, name in LANGUAGES.items()]


def strong_password(form, field) -> None:
    if is_common(field.data or ""):
        raise ValidationError(
            _l("This password is too common; choose one that is harder to guess.")
        )


def your_password(form, field) -> None:
    """The logged-in user's own password, typed to confirm a change to their account:
    its tries count as logins do (LOGIN_MAX_FAILURES wrong ones lock it for
    LOGIN_LOCKOUT_SECONDS), so that a session left open cannot guess it."""
    throttle, keys = login_throttle(), [f"user:{current_user.id}"]
    if wait := throttle.take(keys):
        log.warning("password check refused for user %s: locked for %ss", current_user.id, wait)
        raise ValidationError(
            ngettext(
                "Too many wrong passwords. Please wait %(num)s minute and try again.",
                "Too many wrong passwords. Please wait %(num)s minutes and try again.",
                minutes_to_wait(wait),
            )
        )
    if not check_password_hash(current_user.password_hash, field.data):
        log.warning("wrong current password for user %s", current_user.id)
        raise ValidationError(_l("This is not your current password."))
    throttle.reset(keys)


def no_address(form, field) -> None:
    """A sender name that shows an address (“Bank <security@bank.example>”) would pass
    the emails off as someone else's."""
    if any(char in (field.data or "") for char in "@<>"):
        raise ValidationError(_l("A sender name cannot contain an address (@, < or >)."))


def _current_password_field(label: LazyString) -> PasswordField:
    return PasswordField(
        label,
        validators=[DataRequired(), your_password],
        render_kw={"autocomplete": "current-password"},
    )


def _email_field(label: LazyString | None = None) -> StringField:
    return StringField(
        label or _l("Email"),
        validators=[DataRequired(), Email(check_deliverability=False), at_most(254)],
        filters=[stripped],
        render_kw=EMAIL_INPUT,
    )


def _new_password_fields() -> tuple[PasswordField, PasswordField]:
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(),
            Length(
                min=MIN_LENGTH,
                message=lazy_ngettext(
                    "The password must be at least %(num)s character long.",
                    "The password must be at least %(num)s characters long.",
                    MIN_LENGTH,
                ),
            ),
            Length(
                max=MAX_LENGTH,
                message=lazy_ngettext(
                    "The password may be at most %(num)s character long.",
                    "The password may be at most %(num)s characters long.",
                    MAX_LENGTH,
                ),
            ),
            strong_password,
        ],
        description=lazy_ngettext(
            "At least %(num)s character; not a common password.",
            "At least %(num)s characters; not a common password.",
            MIN_LENGTH,
        ),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
        render_kw={"autocomplete": "new-password"},
    )
    return password, confirm


class RegisterForm(FlaskForm):
    email = _email_field()
    full_name = StringField(_l("Full name"), validators=[Optional(), at_most(200)])
    password, password_confirm = _new_password_fields()
    # The browser's time zone, filled in by mailer.js: the account starts in it.
    timezone = HiddenField(render_kw={"data-browser-zone": ""})


class LoginForm(FlaskForm):
    email = _email_field()
    password = PasswordField(
        _l("Password"), validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    remember = BooleanField(_l("Remember me"))
    next = HiddenField()


class EmailForm(FlaskForm):
    """Asks only for an address: a new confirmation link, a password reset link."""

    email = _email_field()


class ResetPasswordForm(FlaskForm):
    password, password_confirm = _new_password_fields()


class ChangeEmailForm(FlaskForm):
    email = _email_field(_l("New email"))
    current_password = _current_password_field(_l("Current password"))


class DeleteAccountForm(FlaskForm):
    password = _current_password_field(_l("Your password"))


class ChangePasswordForm(FlaskForm):
    current_password = _current_password_field(_l("Current password"))
    password, password_confirm = _new_password_fields()


# The profile's and the admin panel's: a phone the panel saved and the profile refused
# would stop its user saving anything on the profile, their language included.
_PHONE = re.compile(r"\+?[0-9 ()\-]{5,31}")


def _phone_shape(form, field) -> None:
    # Said with gettext, not lazily: Flask-Admin's templates show only errors that are str.
    if field.data and not _PHONE.fullmatch(field.data):
        raise ValidationError(_("Digits, spaces, +, - and brackets only."))


PHONE_VALIDATORS = [Optional(), at_most(32), _phone_shape]


class ProfileForm(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[Optional(), at_most(200)])
    phone = StringField(_l("Phone"), validators=PHONE_VALIDATORS, render_kw={"autocomplete": "tel"})
    # Not named "avatar": the form is filled from the user, whose avatar is a file name.
    avatar_upload = FileField(_l("Avatar"), description=_l("PNG, JPEG or GIF, at most 2 MB."))
    remove_avatar = BooleanField(_l("Remove the current avatar"))
    timezone = SelectField(
        _l("Time zone"),
        choices=timezone_choices,
        description=_l(
            "Every time is shown in this zone. A mailing's start and end are entered in the"
            " mailing's own zone, this one unless you choose another."
        ),
    )
    locale = SelectField(_l("Interface language"), choices=language_choices)
    # Their descriptions name the sending account's address: the route sets them.
    sender_name = StringField(
        _l("Sender name of your mailings"),
        validators=[Optional(), at_most(User.SENDER_NAME_MAX), no_address],
        filters=[stripped],
    )
    reply_to = StringField(
        _l("Replies go to"),
        # Latin letters before the @: a Reply-To in other letters would need SMTPUTF8 of the
        # server every email of the user's passes through.
        validators=[
            Optional(),
            Email(
                check_deliverability=False,
                allow_smtputf8=False,
                message=_l("Enter an address such as anna@example.com, Latin letters before @."),
            ),
            at_most(254),
        ],
        filters=[stripped],
        render_kw=EMAIL_INPUT,
    )


class LanguageForm(FlaskForm):
    locale = SelectField(choices=language_choices)
    next = HiddenField()
