"""The admin panel (Flask-Admin): articles for content managers, users and roles for the superuser.

Every view, the index included, is gated by a Flask-Principal permission:
anonymous visitors are sent to the login page, everyone else without the
permission gets 403. A content manager sees only the articles; the
superuser also sees users and roles. Password hashes are never listed,
shown, exported or editable. Forms carry the app's CSRF token (Flask-WTF's
CSRFProtect checks every POST; Flask-Admin's templates render `csrf_token()`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask, abort, flash, g, has_request_context, redirect, request, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin import babel as admin_babel
from flask_admin.actions import action

# Flask-Admin's own words, in its own catalogue; named so that `make messages` leaves them.
from flask_admin.babel import lazy_gettext as admin_lazy_gettext
from flask_admin.babel import ngettext as admin_ngettext
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import BaseForm
from flask_admin.menu import MenuLink
from flask_admin.model import typefmt
from flask_admin.model.template import DeleteRowAction, TemplateLinkRowAction
from flask_admin.theme import Bootstrap4Theme
from flask_babel import format_datetime, get_locale, gettext
from flask_babel.speaklater import LazyString
from flask_login import current_user
from flask_principal import Permission
from markupsafe import Markup
from sqlalchemy.exc import DataError
from wtforms import BooleanField, FileField, SelectField, ValidationError
from wtforms.validators import DataRequired

from mailer import headers
from mailer.auth import services as account_services
from mailer.auth import staff
from mailer.auth.forms import PHONE_VALIDATORS, language_choices, timezone_choices
from mailer.auth.routes import is_on_this_site
from mailer.blog import services
from mailer.extensions import db
from mailer.forms import stripped
from mailer.i18n import LANGUAGES, TRANSLATIONS, ngettext
from mailer.ids import is_id
from mailer.main.stats import blog_changed
from mailer.models import CONTENT_MANAGER, MANAGER, Article, User, UserRole
from mailer.permissions import blog_permission, superuser_permission

log = logging.getLogger(__name__)


def _l(text: str) -> LazyString:
    """lazy_gettext that also works outside a request: Flask-Admin reads names at start-up."""
    return LazyString(lambda: gettext(text) if has_request_context() else text)


def _row_ids(ids: list[str]) -> list[int]:
    """The ids a list action was given; what no row's id could be (a crafted form) is no row."""
    return [int(id) for id in ids if is_id(id)]


class GatedMixin:
    """Log in first, then the view's permission; never a page of the panel without both."""

    permission: Permission = superuser_permission

    @property
    def extra_css(self) -> list[str]:
        """The app's stylesheets after the admin's: a long typed word wraps in the lists,
        and the panel's links and buttons are dark enough to read (admin.css)."""
        return [url_for("static", filename="mailer.css"), url_for("static", filename="admin.css")]

    def render(self, template: str, **kwargs) -> str:
        """The page, its <html> saying the language it is in (a screen reader picks its
        voice by it): Flask-Admin's base template writes a bare <html>, with no block to
        add it in but a copy of the whole template."""
        page = super().render(template, **kwargs)
        return page.replace("<html>", f'<html lang="{get_locale() or "en"}">', 1)

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and self.permission.can()

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            # A path: the login goes back only to this site's paths (safe_next).
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(403)

    def _handle_view(self, name, **kwargs):
        """Flask-Admin's check (login, permission), then where its "url" goes back to:
        it takes "http:evil.example" for this site, so only this site's paths pass."""
        refused = super()._handle_view(name, **kwargs)
        back = request.values.get("url")
        if refused is None and back and not is_on_this_site(back):
            abort(400)
        return refused


class SoundArgumentsMixin:
    """A record id or page number the database cannot take (id=abc, page=-1, a number past
    its integers) is "Record does not exist" or an empty page, not a server error."""

    PAGE_MAX = 1_000_000

    def get_one(self, id):
        try:
            return super().get_one(id)
        except DataError:
            db.session.rollback()
            return None

    def _get_list_extra_args(self):
        view_args = super()._get_list_extra_args()
        view_args.page = min(max(view_args.page or 0, 0), self.PAGE_MAX)
        return view_args


class ChangeErrorsMixin:
    """A change that fails for any reason but the form's own (a write the database
    refuses, an image that cannot be stored) is rolled back at once, logged in its own
    words, and said in plain ones in the viewer's language. (Flask-Admin would show the
    error's text, SQL and parameters included, after an English "Failed to create
    record.", and read the viewer's language from a session still waiting for its
    rollback: a 500 page.)"""

    def handle_view_exception(self, exc: Exception) -> bool:
        if isinstance(exc, ValidationError):
            return super().handle_view_exception(exc)
        db.session.rollback()
        log.error("%s: a change failed", type(self).__name__, exc_info=exc)
        flash(
            gettext("The change could not be made. It has been logged; please try again."), "error"
        )
        return True


def _local_time(view, value: datetime, name: str) -> str:
    return format_datetime(value, "yyyy-MM-dd HH:mm")


def _yes_no(view, value: bool, name: str) -> str:
    return gettext("yes") if value else gettext("no")


def _yes_no_icon(view, value: bool, name: str) -> Markup:
    """Flask-Admin's tick or dash for a yes/no column in a list, with what it means said in
    the viewer's language (Flask-Admin's own says "is_published: true"), to a screen reader
    as well as on hover."""
    icon = "fa-check-circle" if value else "fa-minus-circle"
    meaning = f"{view.get_column_name(name)}: {_yes_no(view, value, name)}"
    return Markup(
        '<span class="fa {icon}" role="img" title="{meaning}" aria-label="{meaning}"></span>'
    ).format(icon=icon, meaning=meaning)


class LocalTimesMixin:
    """Times in the viewer's zone and language, not the database's UTC; yes and no in the
    viewer's language, where Flask-Admin would write True or False."""

    column_type_formatters = {
        **typefmt.BASE_FORMATTERS,
        datetime: _local_time,
        bool: _yes_no_icon,
    }
    column_type_formatters_detail = {
        **typefmt.DETAIL_FORMATTERS,
        datetime: _local_time,
        bool: _yes_no,
    }


class IndexView(GatedMixin, AdminIndexView):
    permission = blog_permission

    @expose("/")
    def index(self):
        return self.render("admin/mailer_index.html")


def check_image(form, field) -> None:
    """Inline error for an upload that is not a PNG/JPEG/GIF/WebP image or is too large."""
    upload = field.data
    if not upload or not getattr(upload, "filename", ""):
        return
    try:
        services.read_image(upload)
    except services.ImageError as error:
        raise ValidationError(str(error)) from None
    finally:
        upload.stream.seek(0)


def _title_with_preview(view, context, article: Article, name: str) -> Markup:
    url = url_for("blog.article", article_id=article.id)
    return Markup('{} <a href="{}" class="small text-nowrap" target="_blank">{}</a>').format(
        article.title, url, _l("preview")
    )


def _rendered_body(view, context, article: Article, name: str) -> Markup:
    return Markup(services.render_markdown(article.body))  # noqa: S704 - sanitised by nh3


def _thumbnail(article: Article) -> Markup:
    return Markup('<img src="{}" class="admin-thumb rounded" alt="">').format(
        url_for("blog.image", name=article.image)
    )


def _language_name(view, context, model, name: str) -> str:
    """ "Русский", not "ru": as the profile and the language switcher name it (a user's
    language, an article's)."""
    code = getattr(model, name)
    return LANGUAGES.get(code, code)


class ArticleView(GatedMixin, SoundArgumentsMixin, ChangeErrorsMixin, LocalTimesMixin, ModelView):
    permission = blog_permission

    can_view_details = True
    column_list = ("title", "is_published", "published_at", "views", "author")
    column_default_sort = ("created_at", True)
    column_searchable_list = ("title",)
    column_filters = ("is_published",)
    column_labels = {
        "title": _l("Title"),
        "body": _l("Text (Markdown)"),
        "is_published": _l("Published"),
        "published_at": _l("Published at"),
        "views": _l("Views"),
        "author": _l("Author"),
        "image": _l("Image"),
        "image_file": _l("Image"),
        "image_alt": _l("What the image shows"),
        "language": _l("Language"),
    }
    column_formatters = {
        "title": _title_with_preview,
        "author": lambda v, c, article, n: article.author.email if article.author else "",
    }
    column_details_list = (
        "title",
        "is_published",
        "published_at",
        "views",
        "author",
        "language",
        "image",
        "image_alt",
        "body",
    )
    column_formatters_detail = {
        "language": _language_name,
        "body": _rendered_body,
        "author": lambda v, c, article, n: article.author.email if article.author else "",
        "image": lambda v, c, article, n: _thumbnail(article) if article.image else "",
    }
    form_columns = (
        "title",
        "language",
        "body",
        "image_file",
        "image_alt",
        "remove_image",
        "is_published",
    )
    form_overrides = {"language": SelectField}
    # A title of spaces alone would leave the article's link in every list with no text.
    form_args = {
        "title": {"filters": [stripped], "validators": [DataRequired()]},
        "language": {"choices": language_choices, "default": "en"},
        "image_alt": {
            "filters": [stripped],
            "description": _l(
                "For those who cannot see it (a chart: what it shows). Leave it empty when"
                " the image only adorns the article."
            ),
        },
    }
    form_extra_fields = {
        "image_file": FileField(
            _l("Image"),
            validators=[check_image],
            description=_l("PNG, JPEG, GIF or WebP."),
        ),
        "remove_image": BooleanField(_l("Remove the image")),
    }
    form_widget_args = {"body": {"rows": 18}}

    def create_form(self, obj=None):
        form = super().create_form(obj)
        del form.remove_image  # nothing to remove yet
        if request.method == "GET":  # a new article: in the writer's language, to begin with
            form.language.data = str(get_locale() or "en")
        return form

    def edit_form(self, obj=None):
        """The article's image shown above its field, with the choice to remove it."""
        form = super().edit_form(obj)
        if obj is None or not obj.image:
            del form.remove_image
        else:
            form.image_file.description = (
                _thumbnail(obj)
                + Markup("<br>")
                + _l("PNG, JPEG, GIF or WebP. Leave empty to keep this image.")
            )
        return form

    def on_model_change(self, form, article: Article, is_created: bool) -> None:
        upload = form.image_file.data
        if upload and getattr(upload, "filename", ""):
            # The files follow the database: the old one goes once the article is saved,
            # the new one if the database refuses it (handle_view_exception).
            g.replaced_image = article.image
            g.uploaded_image = article.image = services.save_image(upload)
        elif "remove_image" in form and form.remove_image.data:
            g.replaced_image, article.image = article.image, None
        services.prepare_for_save(article, author=current_user, is_new=is_created)

    def after_model_change(self, form, article: Article, is_created: bool) -> None:
        g.pop("uploaded_image", None)  # saved with the article: it stays
        services.delete_image(g.pop("replaced_image", None))
        blog_changed()

    def handle_view_exception(self, exc: Exception) -> bool:
        services.delete_image(g.pop("uploaded_image", None))
        return super().handle_view_exception(exc)

    def after_model_delete(self, article: Article) -> None:
        services.delete_image(article.image)
        blog_changed()

    @action("delete", admin_lazy_gettext("Delete"), _l("Delete the selected articles?"))
    def action_delete(self, ids: list[str]) -> None:
        """ModelView's, asked in words of our own: Flask-Admin's Russian ones lose the
        object ("Вы уверены что хотите удалить ?"), and its catalogue wins over ours."""
        super().action_delete(ids)

    @action("publish", _l("Publish"), _l("Publish the selected articles?"))
    def action_publish(self, ids: list[str]) -> None:
        self._set_published(ids, True)

    @action("unpublish", _l("Unpublish"), _l("Hide the selected articles from visitors?"))
    def action_unpublish(self, ids: list[str]) -> None:
        self._set_published(ids, False)

    def _set_published(self, ids: list[str], published: bool) -> None:
        articles = db.session.scalars(db.select(Article).where(Article.id.in_(_row_ids(ids))))
        count = 0
        for article in articles:
            services.set_published(article, published)
            count += 1
        db.session.commit()
        blog_changed()
        if published:
            flash(ngettext("%(num)s article published.", "%(num)s articles published.", count))
        else:
            flash(ngettext("%(num)s article unpublished.", "%(num)s articles unpublished.", count))


ROLE_LABELS = {MANAGER: _l("Manager"), CONTENT_MANAGER: _l("Content manager")}


def _role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


def _role_names(view, context, user: User, name: str) -> str:
    return ", ".join(sorted(_role_label(role) for role in user.role_names))


class UserView(GatedMixin, SoundArgumentsMixin, ChangeErrorsMixin, LocalTimesMixin, ModelView):
    """People and their flags; password hashes stay out of every list, page and form."""

    can_create = False  # people register themselves (or `flask csu` for the superuser)
    can_view_details = True
    column_list = ("email", "full_name", "roles", "is_superuser", "is_blocked", "created_at")
    column_details_list = (
        "email",
        "full_name",
        "phone",
        "timezone",
        "locale",
        "roles",
        "is_superuser",
        "is_blocked",
        "confirmed_at",
        "created_at",
        "last_login_at",
    )
    column_labels = {
        "email": _l("Email"),
        "full_name": _l("Full name"),
        "phone": _l("Phone"),
        "timezone": _l("Time zone"),
        "locale": _l("Interface language"),
        "roles": _l("Roles"),
        "is_superuser": _l("Superuser"),
        "is_blocked": _l("Blocked"),
        "confirmed_at": _l("Confirmed at"),
        "created_at": _l("Registered at"),
        "last_login_at": _l("Last login"),
    }
    column_formatters = {"roles": _role_names}
    column_formatters_detail = {"roles": _role_names, "locale": _language_name}
    column_searchable_list = ("email", "full_name")
    column_sortable_list = ("email", "full_name", "is_superuser", "is_blocked", "created_at")
    form_columns = ("full_name", "phone", "timezone", "locale", "is_superuser")
    # The lists the profile offers: a zone or language typed here would break the user's
    # pages, and they could not mend it from a profile page that fails too.
    form_overrides = {"timezone": SelectField, "locale": SelectField}
    form_args = {
        "timezone": {"choices": timezone_choices},
        "locale": {"choices": language_choices},
        "phone": {"filters": [stripped], "validators": list(PHONE_VALIDATORS)},
    }

    def on_model_change(self, form, user: User, is_created: bool) -> None:
        if user.id == current_user.id and not user.is_superuser:
            # Said on the form, which keeps what was typed (Flask-Admin flashes it).
            raise ValidationError(gettext("You cannot take away your own superuser rights."))
        if user.is_superuser and user.is_blocked:  # nobody could unblock a superuser later
            staff.unblock_user(user=user, by=current_user)
            flash(
                gettext(
                    "%(email)s was blocked: a superuser cannot be, so they are unblocked.",
                    email=user.email,
                ),
                "info",
            )

    list_template = "admin/users_list.html"

    def get_list_row_actions(self):
        """Flask-Admin's, with a delete button that names the user (user_row_actions.html)."""
        return [
            TemplateLinkRowAction("user_actions.delete_user", gettext("Delete"))
            if isinstance(row_action, DeleteRowAction)
            else row_action
            for row_action in super().get_list_row_actions()
        ]

    def delete_model(self, model: User) -> bool:
        """ModelView's, through the deletion a user asks for themselves (auth's
        delete_account: their avatar's file goes too, and a deletion PostgreSQL rolled back
        to break a deadlock is done again), except that a failure says so without the
        database's own words (they are logged). Nobody deletes their own account here: the
        panel would lock them out mid-click."""
        user_id, email = model.id, model.email
        if user_id == current_user.id:
            flash(gettext("You cannot delete your own account here."), "error")
            return False
        try:
            self.on_model_delete(model)
            account_services.delete_account(model)
        except Exception:
            log.exception("Failed to delete user %s", user_id)
            flash(
                gettext(
                    "The user %(email)s could not be deleted."
                    " It has been logged; please try again.",
                    email=email,
                ),
                "error",
            )
            return False
        self.after_model_delete(model)
        return True

    @action(
        "delete",
        admin_lazy_gettext("Delete"),
        _l(
            "Delete the selected users? Their clients, messages, mailings and log are deleted"
            " with them; articles they wrote stay, without an author."
        ),
    )
    def action_delete(self, ids: list[str]) -> None:
        """ModelView's in Flask-Admin's words, but each user goes through `delete_model`
        on its own, and no "0 records were successfully deleted" stands beside a failure."""
        users = db.session.scalars(db.select(User).where(User.id.in_(_row_ids(ids)))).all()
        deleted = sum(self.delete_model(user) for user in users)
        if deleted:
            flash(
                admin_ngettext(
                    "Record was successfully deleted.",
                    "%(count)s records were successfully deleted.",
                    deleted,
                    count=deleted,
                ),
                "success",
            )


def _not_granted_yet(form, field) -> None:
    """A role the user already has is said at the field, before the database refuses it."""
    user = form.user.data
    if user is not None and db.session.get(UserRole, (user.id, field.data)):
        raise ValidationError(gettext("%(email)s already has this role.", email=user.email))


class _FieldErrorTranslations(admin_babel.Translations):
    """The catalogue Flask-Admin's forms speak, WTForms', after Flask-Admin's own: the
    errors of Flask-Admin's fields ("Not a valid choice") are only in its own."""

    def gettext(self, string: str) -> str:
        translated = admin_babel.gettext(string)
        return translated if translated != string else super().gettext(string)


class TranslatedForm(BaseForm):
    class Meta(BaseForm.Meta):
        _translations = _FieldErrorTranslations()


class RoleView(GatedMixin, SoundArgumentsMixin, ChangeErrorsMixin, LocalTimesMixin, ModelView):
    """Grant or take back a role (manager, content manager)."""

    form_base_class = TranslatedForm  # its user field says a user gone meanwhile in Russian too

    can_edit = False
    column_list = ("user", "name")
    column_labels = {"user": _l("User"), "name": _l("Role")}
    column_formatters = {
        "user": lambda v, c, role, n: role.user.email,
        "name": lambda v, c, role, n: _role_label(role.name),
    }
    form_columns = ("user", "name")
    form_choices = {"name": list(ROLE_LABELS.items())}
    form_args = {"user": {"get_label": "email"}, "name": {"validators": [_not_granted_yet]}}

    @action("delete", admin_lazy_gettext("Delete"), _l("Take the selected roles away?"))
    def action_delete(self, ids: list[str]) -> None:
        """ModelView's, asked in words of our own (as ArticleView's)."""
        super().action_delete(ids)


def init_app(app: Flask) -> None:
    """A new Admin and new views for each app: Flask-Admin keeps per-app blueprints."""
    admin = Admin(
        app,
        name=_l("Mailer admin"),
        index_view=IndexView(name=_l("Overview")),
        theme=Bootstrap4Theme(base_template="admin/mailer_base.html"),
        # Our admin.po: Flask-Admin's strings that its own Russian catalogue lacks.
        translations_path=str(TRANSLATIONS),
    )
    admin.add_view(ArticleView(Article, db, name=_l("Articles"), endpoint="articles"))
    admin.add_view(UserView(User, db, name=_l("Users"), endpoint="users", category=_l("People")))
    admin.add_view(
        RoleView(UserRole, db, name=_l("Roles"), endpoint="roles", category=_l("People"))
    )
    admin.add_link(MenuLink(name=_l("Back to the site"), endpoint="main.index"))

    @app.after_request
    def without_the_nonce_policy(response):
        """The admin panel's pages keep the policy without its scripts' part (headers.py):
        Flask-Admin's buttons run `onclick` handlers, which no nonce covers."""
        if request.path == admin.url or request.path.startswith(f"{admin.url}/"):
            response.headers.setdefault("Content-Security-Policy", headers.POLICY)
        return response
