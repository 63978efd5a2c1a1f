"""`flask csu`, `flask user grant/revoke`, and the superuser of the demo data."""

from __future__ import annotations

import socket

import pytest

from mailer import create_app, demo
from mailer.auth.passwords import check_password_hash
from mailer.extensions import db
from mailer.models import User


@pytest.fixture
def debug_app(test_environ):
    return create_app(overrides={"TESTING": True}, environ={**test_environ, "FLASK_DEBUG": "1"})


def superuser_row() -> User | None:
    db.session.expire_all()
    return User.by_email("admin@mailing.com")


def test_csu_in_debug_uses_the_seed_password(debug_app):
    with debug_app.app_context():
        result = debug_app.test_cli_runner().invoke(args=["csu"])

    assert result.exit_code == 0, result.output
    assert "Created the superuser admin@mailing.com" in result.output
    admin = superuser_row()
    assert admin.is_superuser
    assert admin.is_confirmed
    assert check_password_hash(admin.password_hash, "qwerty12")


def test_csu_in_debug_never_resets_an_existing_superuser_to_the_seed_password(
    debug_app, test_environ
):
    app = create_app(overrides={"TESTING": True}, environ=test_environ)
    with app.app_context():
        app.test_cli_runner().invoke(args=["csu", "--password", "strong-admin-pass"])
    with debug_app.app_context():
        result = debug_app.test_cli_runner().invoke(args=["csu"])
        short = debug_app.test_cli_runner().invoke(args=["csu", "--password", "short"])

        assert result.exit_code != 0
        assert "exists already; give --password to set a new password" in result.output
        assert short.exit_code != 0  # a typed password is checked in debug mode too
        assert "at least 10 characters" in short.output
        assert check_password_hash(superuser_row().password_hash, "strong-admin-pass")


def test_csu_outside_debug_asks_for_a_password_twice(app):
    result = app.test_cli_runner().invoke(
        args=["csu"], input="strong-admin-pass\nstrong-admin-pass\n"
    )

    assert result.exit_code == 0, result.output
    assert check_password_hash(superuser_row().password_hash, "strong-admin-pass")
    assert "qwerty12" not in result.output


def test_csu_outside_debug_never_falls_back_to_the_seed_password(app):
    result = app.test_cli_runner().invoke(args=["csu"], input="\n")

    assert result.exit_code != 0
    assert superuser_row() is None


def test_csu_takes_the_password_as_an_option_and_updates_an_existing_superuser(app, superuser):
    result = app.test_cli_runner().invoke(args=["csu", "--password", "new-admin-pass-1"])

    assert result.exit_code == 0, result.output
    assert "Updated the superuser" in result.output
    assert check_password_hash(superuser_row().password_hash, "new-admin-pass-1")
    assert User.query.count() == 1


def test_csu_refuses_a_short_password_outside_debug(app):
    result = app.test_cli_runner().invoke(args=["csu", "--password", "short"])

    assert result.exit_code != 0
    assert "at least 10 characters" in result.output
    assert superuser_row() is None


def test_csu_refuses_a_common_password_outside_debug(app):
    result = app.test_cli_runner().invoke(args=["csu", "--password", "password123"])

    assert result.exit_code != 0
    assert "too common" in result.output
    assert superuser_row() is None


@pytest.mark.parametrize(
    ("password", "said"),
    [(" " * 12, "cannot be spaces alone"), ("x" * 201, "at most 200 characters")],
)
def test_csu_refuses_a_password_the_login_form_would_not_take(app, password, said):
    """Set here, it locked the superuser out: the login form refuses it."""
    result = app.test_cli_runner().invoke(args=["csu", "--password", password])

    assert result.exit_code != 0
    assert said in result.output
    assert superuser_row() is None


def test_user_grant_and_revoke_roles(app, user):
    runner = app.test_cli_runner()

    granted = runner.invoke(args=["user", "grant", "USER@example.com", "manager"])
    again = runner.invoke(args=["user", "grant", "user@example.com", "manager"])
    db.session.expire_all()
    assert User.by_email("user@example.com").is_manager
    revoked = runner.invoke(args=["user", "revoke", "user@example.com", "manager"])

    assert granted.exit_code == again.exit_code == revoked.exit_code == 0
    assert "is now a manager" in granted.output
    assert "already was a manager" in again.output
    db.session.expire_all()
    assert not User.by_email("user@example.com").is_manager


def test_user_grant_content_manager(app, user):
    result = app.test_cli_runner().invoke(args=["user", "grant", user.email, "content-manager"])

    assert result.exit_code == 0
    db.session.expire_all()
    assert User.by_email(user.email).is_content_manager


def test_user_grant_names_an_unknown_email(app):
    result = app.test_cli_runner().invoke(args=["user", "grant", "ghost@example.com", "manager"])

    assert result.exit_code != 0
    assert "No user with the email 'ghost@example.com'" in result.output


def test_user_grant_names_an_unknown_role(app, user):
    result = app.test_cli_runner().invoke(args=["user", "grant", user.email, "admin"])

    assert result.exit_code != 0
    assert "Unknown role 'admin'" in result.output
    assert "manager, content-manager" in result.output


def test_demo_data_in_debug_includes_the_superuser(debug_app):
    with debug_app.app_context():
        demo.seed_demo()
        db.session.commit()
        logins = demo.demo_logins()

    roles = {login.role: login for login in logins}
    assert roles["superuser"].email == "admin@mailing.com"
    assert {"user", "manager", "content manager"} <= roles.keys()
    assert superuser_row().is_superuser


def test_a_demo_login_whose_password_changed_is_offered_no_more(debug_app):
    """`flask csu --password` (README's own step): the banner and the login page's button
    still gave the seed's qwerty12, which then failed."""
    with debug_app.app_context():
        demo.seed_demo()
        db.session.commit()
        debug_app.test_cli_runner().invoke(args=["csu", "--password", "Str0ng-enough-pass!"])

        offered = {login.email for login in demo.present_logins()}

    assert "admin@mailing.com" not in offered
    assert {"user@example.com", "manager@example.com", "writer@example.com"} <= offered


def test_demo_data_outside_debug_has_no_superuser_with_a_known_password(app):
    demo.seed_demo()
    db.session.commit()
    logins = demo.demo_logins()

    assert "superuser" not in {login.role for login in logins}
    assert superuser_row() is None


def test_seed_demo_says_what_it_added_and_that_a_second_run_adds_nothing(app):
    runner = app.test_cli_runner()

    first = runner.invoke(args=["seed-demo", "--yes"])
    again = runner.invoke(args=["seed-demo", "--yes"])

    assert first.exit_code == again.exit_code == 0
    assert "Loaded the demo data: 3 users, " in first.output
    assert "The demo data is there already: nothing added." in again.output
    assert "Demo logins:" in again.output


@pytest.mark.parametrize(
    ("database", "mail_server", "debug", "loads"),
    [
        ("sqlite:////tmp/instance/mailer.db", None, True, True),  # the embedded default
        ("postgresql+psycopg2://u@db/mailer", None, True, False),  # a database of one's own
        ("sqlite:////tmp/instance/mailer.db", "smtp.example.com", True, False),  # real mail
        ("sqlite:////tmp/instance/mailer.db", None, False, False),  # a server
    ],
    ids=["embedded", "PostgreSQL", "a mail server", "debug off"],
)
def test_make_run_loads_the_demo_data_by_itself_only_when_mailer_is_tried_at_home(
    app, monkeypatch, database, mail_server, debug, loads
):
    monkeypatch.setitem(app.config, "SQLALCHEMY_DATABASE_URI", database)
    monkeypatch.setitem(app.config, "MAIL_SERVER", mail_server)
    monkeypatch.setattr(app, "debug", debug)

    assert demo.loads_by_itself() is loads


def test_seed_demo_with_a_mail_server_says_its_due_mailings_go_out_through_it(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "smtp.example.com")

    result = app.test_cli_runner().invoke(args=["seed-demo", "--yes"])

    assert result.exit_code == 0, result.output
    assert "Two of its mailings are due now: the scheduler sends them through MAIL_SERVER" in (
        result.output
    )


@pytest.mark.parametrize(("debug", "mail_server"), [(False, None), (True, "smtp.example.com")])
def test_seed_demo_on_a_server_or_with_real_mail_asks_first(app, monkeypatch, debug, mail_server):
    """Its manager's password is in the README: loaded into a server's database unasked,
    it was a login anyone could use."""
    monkeypatch.setattr(app, "debug", debug)
    monkeypatch.setitem(app.config, "MAIL_SERVER", mail_server)

    declined = app.test_cli_runner().invoke(args=["seed-demo"], input="n\n")

    assert declined.exit_code == 1
    assert "only on a database you will throw away" in declined.output
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0
    accepted = app.test_cli_runner().invoke(args=["seed-demo"], input="y\n")
    assert "Loaded the demo data: " in accepted.output


@pytest.mark.parametrize("port", ["0", "70000", "-5"])
def test_make_run_on_a_port_no_server_can_have_says_so_before_anything_starts(app, port):
    """70000 was a traceback; 0 served on a port nobody knew, with links in emails to ":0"."""
    result = app.test_cli_runner().invoke(args=["up", "--port", port])

    assert result.exit_code == 2
    assert "is not in the range 1<=x<=65535" in result.output
    assert "Traceback" not in result.output
    assert User.query.count() == 0


@pytest.mark.parametrize("host", ["nohost.invalid", "192.0.2.1"])
def test_make_run_on_a_host_this_machine_is_not_says_so(app, host):
    """It said another program might hold the port."""
    result = app.test_cli_runner().invoke(args=["up", "--host", host, "--port", "5099"])

    assert result.exit_code == 1
    assert f"{host} is no address of this machine" in result.output
    assert "another program" not in result.output


def test_make_run_on_a_port_in_use_stops_at_once_saying_how_to_choose_another(app):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = app.test_cli_runner().invoke(args=["up", "--port", str(port)])

    assert result.exit_code == 1
    assert f"Port {port} on 127.0.0.1 cannot be used" in result.output
    assert "choose another port: PORT=5077 make run" in result.output
    assert "Demo logins" not in result.output  # it stopped before anything began
    assert User.query.count() == 0
