"""The managers' users screen: list, search, counts, block and unblock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from mailer.auth import staff
from mailer.extensions import db
from mailer.mailings import pagination
from mailer.models import Client, Mailing, Message, User, utcnow
from tests import factories


def give_data(owner: User, clients: int, mailings: int) -> None:
    message = Message(owner=owner, subject="Hi", body_text="Hello")
    db.session.add(message)
    for number in range(clients):
        db.session.add(Client(owner=owner, email=f"c{number}@example.org"))
    start = utcnow()
    for _ in range(mailings):
        db.session.add(
            Mailing(owner=owner, message=message, start_at=start, end_at=start + timedelta(days=1))
        )
    db.session.commit()


def test_manager_sees_every_user_with_counts_of_clients_and_mailings(
    client, login, manager, user, other_user
):
    give_data(user, clients=3, mailings=2)
    login(manager)

    page = client.get("/manager/users").get_data(as_text=True)

    row = page.split("user@example.com", 1)[1].split("</tr>", 1)[0]
    assert '<td class="text-end d-none d-xl-table-cell">3</td>' in row
    assert '<td class="text-end d-none d-xl-table-cell">2</td>' in row
    assert "other@example.com" in page
    assert "manager@example.com" in page


def test_users_screen_counts_up_to_the_limit(client, login, manager, user, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 2)
    give_data(user, clients=3, mailings=2)
    login(manager)

    page = client.get("/manager/users").get_data(as_text=True)

    row = page.split("user@example.com", 1)[1].split("</tr>", 1)[0]
    assert '<td class="text-end d-none d-xl-table-cell">2+</td>' in row  # clients: past it
    assert '<td class="text-end d-none d-xl-table-cell">2</td>' in row  # mailings: exactly


def test_users_screen_searches_by_email_and_name(client, login, manager, user, other_user):
    login(manager)

    by_name = client.get("/manager/users?q=oscar").get_data(as_text=True)
    by_email = client.get("/manager/users?q=USER@").get_data(as_text=True)

    assert "other@example.com" in by_name
    assert "user@example.com" not in by_name
    assert "user@example.com" in by_email
    assert "other@example.com" not in by_email


def test_users_screen_says_what_to_do_when_nothing_matches(client, login, manager):
    login(manager)

    page = client.get("/manager/users?q=zzz")

    assert b"No user matches" in page.data


def test_users_screen_is_paginated(client, login, manager):
    for number in range(30):
        factories.make_user(f"person{number:02d}@example.com")
    login(manager)

    first = client.get("/manager/users").get_data(as_text=True)
    second = client.get("/manager/users?page=2").get_data(as_text=True)

    assert "person00@example.com" in first
    assert "person29@example.com" not in first
    assert "person29@example.com" in second


def count_queries(app, client, path: str) -> int:
    statements = []

    def record(*args):
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def test_users_screen_makes_the_same_number_of_queries_for_few_and_many_users(
    app, client, login, manager
):
    few = [factories.make_user(f"few{number}@example.com") for number in range(2)]
    for person in few:
        give_data(person, clients=1, mailings=1)
    login(manager)
    queries_for_few = count_queries(app, client, "/manager/users")

    for number in range(12):
        person = factories.make_user(f"many{number}@example.com", roles=["content-manager"])
        give_data(person, clients=2, mailings=1)
    queries_for_many = count_queries(app, client, "/manager/users")

    assert queries_for_many == queries_for_few


def test_manager_blocks_and_unblocks_a_user(client, login, manager, user):
    login(manager)

    response = client.post(f"/manager/users/{user.id}/block?page=2&q=ur")

    assert response.location == "/manager/users?page=2&q=ur"
    db.session.expire_all()
    blocked = db.session.get(User, user.id)
    assert blocked.is_blocked
    assert blocked.blocked_by_id == manager.id
    assert blocked.blocked_at is not None

    client.post(f"/manager/users/{user.id}/unblock")
    db.session.expire_all()
    unblocked = db.session.get(User, user.id)
    assert not unblocked.is_blocked
    assert unblocked.blocked_at is None


def test_block_asks_why_on_a_page_of_its_own_then_shows_who_when_and_why(
    client, login, manager, user
):
    login(manager)
    listed = client.get("/manager/users?q=ur").text
    assert f'href="/manager/users/{user.id}/block?q=ur"' in listed

    asked = client.get(f"/manager/users/{user.id}/block?q=ur").text
    assert f"Block {user.email}?" in asked
    assert 'name="reason"' in asked
    assert 'href="/manager/users?q=ur"' in asked  # Cancel: back to the list as it was
    assert not db.session.get(User, user.id).is_blocked  # asking blocks no one
    blocked = client.post(
        f"/manager/users/{user.id}/block?q=ur",
        data={"reason": "  Spam complaints from three recipients  "},
        follow_redirects=True,
    )

    assert f"{user.email} is blocked." in blocked.text
    db.session.expire_all()
    assert db.session.get(User, user.id).block_reason == "Spam complaints from three recipients"
    shown = blocked.text[blocked.text.index("data-blocked") :]
    assert shown.startswith(f"data-blocked>by {manager.email}, ")
    assert "“Spam complaints from three recipients”" in shown


def test_a_block_reason_too_long_is_refused_with_the_text_kept(client, login, manager, user):
    login(manager)
    reason = "x" * (User.BLOCK_REASON_MAX + 1)

    refused = client.post(f"/manager/users/{user.id}/block", data={"reason": reason})

    assert refused.status_code == 200
    assert "At most 500 characters." in refused.text
    assert reason in refused.text
    db.session.expire_all()
    assert not db.session.get(User, user.id).is_blocked


def test_the_block_page_of_someone_who_cannot_be_blocked_says_why(
    client, login, manager, superuser
):
    login(manager)

    page = client.get(f"/manager/users/{superuser.id}/block", follow_redirects=True)

    assert page.request.path == "/manager/users"
    assert "The superuser cannot be blocked." in page.text


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_blocking_someone_blocked_already_says_so_and_keeps_the_first_reason(
    client, login, manager, user, method
):
    staff.block_user(user=user, by=manager, reason="First reason")
    db.session.commit()
    login(manager)

    page = client.open(
        f"/manager/users/{user.id}/block",
        method=method,
        data={"reason": "Second reason"},
        follow_redirects=True,
    )

    assert page.request.path == "/manager/users"
    assert f"{user.email} is blocked already" in page.text
    assert f"{user.email} is blocked." not in page.text
    db.session.expire_all()
    assert db.session.get(User, user.id).block_reason == "First reason"


def test_unblocking_forgets_the_reason(client, login, manager, user):
    staff.block_user(user=user, by=manager, reason="Spam")
    db.session.commit()
    login(manager)

    client.post(f"/manager/users/{user.id}/unblock")

    db.session.expire_all()
    assert db.session.get(User, user.id).block_reason == ""


def test_manager_cannot_block_themselves_or_the_superuser(client, login, manager, superuser):
    login(manager)

    itself = client.post(f"/manager/users/{manager.id}/block", follow_redirects=True)
    admin = client.post(f"/manager/users/{superuser.id}/block", follow_redirects=True)

    assert b"You cannot block yourself." in itself.data
    assert b"The superuser cannot be blocked." in admin.data
    db.session.expire_all()
    assert not db.session.get(User, manager.id).is_blocked
    assert not db.session.get(User, superuser.id).is_blocked


def test_unblocking_skips_the_sends_missed_while_blocked(manager, user):
    """As Enable does for a disabled mailing: blocking stops mailings the same way. The
    slot missed while blocked went out at once after the unblock."""
    missed = utcnow() - timedelta(days=3)
    weekly = factories.make_mailing(
        user, frequency="weekly", start_at=missed - timedelta(days=7), next_send_at=missed
    )
    staff.block_user(user=user, by=manager)
    db.session.commit()

    staff.unblock_user(user=user, by=manager)
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(Mailing, weekly.id).next_send_at == missed + timedelta(days=7)


def test_a_superuser_left_blocked_can_be_unblocked(client, login, manager):
    """Made superuser while blocked (before the admin panel unblocked them for it): the
    Unblock button is there, and works."""
    blocked = factories.make_user(email="stuck@example.com", is_blocked=True, is_superuser=True)
    login(manager)

    listed = client.get("/manager/users").text
    unblocked = client.post(f"/manager/users/{blocked.id}/unblock", follow_redirects=True).text

    assert f"/manager/users/{blocked.id}/unblock" in listed
    assert "stuck@example.com is unblocked." in unblocked
    db.session.expire_all()
    assert not db.session.get(User, blocked.id).is_blocked


def test_block_service_refuses_self_and_superuser(manager, superuser):
    with pytest.raises(staff.AccountError):
        staff.block_user(user=manager, by=manager)
    with pytest.raises(staff.AccountError):
        staff.block_user(user=superuser, by=manager)


def test_managers_cannot_block_or_unblock_each_other(client, login, manager):
    peer = factories.make_user(email="peer@example.com", roles=["manager"])
    blocked_peer = factories.make_user(email="gone@example.com", roles=["manager"], is_blocked=True)
    login(manager)

    page = client.get("/manager/users").get_data(as_text=True)
    block = client.post(f"/manager/users/{peer.id}/block", follow_redirects=True)
    unblock = client.post(f"/manager/users/{blocked_peer.id}/unblock", follow_redirects=True)

    assert f"/manager/users/{peer.id}/block" not in page
    assert f"/manager/users/{blocked_peer.id}/unblock" not in page
    assert "peer@example.com is a manager: only the superuser" in block.get_data(as_text=True)
    assert "gone@example.com is a manager: only the superuser" in unblock.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(User, peer.id).is_blocked
    assert db.session.get(User, blocked_peer.id).is_blocked


def test_superuser_with_the_manager_role_blocks_and_unblocks_a_manager(client, login, manager):
    chief = factories.make_user(email="chief@example.com", roles=["manager"], is_superuser=True)
    login(chief)

    page = client.get("/manager/users").get_data(as_text=True)
    assert f"/manager/users/{manager.id}/block" in page
    client.post(f"/manager/users/{manager.id}/block")
    db.session.expire_all()
    assert db.session.get(User, manager.id).is_blocked

    client.post(f"/manager/users/{manager.id}/unblock")
    db.session.expire_all()
    assert not db.session.get(User, manager.id).is_blocked


def test_a_manager_blocks_a_former_manager_once_the_role_is_taken_away(client, login, manager):
    peer = factories.make_user(email="peer@example.com", roles=["manager"])
    staff.revoke_role(user=peer, role="manager")
    db.session.commit()
    login(manager)

    client.post(f"/manager/users/{peer.id}/block")

    db.session.expire_all()
    assert db.session.get(User, peer.id).is_blocked


def test_blocking_an_unknown_user_answers_404(client, login, manager):
    login(manager)

    assert client.post("/manager/users/99999/block").status_code == 404


@pytest.mark.parametrize("role", ["user", "content_manager", "superuser"])
def test_users_without_the_manager_role_get_403(client, login, request, role, other_user):
    login(request.getfixturevalue(role))

    assert client.get("/manager/users").status_code == 403
    assert client.post(f"/manager/users/{other_user.id}/block").status_code == 403
    db.session.expire_all()
    assert not db.session.get(User, other_user.id).is_blocked


def test_anonymous_visitor_is_sent_to_log_in(client, user):
    response = client.post(f"/manager/users/{user.id}/block")

    assert response.status_code == 302
    assert response.location.startswith("/auth/login")


def test_nav_shows_users_link_only_to_managers(client, login, manager, user):
    login(user)
    assert b'href="/manager/users"' not in client.get("/").data
    login(manager)
    assert b'href="/manager/users"' in client.get("/").data
