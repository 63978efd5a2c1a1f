"""Every route x every role -> the expected status, generated from the URL map.

A new route without an entry in ACCESS fails `test_every_route_has_an_access_decision`
(and its own matrix cases) with a message naming it. To add a route, add one line:

    "mailings.client_edit": Rule(OWNED, args=lambda objs: {"client_id": objs.client.id}),

`objs` builds the people below and, on first use, things owned by `user` through
`tests/factories.py` (`objs.client` calls `make_client(owner=user)`, `objs.article`
calls `make_article()`), so `other_user` and everyone else must get 404 for them.
GET routes are checked with GET; POST-only routes with an empty POST (and GET must
answer 405). A role's status is a number, OK (the rule's `ok`, 200 unless given) or
LOGIN (302 to the login page).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mailer import create_app
from tests import factories

ROLES = ("anonymous", "user", "other_user", "manager", "content_manager", "superuser")
OK = "ok"
LOGIN = "login"


def _access(default, **by_role) -> dict[str, str | int]:
    return {role: by_role.get(role, default) for role in ROLES}


# Who may do what. Logged-in roles without access get 403; owned objects answer 404.
PUBLIC = _access(OK)
ANONYMOUS_ONLY = _access(302, anonymous=OK)  # login/register: users are sent home
LOGGED_IN = _access(OK, anonymous=LOGIN)
OWNED = _access(404, anonymous=LOGIN, user=OK)
MANAGERS = _access(403, anonymous=LOGIN, manager=OK)
BLOG_WRITERS = _access(403, anonymous=LOGIN, content_manager=OK, superuser=OK)
SUPERUSER = _access(403, anonymous=LOGIN, superuser=OK)
NOWHERE = _access(404)


@dataclass(frozen=True)
class Rule:
    access: Mapping[str, str | int]
    args: Callable[[Objects], dict] | None = None
    ok: int = 200
    query: str = ""
    data: Mapping[str, str] = field(default_factory=dict)

    def expected(self, role: str) -> str | int:
        status = self.access[role]
        return self.ok if status == OK else status


class Objects:
    """The people of the matrix, and things owned by `user`, made on first use."""

    def __init__(self, **people):
        self.__dict__.update(people)

    def __getattr__(self, name: str):
        factory = getattr(factories, f"make_{name}", None)
        if factory is None:
            raise AttributeError(f"no factories.make_{name} to build objs.{name}")
        takes_owner = "owner" in inspect.signature(factory).parameters
        made = factory(owner=self.user) if takes_owner else factory()
        setattr(self, name, made)
        return made


def _client_import(objs: Objects) -> dict:
    return {"import_id": objs.client_import.id}


def _user_id(objs: Objects) -> dict:
    return {"user_id": objs.user.id}


def _dispatched(objs: Objects) -> dict:
    from mailer.delivery import dispatch

    dispatch.dispatch_due()  # /healthz answers 200 while dispatch runs
    return {}


def _confirm_token(objs: Objects) -> dict:
    from mailer.auth import tokens

    # The page with the button is for an address still waiting; a used link redirects.
    waiting = factories.make_user("waiting@example.com", confirmed=False)
    return {"token": tokens.make_token(waiting, tokens.CONFIRM)}


def _change_email_token(objs: Objects) -> dict:
    from mailer.auth import tokens

    return {"token": tokens.make_token(objs.user, tokens.CHANGE_EMAIL, to="new@example.com")}


def _reset_token(objs: Objects) -> dict:
    from mailer.auth import tokens

    return {"token": tokens.make_token(objs.user, tokens.RESET)}


def _avatar(objs: Objects) -> dict:
    from mailer.auth.services import avatar_folder
    from mailer.extensions import db

    folder = avatar_folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "matrix.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    objs.user.avatar = "matrix.png"
    db.session.commit()
    return {"user_id": objs.user.id}


def _outbox_attempt(objs: Objects) -> dict:
    """An attempt of `user`'s whose email the embedded default wrote to the outbox."""
    from mailer.delivery import dispatch, sender
    from mailer.extensions import db
    from mailer.models import Attempt

    client = factories.make_client(objs.user, "outbox@example.com")
    mailing = factories.make_mailing(objs.user, clients=[client])
    run_id = dispatch.start_forced_run(mailing.id)
    for batch in dispatch.run_batches(run_id):
        sender.send_batch(run_id, batch)
    return {"attempt_id": db.session.scalars(db.select(Attempt.id)).one()}


def _test_email(objs: Objects) -> dict:
    """A test email of `user`'s message that the embedded default wrote to the outbox."""
    from mailer.delivery import proof
    from mailer.mailings import outbox

    reply = proof.send_test(
        message=objs.message, to=objs.user.email, client=objs.client, subject_prefix="[Test]"
    )
    name = outbox.written_file(reply.text)
    token = outbox.test_email_token(objs.user, objs.message, name)
    return {"message_id": objs.message.id, "token": token}


def _outbox_file(objs: Objects) -> dict:
    """An email the embedded default wrote to the outbox."""
    from flask import current_app

    from mailer.mail import write_to_outbox

    written = write_to_outbox(current_app.config["MAIL_OUTBOX"], objs.user.email, b"Hi\r\n")
    return {"name": written.name}


def _other_login(objs: Objects) -> dict:
    """One of `user`'s logins, in another browser than the matrix's."""
    from mailer.auth import sessions

    factories.login_key(objs.user, user_agent="another browser")
    return {"login_id": sessions.logins_of(objs.user)[0].id}


def _unsubscribe_token(objs: Objects) -> dict:
    from mailer.delivery.unsubscribe import unsubscribe_token

    return {"token": unsubscribe_token(objs.client.id, objs.client.email)}


def _article_image(objs: Objects) -> dict:
    from mailer.blog.services import upload_dir

    upload_dir().mkdir(parents=True, exist_ok=True)
    (upload_dir() / "matrix.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return {"name": "matrix.png"}


def _client(objs):
    return {"client_id": objs.client.id}


def _message(objs):
    return {"message_id": objs.message.id}


def _mailing(objs):
    return {"mailing_id": objs.mailing.id}


ACCESS: dict[str, Rule] = {
    # main
    "main.index": Rule(PUBLIC),
    "main.favicon": Rule(PUBLIC),
    "main.healthz": Rule(PUBLIC, args=_dispatched),
    # Only in debug mode (trying mailer at home, tests/test_main/test_outbox.py): not here.
    "main.outbox_list": Rule(NOWHERE),
    "main.outbox_email": Rule(NOWHERE, args=_outbox_file),
    # auth
    "auth.register": Rule(ANONYMOUS_ONLY),
    "auth.login": Rule(ANONYMOUS_ONLY),
    # GET: a page whose button logs out (the anonymous are sent home); POST logs out.
    "auth.logout": Rule(_access(OK, anonymous=302)),
    "auth.logout_everywhere": Rule(LOGGED_IN, ok=302),
    "auth.logins": Rule(LOGGED_IN),
    "auth.end_login": Rule(OWNED, ok=302, args=_other_login),
    "auth.confirm": Rule(PUBLIC, args=_confirm_token),
    "auth.resend_confirmation": Rule(PUBLIC),
    "auth.forgot_password": Rule(PUBLIC),
    "auth.reset_password": Rule(PUBLIC, args=_reset_token),
    "auth.change_password": Rule(LOGGED_IN),
    "auth.change_email_request": Rule(LOGGED_IN),
    "auth.change_email": Rule(PUBLIC, args=_change_email_token),
    "auth.profile": Rule(LOGGED_IN),
    # The superuser is sent back to the profile: nobody would be left to run the panel.
    "auth.delete_account": Rule(_access(OK, anonymous=LOGIN, superuser=302)),
    # Managers and the superuser see avatars on the users screen.
    "auth.avatar": Rule(
        _access(404, anonymous=LOGIN, user=OK, manager=OK, superuser=OK), args=_avatar
    ),
    "auth.set_language": Rule(PUBLIC, ok=302),
    # manager: users
    "manager.users": Rule(MANAGERS),
    # GET asks why; the block itself is its POST (test_manager_users).
    "manager.block_user": Rule(MANAGERS, args=_user_id),
    "manager.unblock_user": Rule(MANAGERS, ok=302, args=_user_id),
    # manager: all mailings and attempts (read and disable/enable, never edit)
    "manager.mailings": Rule(MANAGERS),
    "manager.mailing_detail": Rule(MANAGERS, args=_mailing),
    "manager.mailing_disable": Rule(MANAGERS, ok=302, args=_mailing),
    "manager.mailing_enable": Rule(MANAGERS, ok=302, args=_mailing),
    "manager.attempts": Rule(MANAGERS),
    "manager.attempts_export": Rule(MANAGERS),
    # mailings: every user has their own lists; another user's object is 404
    "mailings.client_list": Rule(LOGGED_IN),
    "mailings.client_create": Rule(LOGGED_IN),
    "mailings.client_edit": Rule(OWNED, args=_client),
    "mailings.client_delete": Rule(OWNED, ok=302, args=_client),
    # Whose clients it deletes is its own test's (test_client_routes): with none of the
    # asker's ticked, it says so and goes back to the list.
    "mailings.client_delete_many": Rule(LOGGED_IN, ok=302),
    # The list of one mailing's clients (?mailing=ID): with none ticked, it says so.
    "mailings.client_remove_from_mailing": Rule(
        OWNED, ok=302, args=lambda objs: {"mailing": objs.mailing.id}
    ),
    # Whose mailing and clients it takes is its own test's (test_client_mailings): with no
    # mailing chosen, it says so and goes back to the list.
    "mailings.client_add_to_mailing": Rule(LOGGED_IN, ok=302),
    "mailings.client_export": Rule(LOGGED_IN),
    "mailings.client_import_upload": Rule(LOGGED_IN),
    "mailings.client_import_page": Rule(OWNED, args=_client_import),
    "mailings.client_import_progress": Rule(OWNED, args=_client_import),
    "mailings.client_import_confirm": Rule(OWNED, ok=302, args=_client_import),
    # Not lost: it says nothing and shows the import again.
    "mailings.client_import_again": Rule(OWNED, ok=302, args=_client_import),
    "mailings.client_import_cancel": Rule(OWNED, ok=302, args=_client_import),
    "mailings.message_list": Rule(LOGGED_IN),
    "mailings.message_create": Rule(LOGGED_IN),
    "mailings.message_preview": Rule(OWNED, args=_message),
    "mailings.message_edit": Rule(OWNED, args=_message),
    "mailings.message_delete": Rule(OWNED, ok=302, args=_message),
    "mailings.message_send_test": Rule(OWNED, ok=302, args=_message),
    "mailings.message_test_email": Rule(OWNED, args=_test_email),
    "mailings.mailing_list": Rule(LOGGED_IN),
    "mailings.mailing_create": Rule(LOGGED_IN),
    "mailings.mailing_detail": Rule(OWNED, args=_mailing),
    "mailings.mailing_edit": Rule(OWNED, args=_mailing),
    "mailings.mailing_copy": Rule(OWNED, ok=302, args=_mailing),
    "mailings.mailing_delete": Rule(OWNED, ok=302, args=_mailing),
    "mailings.mailing_disable": Rule(OWNED, ok=302, args=_mailing),
    "mailings.mailing_enable": Rule(OWNED, ok=302, args=_mailing),
    "mailings.mailing_send_now": Rule(OWNED, ok=302, args=_mailing),
    "mailings.mailing_progress_json": Rule(OWNED, args=_mailing),
    "mailings.attempt_list": Rule(LOGGED_IN),
    "mailings.attempt_export": Rule(LOGGED_IN),
    "mailings.attempt_email": Rule(OWNED, args=_outbox_attempt),
    "mailings.report": Rule(LOGGED_IN),
    "mailings.report_export": Rule(LOGGED_IN),
    # delivery: the signed token is the proof, no login
    "unsubscribe.unsubscribe_page": Rule(PUBLIC, args=_unsubscribe_token),
    # GET: back to the unsubscribe page (the answer's own address, reloaded).
    "unsubscribe.resubscribe_page": Rule(PUBLIC, args=_unsubscribe_token, ok=302),
    "unsubscribe.unsubscribe_preview": Rule(PUBLIC),
    # blog: public pages
    "blog.index": Rule(PUBLIC),
    "blog.article": Rule(PUBLIC, args=lambda objs: {"article_id": objs.article.id}),
    "blog.image": Rule(PUBLIC, args=_article_image),
    # admin panel: see ADMIN_PREFIXES for the rest
    "users.create_view": Rule(SUPERUSER, ok=302),  # people register themselves; back to the list
}

# Flask-Admin views, by endpoint prefix: the article views for the blog's writers,
# everything else in the panel for the superuser only. `ok` per view: the list and
# the create form answer 200; views that need ?id= or a form send back to the list.
ADMIN_PREFIXES: dict[str, Mapping[str, str | int]] = {
    "admin.": BLOG_WRITERS,
    "articles.": BLOG_WRITERS,
    "users.": SUPERUSER,
    "roles.": SUPERUSER,
}
ADMIN_VIEW_OK = {
    "index": 200,
    "index_view": 200,
    "create_view": 200,
    "edit_view": 302,
    "details_view": 302,
    "delete_view": 302,
    "action_view": 302,
    "export": 302,
    # No ajax fields are configured: an allowed role gets 404, the others 403.
    "ajax_lookup": 404,
    "ajax_update": 404,
}
ADMIN_ARGS = {"export": lambda objs: {"export_type": "csv"}}
# Static files of blueprints are public and take a file name.
NOT_CHECKED = {"static"}


def _url_map_app():
    """An app only for its URL map, at collection time (no database is touched)."""
    return create_app(environ={"SECRET_KEY": "url-map-only", "DATABASE_URL": "sqlite://"})


URL_RULES = {
    rule.endpoint: rule
    for rule in _url_map_app().url_map.iter_rules()
    if rule.endpoint not in NOT_CHECKED
}


def rule_for(endpoint: str) -> Rule | None:
    if endpoint in ACCESS:
        return ACCESS[endpoint]
    if endpoint.endswith(".static"):
        return Rule(PUBLIC, args=_admin_static) if endpoint == "admin.static" else None
    for prefix, access in ADMIN_PREFIXES.items():
        if endpoint.startswith(prefix):
            view = endpoint.removeprefix(prefix)
            if view in ADMIN_VIEW_OK:
                return Rule(access, ok=ADMIN_VIEW_OK[view], args=ADMIN_ARGS.get(view))
    return None


def _admin_static(objs: Objects) -> dict:
    return {"filename": "admin/js/helpers.js"}


def test_every_route_has_an_access_decision():
    missing = sorted(endpoint for endpoint in URL_RULES if rule_for(endpoint) is None)

    assert not missing, (
        "Routes without an access decision; add them to ACCESS in "
        f"{Path(__file__).name}: {', '.join(missing)}"
    )


def test_access_table_names_only_existing_routes():
    stale = sorted(set(ACCESS) - set(URL_RULES))

    assert not stale, f"ACCESS names routes that no longer exist: {', '.join(stale)}"


@pytest.fixture
def objs(user, other_user, manager, content_manager, superuser, app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "AVATAR_UPLOAD_DIR", str(tmp_path / "avatars"))
    monkeypatch.setitem(app.config, "ARTICLE_UPLOAD_DIR", str(tmp_path / "articles"))
    return Objects(
        user=user,
        other_user=other_user,
        manager=manager,
        content_manager=content_manager,
        superuser=superuser,
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(URL_RULES))
def test_route_answers_each_role_as_decided(app, client, login, objs, endpoint, role):
    rule = rule_for(endpoint)
    if rule is None:
        pytest.fail(f"{endpoint} has no access decision; add it to ACCESS in {Path(__file__).name}")
    url_rule = URL_RULES[endpoint]
    with app.test_request_context():
        from flask import url_for

        url = url_for(endpoint, **(rule.args(objs) if rule.args else {})) + rule.query
    if role != "anonymous":
        login(getattr(objs, role))

    if "GET" in url_rule.methods:
        response = client.get(url)
    else:
        assert client.get(url).status_code == 405, f"GET {url} must answer 405"
        response = client.post(url, data=dict(rule.data))

    expected = rule.expected(role)
    method = "GET" if "GET" in url_rule.methods else "POST"
    if expected == LOGIN:
        assert response.status_code == 302, f"{method} {url} as {role}: {response.status_code}"
        assert response.location.startswith("/auth/login"), response.location
    else:
        assert response.status_code == expected, (
            f"{method} {url} as {role}: expected {expected}, got {response.status_code}"
        )
