"""Routes of the auth blueprint: register, confirm, log in/out, passwords, profile."""

from __future__ import annotations

import logging
from email.utils import parseaddr
from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import get_locale, refresh
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from markupsafe import Markup

from mailer import demo
from mailer.auth import bp, services, sessions, staff, tokens
from mailer.auth.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    DeleteAccountForm,
    EmailForm,
    LanguageForm,
    LoginForm,
    ProfileForm,
    RegisterForm,
    ResetPasswordForm,
)
from mailer.auth.throttle import (
    login_throttle,
    mail_request_throttle,
    minutes_to_wait,
    throttle_keys,
)
from mailer.extensions import db
from mailer.i18n import ngettext, timezone_named
from mailer.mail import mask_email
from mailer.mailings import outbox
from mailer.models import User, normalize_email
from mailer.permissions import manager_permission, superuser_permission

log = logging.getLogger(__name__)

# The login page lists the demo logins in debug mode (`make run`).
bp.add_app_template_global(demo.offered_logins, "demo_logins")


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site; the home page otherwise (no open redirects)."""
    return target if target and is_on_this_site(target) else url_for("main.index")


def is_on_this_site(target: str) -> bool:
    """Whether a redirect to `target` stays on this site (and fits in a header)."""
    parts = urlsplit(target.strip())
    return (
        not parts.scheme
        and not parts.netloc
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        # urlsplit drops tabs and line breaks before it reads the address
        and not any(ord(character) < 32 or ord(character) == 127 for character in target)
    )


def _say_where_mail_goes() -> None:
    """Trying mailer on one's own machine (debug, no mail server): the email is a file, which
    the outbox page opens."""
    if outbox.browsable():
        message = _(
            "No mail server is set up: emails are written as files to %(folder)s.",
            folder=current_app.config["MAIL_OUTBOX"],
        )
        link = Markup('<a href="{}" class="alert-link">{}</a>').format(
            url_for("main.outbox_list"), _("Open the outbox")
        )
        flash(Markup("{} {}").format(message, link))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        if spent := _mail_requests_spent():
            form.email.errors.append(spent)
            return render_template("auth/register.html", form=form), 429
        try:
            services.register_user(
                email=form.email.data,
                password=form.password.data,
                full_name=form.full_name.data or "",
                timezone=timezone_named(form.timezone.data or "")
                or current_app.config["DEFAULT_TIMEZONE"],
                locale=str(get_locale() or "en"),
            )
        except services.EmailNotSent as error:
            db.session.rollback()  # no account waits for a link that never came
            form.email.errors.append(str(error))
        else:
            db.session.commit()
            flash(_("Check your inbox: we sent a link to confirm your address."), "success")
            _say_where_mail_goes()
            return redirect(url_for("auth.login"))
    return render_template("auth/register.html", form=form)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    # The emailed link opens a page; the address is confirmed by its POST button,
    # so mail scanners that follow links change nothing.
    if request.method == "POST":
        user = services.confirm_email(token)
        if user is None:
            return _dead_link("auth.resend_confirmation")
        db.session.commit()
        flash(_("Your address is confirmed. You can log in now."), "success")
        return redirect(url_for("auth.login"))
    user = services.confirmation_link_user(token)
    if user is None:
        return _dead_link("auth.resend_confirmation")
    if user.is_confirmed:
        flash(_("This link has already been used: your address is confirmed."), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/confirm.html", token=token)


def _mail_requests_spent() -> str | None:
    """Why this visitor's IP may not ask for another account email this hour, or None
    (and the ask is counted). Counted whether or not an email goes out, so the answer
    never tells which addresses have an account."""
    throttle, keys = mail_request_throttle(), [f"ip:{request.remote_addr or 'unknown'}"]
    wait = throttle.take(keys)
    if not wait:
        return None
    return ngettext(
        "Too many emails were asked for from your network. Please try again in %(num)s minute.",
        "Too many emails were asked for from your network. Please try again in %(num)s minutes.",
        minutes_to_wait(wait),
    )


def _dead_link(ask_again: str):
    """Say so at once and open the page that sends a new link."""
    flash(_("This link is invalid or has expired. Ask for a new one."), "warning")
    return redirect(url_for(ask_again))


def _next_page() -> str:
    """Where a link opened from an email goes on to: the profile, or the login page for
    someone not logged in here."""
    return url_for("auth.profile" if current_user.is_authenticated else "auth.login")


@bp.route("/confirm", methods=["GET", "POST"])
def resend_confirmation():
    form = EmailForm(email=request.args.get("email", ""))
    if form.validate_on_submit():
        if spent := _mail_requests_spent():
            form.email.errors.append(spent)
            return render_template("auth/resend_confirmation.html", form=form), 429
        services.resend_confirmation(form.email.data)
        db.session.commit()
        flash(_("If that address waits for confirmation, a new link is on its way."), "info")
        _say_where_mail_goes()
        return redirect(url_for("auth.login"))
    return render_template("auth/resend_confirmation.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    email = normalize_email(form.email.data)
    throttle = login_throttle()
    ip = request.remote_addr
    keys = throttle_keys(email, ip)
    wait = throttle.take(keys)  # counted as failed until the password proves right
    if wait:
        log.warning("login refused for %s from %s: locked for %ss", mask_email(email), ip, wait)
        message = ngettext(
            "Too many failed attempts. Please wait %(num)s minute and try again.",
            "Too many failed attempts. Please wait %(num)s minutes and try again.",
            minutes_to_wait(wait),
        )
        return render_template("auth/login.html", form=form, error=message), 429
    user = services.authenticate(form.email.data, form.password.data)  # as typed: by_email
    if user is None:
        log.warning("failed login for %s from %s", mask_email(email), ip)
        return render_template("auth/login.html", form=form, error=_("Wrong email or password."))
    throttle.reset(keys[:1])  # the email's failures
    throttle.give_back(keys[1:])  # this try, not the IP's failures for other emails
    if user.is_blocked:
        return render_template("auth/login.html", form=form, error=staff.blocked_notice(user)), 403
    if not user.is_confirmed:
        return render_template("auth/login.html", form=form, unconfirmed_email=user.email)
    sessions.start(user, user_agent=request.user_agent.string, ip=ip or "")
    login_user(user, remember=form.remember.data)
    services.record_login(user)
    db.session.commit()
    log.info("user %s logged in from %s", user.id, ip)
    return redirect(safe_next(form.next.data))


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if not current_user.is_authenticated:
        logout_user()  # what is left of a login that has ended goes too
        return redirect(url_for("main.index"))
    if request.method == "GET":  # typed or bookmarked: its button logs out, never a link
        return render_template("auth/logout.html")
    sessions.log_out()
    db.session.commit()
    flash(_("You have logged out."), "info")
    return redirect(url_for("main.index"))


@bp.route("/reset", methods=["GET", "POST"])
def forgot_password():
    form = EmailForm()
    if form.validate_on_submit():
        if spent := _mail_requests_spent():
            form.email.errors.append(spent)
            return render_template("auth/forgot_password.html", form=form), 429
        services.request_password_reset(form.email.data)
        db.session.commit()
        flash(_("If that address has an account, a link to reset the password is on its way."))
        _say_where_mail_goes()
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    # Checked on opening, so nobody types a new password twice into a dead link, nor one
    # that could not let them in (a link sent before the account was blocked).
    if request.method == "GET":
        user = services.reset_link_user(token)
        if user is None:
            return _dead_reset_link(token)
        if user.is_blocked:
            flash(_("Your account is blocked, so you cannot log in. Contact a manager."), "warning")
            return redirect(url_for("auth.login"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        user = services.reset_password(token, form.password.data)
        if user is None:
            return _dead_reset_link(token)
        db.session.commit()
        if user.is_blocked:  # the new password cannot log them in: say so now, not at login
            flash(
                _(
                    "Your password has been changed, but your account is blocked, so you"
                    " cannot log in. Contact a manager."
                ),
                "warning",
            )
        else:
            flash(_("Your password has been changed. Log in with the new one."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form)


def _dead_reset_link(token: str):
    if not tokens.is_used(token, tokens.RESET):
        return _dead_link("auth.forgot_password")
    flash(
        _(
            "This link no longer works: the account's password or address has changed since"
            " it was sent. Log in, or ask for another link."
        ),
        "info",
    )
    return redirect(_next_page())


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if form.password.data == form.current_password.data:
            form.password.errors.append(_("This is your current password: choose a new one."))
        else:
            services.set_password(
                current_user, form.password.data, keep_login=current_user.session_key
            )
            db.session.commit()
            flash(
                _("Your password has been changed. Your other sessions are logged out."), "success"
            )
            return redirect(url_for("auth.profile"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/logout-everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    sessions.end_others(current_user, keep=current_user.session_key)  # this browser carries on
    db.session.commit()
    flash(_("You are logged out on every other device and browser."), "success")
    return redirect(url_for("auth.logins"))


@bp.route("/logins")
@login_required
def logins():
    return render_template("auth/logins.html", logins=sessions.logins_of(current_user))


@bp.route("/logins/<int:login_id>/end", methods=["POST"])
@login_required
def end_login(login_id: int):
    if not sessions.end_one(current_user, login_id):
        abort(404)  # another user's, or already ended
    db.session.commit()
    flash(_("That login has ended: its browser is logged out."), "success")
    return redirect(url_for("auth.logins"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = ProfileForm(obj=current_user)
    if not current_user.avatar:
        del form.remove_avatar  # nothing to remove
    _describe_sender_fields(form)
    valid = form.validate_on_submit()
    picture = _uploaded_picture(form) if form.is_submitted() else None
    if valid and not form.avatar_upload.errors:
        _save_profile(form, picture)
        db.session.commit()
        refresh()  # said in the language just chosen, as the page it leads to
        flash(_("Your profile has been saved."), "success")
        return redirect(url_for("auth.profile"))
    return render_template("auth/profile.html", form=form)


def _uploaded_picture(form: ProfileForm) -> services.Picture | None:
    """The avatar uploaded with the form, if any; a file that cannot be one is an error of
    its field, shown with the form's others."""
    if not form.avatar_upload.data:
        return None
    try:
        return services.read_avatar(form.avatar_upload.data)
    except services.AccountError as error:
        form.avatar_upload.errors = [*form.avatar_upload.errors, str(error)]
        return None


def _describe_sender_fields(form: ProfileForm) -> None:
    """Say what the clients see: the sending account's address, and its own name."""
    name, address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])
    form.sender_name.description = _(
        "Your clients see it beside the service's address, %(address)s. Empty: %(name)s.",
        address=address,
        name=name or _("the address alone"),
    )
    form.reply_to.description = _(
        "Your clients' replies go to this address. Empty: to %(address)s.", address=address
    )


def _save_profile(form: ProfileForm, picture: services.Picture | None) -> None:
    services.update_profile(
        user=current_user,
        full_name=form.full_name.data or "",
        phone=form.phone.data,
        timezone=form.timezone.data,
        locale=form.locale.data,
        sender_name=form.sender_name.data or "",
        reply_to=form.reply_to.data or "",
    )
    if picture is not None:
        services.save_avatar(user=current_user, picture=picture)
    elif "remove_avatar" in form and form.remove_avatar.data:
        services.remove_avatar(user=current_user)


@bp.route("/change-email", methods=["GET", "POST"])
@login_required
def change_email_request():
    """A link to the new address, once the user has typed their password."""
    form = ChangeEmailForm()
    if form.validate_on_submit():
        if spent := _mail_requests_spent():
            form.email.errors.append(spent)
            return render_template("auth/change_email.html", form=form), 429
        try:
            services.request_email_change(current_user, form.email.data)
        except services.AccountError as error:  # their own address; not sent
            db.session.rollback()
            form.email.errors.append(str(error))
        else:
            db.session.commit()  # the time of this ask: the links of earlier ones die
            flash(
                _(
                    "We sent a link to %(email)s. Your address changes once you open it.",
                    email=normalize_email(form.email.data),
                ),
                "success",
            )
            _say_where_mail_goes()
            return redirect(url_for("auth.profile"))
    return render_template("auth/change_email.html", form=form)


@bp.route("/change-email/<token>", methods=["GET", "POST"])
def change_email(token: str):
    # As with the confirmation link, the page's button changes the address, not the link.
    if request.method == "POST":
        try:
            user = services.change_email(token)
        except services.AccountError as error:  # another account took the address meanwhile
            flash(str(error), "warning")
            return redirect(url_for("auth.change_email_request"))
        if user is None:
            return _dead_change_link(token)
        db.session.commit()
        log.info("user %s changed their login address", user.id)
        if current_user.is_authenticated and current_user.id == user.id:
            flash(_("Your address is now %(email)s.", email=user.email), "success")
            return redirect(url_for("auth.profile"))
        if current_user.is_authenticated:  # the link opened where another account is logged in
            flash(
                _(
                    "The account's address is now %(email)s. To use it, log out and log in"
                    " with it.",
                    email=user.email,
                ),
                "success",
            )
            return redirect(url_for("main.index"))
        flash(_("Your address is now %(email)s. Log in with it.", email=user.email), "success")
        return redirect(url_for("auth.login"))
    found = services.email_change_link(token)
    if found is None:
        return _dead_change_link(token)
    user, new_email = found
    return render_template(
        "auth/change_email_confirm.html", token=token, old_email=user.email, new_email=new_email
    )


def _dead_change_link(token: str):
    if not tokens.is_used(token, tokens.CHANGE_EMAIL):
        return _dead_link("auth.change_email_request")
    flash(
        _("This link no longer works: the address or the password has changed since it was sent."),
        "info",
    )
    return redirect(_next_page())


@bp.route("/delete-account", methods=["GET", "POST"])
@login_required
def delete_account():
    """The account and all its data, once the user has typed their password."""
    if current_user.is_superuser:  # nobody would be left to run the admin panel
        flash(_("A superuser cannot delete their own account."), "warning")
        return redirect(url_for("auth.profile"))
    form = DeleteAccountForm()
    if form.validate_on_submit():
        user_id = current_user.id
        services.delete_account(current_user._get_current_object())
        logout_user()  # its logins went with it; this browser's cookies go too
        log.info("user %s deleted their account", user_id)
        flash(_("Your account is deleted, with everything in it."), "success")
        return redirect(url_for("main.index"))
    contents = services.account_contents(current_user)
    return render_template("auth/delete_account.html", form=form, contents=contents)


@bp.route("/avatar/<int:user_id>")
@login_required
def avatar(user_id: int):
    """A user's own avatar; managers and the superuser see everyone's (the users screen)."""
    may_see = user_id == current_user.id or manager_permission.can() or superuser_permission.can()
    user = db.session.get(User, user_id) if may_see else None
    if user is None or not user.avatar:
        abort(404)
    return send_from_directory(services.avatar_folder(), user.avatar)  # nosniff: headers.py


@bp.route("/language", methods=["POST"])
def set_language():
    form = LanguageForm()
    if form.validate_on_submit():
        session["locale"] = form.locale.data
        if current_user.is_authenticated:
            current_user.locale = form.locale.data
            db.session.commit()
    return redirect(
        safe_next(form.next.data or request.referrer and urlsplit(request.referrer).path)
    )
