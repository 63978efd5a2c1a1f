"""The admin panel: who may enter, what each role sees, writing and publishing articles."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from mailer import create_app
from mailer.extensions import db
from mailer.models import Article, User
from tests.factories import login_key, make_article
from tests.refusals import refusing

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ADMIN_PAGES = (
    "/admin/",
    "/admin/articles/",
    "/admin/articles/new/",
    "/admin/users/",
    "/admin/roles/",
)


def articles() -> list[Article]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Article).order_by(Article.id)))


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_anonymous_visitor_is_sent_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert "next=" in response.headers["Location"]


def test_after_logging_in_staff_go_on_to_the_admin_page_they_asked_for(client, content_manager):
    asked = client.get("/admin/articles/?page=0")
    form = client.get(asked.headers["Location"]).text
    next_path = re.search(r'name="next" type="hidden" value="([^"]*)"', form).group(1)
    assert next_path == "/admin/articles/?page=0"


@pytest.mark.parametrize(
    "back", ["http:evil.example", "https://evil.example/", "//evil.example", "/\\evil.example"]
)
def test_the_panel_goes_back_only_to_this_site(client, login, content_manager, back):
    """Flask-Admin's own check takes "http:evil.example" (no host) for this site."""
    login(content_manager)
    created = client.post(
        "/admin/articles/new/?url=" + back, data={"title": "Hello", "body": "Some text."}
    )
    assert created.status_code == 400
    assert articles() == []
    assert (
        client.post(
            "/admin/articles/new/?url=/admin/articles/",
            data={"title": "Hello", "body": "Some text."},
        ).headers["Location"]
        == "/admin/articles/"
    )


@pytest.mark.parametrize("record", ["abc", "99999999999999999999", "2147483648", "-1"])
@pytest.mark.parametrize("view", ["details", "edit"])
def test_a_record_id_the_database_cannot_take_is_no_such_record(
    client, login, superuser, view, record
):
    login(superuser)
    for path in (f"/admin/users/{view}/?id={record}", f"/admin/articles/{view}/?id={record}"):
        answer = client.get(path, follow_redirects=True)
        assert answer.status_code == 200, path
        assert "Record does not exist." in answer.text


@pytest.mark.parametrize("page", ["-1", "99999999999999999999"])
def test_a_page_number_the_database_cannot_take_is_an_empty_list(client, login, superuser, page):
    login(superuser)
    for path in ("/admin/users/", "/admin/articles/", "/admin/roles/"):
        assert client.get(f"{path}?page={page}").status_code == 200, path


@pytest.mark.parametrize("path", ADMIN_PAGES)
@pytest.mark.parametrize("role", ["user", "manager"])
def test_users_and_managers_have_no_admin_panel(client, login, request, role, path):
    login(request.getfixturevalue(role))
    assert client.get(path).status_code == 403


def test_content_manager_sees_only_articles(client, login, content_manager):
    login(content_manager)
    index = client.get("/admin/")
    assert index.status_code == 200
    html = index.get_data(as_text=True)
    assert "/admin/articles/" in html
    assert "/admin/users/" not in html
    assert "/admin/roles/" not in html
    assert client.get("/admin/articles/").status_code == 200
    assert client.get("/admin/users/").status_code == 403
    assert client.get("/admin/roles/").status_code == 403


def test_superuser_sees_articles_users_and_roles(client, login, superuser, user):
    login(superuser)
    html = client.get("/admin/").get_data(as_text=True)
    for path in ("/admin/articles/", "/admin/users/", "/admin/roles/"):
        assert path in html
        assert client.get(path).status_code == 200


def test_admin_link_in_the_menu_only_for_people_who_write(client, login, content_manager, user):
    login(user)
    assert 'href="/admin/"' not in client.get("/").get_data(as_text=True)
    login(content_manager)
    assert 'href="/admin/"' in client.get("/").get_data(as_text=True)


def test_content_manager_writes_and_publishes_an_article(client, login, content_manager):
    login(content_manager)
    response = client.post(
        "/admin/articles/new/",
        data={"title": "Hello readers", "body": "First **post**."},
    )
    assert response.status_code == 302
    [article] = articles()
    assert article.title == "Hello readers"
    assert article.author_id == content_manager.id
    assert not article.is_published
    assert client.get("/blog/").get_data(as_text=True).count("Hello readers") == 0

    response = client.post(
        "/admin/articles/action/", data={"action": "publish", "rowid": [str(article.id)]}
    )
    assert response.status_code == 302
    [article] = articles()
    assert article.is_published
    first_published_at = article.published_at
    assert first_published_at is not None
    assert "Hello readers" in client.get("/blog/").get_data(as_text=True)
    assert "Hello readers" in client.get("/").get_data(as_text=True)
    assert "<strong>post</strong>" in client.get(f"/blog/{article.id}").get_data(as_text=True)

    client.post("/admin/articles/action/", data={"action": "unpublish", "rowid": [str(article.id)]})
    client.post("/admin/articles/action/", data={"action": "publish", "rowid": [str(article.id)]})
    [article] = articles()
    assert article.published_at == first_published_at  # the date of the first publication


def test_editing_an_article_shows_at_once(client, login, content_manager):
    article = make_article("Old title")
    assert "Old title" in client.get("/blog/").get_data(as_text=True)
    assert "Old title" in client.get(f"/blog/{article.id}").get_data(as_text=True)
    login(content_manager)
    client.post(
        f"/admin/articles/edit/?id={article.id}",
        data={"title": "New title", "body": "Changed", "is_published": "y"},
    )
    assert "New title" in client.get("/blog/").get_data(as_text=True)
    assert "New title" in client.get(f"/blog/{article.id}").get_data(as_text=True)


def test_unpublishing_hides_the_article_from_the_blog_at_once(client, login, content_manager):
    article = make_article("Going away")
    assert "Going away" in client.get("/blog/").get_data(as_text=True)
    login(content_manager)
    client.post("/admin/articles/action/", data={"action": "unpublish", "rowid": [str(article.id)]})
    assert "Going away" not in client.get("/blog/").get_data(as_text=True)
    assert "Going away" not in client.get("/").get_data(as_text=True)


def test_deleting_an_article_removes_it_from_the_blog(client, login, content_manager):
    article_id = make_article("Deleted soon").id
    assert "Deleted soon" in client.get("/blog/").get_data(as_text=True)
    assert client.get(f"/blog/{article_id}").status_code == 200
    login(content_manager)
    client.post("/admin/articles/delete/", data={"id": str(article_id)})
    assert articles() == []
    assert "Deleted soon" not in client.get("/blog/").get_data(as_text=True)
    assert client.get(f"/blog/{article_id}").status_code == 404


def test_preview_renders_the_markdown_in_the_admin(client, login, content_manager):
    article = make_article("Draft", body="Some *emphasis*", published=False)
    login(content_manager)
    html = client.get(f"/admin/articles/details/?id={article.id}").get_data(as_text=True)
    assert "<em>emphasis</em>" in html


def test_details_say_yes_or_no_in_the_viewers_language(client, login, content_manager):
    content_manager.locale = "ru"
    db.session.commit()
    article = make_article("Статья")
    login(content_manager)
    html = client.get(f"/admin/articles/details/?id={article.id}").get_data(as_text=True)
    published = re.search(r"Опубликована</b>\s*</td>\s*<td>\s*(\S+)", html).group(1)
    assert published == "да"


def test_the_list_says_what_its_ticks_mean_in_the_viewers_language(client, login, content_manager):
    content_manager.locale = "ru"
    db.session.commit()
    make_article("Вышла")
    make_article("Черновик", published=False)
    login(content_manager)

    html = client.get("/admin/articles/").get_data(as_text=True)

    assert 'title="Опубликована: да" aria-label="Опубликована: да"' in html
    assert 'title="Опубликована: нет"' in html
    assert "is_published: " not in html  # Flask-Admin's "is_published: true"


def upload(data: bytes, name: str) -> tuple[io.BytesIO, str]:
    return io.BytesIO(data), name


def save_pictured(client, path: str = "/admin/articles/new/", image: str = "photo.png"):
    """Save an article "Pictured" with a PNG named `image`: a new one, or through `path`."""
    return client.post(
        path,
        data={"title": "Pictured", "body": "x", "image_file": upload(PNG, image)},
        content_type="multipart/form-data",
    )


def test_an_article_says_its_language_and_what_its_image_shows(client, login, content_manager):
    """A Russian article on an English page was read in an English voice, and its image
    had no words for who cannot see it."""
    content_manager.locale = "ru"
    db.session.commit()
    login(content_manager)
    form = client.get("/admin/articles/new/").text
    assert re.search(r'<option selected value="ru">Русский</option>', form)
    client.post(
        "/admin/articles/new/",
        data={
            "title": "Время рассылки",
            "language": "ru",
            "body": "Текст.",
            "image_file": upload(PNG, "chart.png"),
            "image_alt": "  Open rates by hour: highest at 10 am  ",
            "is_published": "y",
        },
        content_type="multipart/form-data",
    )
    [article] = articles()
    assert (article.language, article.image_alt) == ("ru", "Open rates by hour: highest at 10 am")

    content_manager.locale = "en"  # an English page: the article's words are marked Russian
    db.session.commit()
    page = client.get(f"/blog/{article.id}").text
    assert '<html lang="en">' in page
    assert '<h1 lang="ru">Время рассылки</h1>' in page
    assert 'alt="Open rates by hour: highest at 10 am"' in page
    assert '<div class="article-body" lang="ru">' in page
    listed = client.get("/blog/").text
    assert '<h2 class="h4 card-title" lang="ru">' in listed


def test_image_upload_is_stored_and_served(app, client, login, content_manager):
    login(content_manager)
    save_pictured(client)
    [article] = articles()
    assert article.image.endswith(".png")
    assert (Path(app.config["ARTICLE_UPLOAD_DIR"]) / article.image).read_bytes() == PNG
    served = client.get(f"/blog/images/{article.image}")
    assert served.status_code == 200
    assert served.data == PNG


def test_upload_that_is_not_an_image_is_refused_inline(client, login, content_manager):
    login(content_manager)
    response = client.post(
        "/admin/articles/new/",
        data={
            "title": "Kept title",
            "body": "x",
            "image_file": upload(b"<?php echo 'hi'; ?>", "photo.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Only PNG, JPEG, GIF and WebP images" in html
    assert "Kept title" in html
    assert articles() == []


def test_a_form_the_panel_refuses_is_said_in_russian(client, login, content_manager):
    """Flask-Admin's own "Failed to create/save record." (its Russian .mo lacks them)."""
    content_manager.locale = "ru"
    db.session.commit()
    login(content_manager)

    created = client.post("/admin/articles/new/", data={"title": "", "body": "Kept body"})
    article = make_article(title="Before", author=content_manager)
    saved = client.post(f"/admin/articles/edit/?id={article.id}", data={"title": "", "body": "x"})

    assert "Не удалось создать запись." in created.text
    assert "Kept body" in created.text
    assert "Не удалось сохранить запись." in saved.text
    assert "Failed to" not in created.text + saved.text


def _confirmations(page: str) -> dict:
    """What the list's bulk actions ask before they act, by action."""
    data = re.search(r'id="actions-confirmation-data"[^>]*>(.*?)</div>', page)
    return json.loads(data.group(1))


def test_the_panels_russian_bulk_delete_and_choice_errors_are_whole_sentences(
    client, login, superuser
):
    """Flask-Admin's Russian catalogue asks "Вы уверены что хотите удалить ?", and its forms
    read WTForms' for their fields' errors (a user deleted in another tab)."""
    superuser.locale = "ru"
    db.session.commit()
    login(superuser)

    articles = client.get("/admin/articles/").text
    roles = client.get("/admin/roles/").text
    refused = client.post("/admin/roles/new/", data={"user": "999", "name": "manager"}).text

    assert _confirmations(articles)["delete"] == "Удалить выбранные статьи?"
    assert _confirmations(roles)["delete"] == "Отозвать выбранные роли?"
    assert "Неверный вариант" in refused
    assert "Not a valid choice" not in refused


def test_image_larger_than_the_limit_is_refused(app, client, login, content_manager):
    login(content_manager)
    too_big = PNG + b"\x00" * app.config["ARTICLE_IMAGE_MAX_BYTES"]
    response = client.post(
        "/admin/articles/new/",
        data={"title": "Huge", "body": "x", "image_file": upload(too_big, "big.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "The image is larger than" in response.get_data(as_text=True)
    assert articles() == []


@pytest.fixture
def csrf_app(test_environ):
    return create_app(
        overrides={"TESTING": True, "SESSION_COOKIE_SECURE": False}, environ=test_environ
    )


def test_admin_forms_need_the_csrf_token(csrf_app, content_manager):
    client = csrf_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = login_key(content_manager)
    form = client.get("/admin/articles/new/").get_data(as_text=True)
    assert 'name="csrf_token"' in form
    response = client.post("/admin/articles/new/", data={"title": "Forged", "body": "x"})
    assert response.status_code == 400
    assert articles() == []


def test_admin_pages_load_no_assets_from_other_sites(client, login, superuser):
    login(superuser)
    for path in ("/admin/", "/admin/articles/", "/admin/articles/new/", "/admin/users/"):
        html = client.get(path).get_data(as_text=True)
        assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
        assert assets, path
        assert all(asset.startswith("/") for asset in assets), (path, assets)
        for asset in assets:
            assert client.get(asset).status_code == 200, asset


@pytest.mark.parametrize("action", ["delete", "publish"])
def test_a_list_action_on_ids_no_row_could_have_changes_nothing(
    client, login, superuser, user, action
):
    article = make_article("Kept", published=False)
    login(superuser)

    response = client.post(
        "/admin/articles/action/" if action == "publish" else "/admin/users/action/",
        data={"action": action, "rowid": ["1 OR 1=1", "x", "²", str(2**31)]},
    )

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id) is not None
    assert not db.session.get(Article, article.id).is_published


def test_a_change_the_database_refuses_says_so_in_plain_words_and_keeps_what_was_typed(
    client, login, content_manager, caplog
):
    article = make_article("Before")
    login(content_manager)

    with refusing("UPDATE", "articles"), caplog.at_level("ERROR", logger="mailer.blog.admin"):
        response = client.post(
            f"/admin/articles/edit/?id={article.id}",
            data={"title": "Typed title", "body": "Typed body"},
            follow_redirects=True,
        )

    assert response.status_code == 200
    assert "The change could not be made. It has been logged; please try again." in response.text
    assert "refuse" not in response.text
    assert "Typed title" in response.text
    assert "refused by the refuse trigger" in caplog.text
    db.session.expire_all()
    assert db.session.get(Article, article.id).title == "Before"


def test_an_image_that_cannot_be_stored_is_said_in_the_viewers_language_and_nothing_is_saved(
    app, client, login, content_manager, tmp_path, monkeypatch, caplog
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setitem(app.config, "ARTICLE_UPLOAD_DIR", str(blocker / "images"))
    content_manager.locale = "ru"
    db.session.commit()
    login(content_manager)

    with caplog.at_level("ERROR", logger="mailer.blog.admin"):
        response = save_pictured(client)

    assert response.status_code == 200
    assert "Не удалось внести изменение. Ошибка записана в журнал" in response.text
    assert "Failed to create record" not in response.text
    assert "not-a-folder" not in response.text  # the error's own text stays in the log
    assert 'value="Pictured"' in response.text
    assert "NotADirectoryError" in caplog.text
    assert articles() == []


def test_a_new_image_replaces_the_old_file_only_once_the_article_is_saved(
    app, client, login, content_manager
):
    folder = Path(app.config["ARTICLE_UPLOAD_DIR"])
    login(content_manager)
    save_pictured(client)
    [article] = articles()
    old = article.image
    files_before = set(folder.iterdir())  # earlier tests' files included
    edit = f"/admin/articles/edit/?id={article.id}"

    with refusing("UPDATE", "articles"):
        save_pictured(client, edit, "new.png")
    db.session.expire_all()
    assert article.image == old
    assert client.get(f"/blog/images/{old}").status_code == 200
    assert set(folder.iterdir()) == files_before  # the refused upload is not left behind

    save_pictured(client, edit, "new.png")
    db.session.expire_all()
    assert article.image != old
    assert set(folder.iterdir()) == files_before - {folder / old} | {folder / article.image}


def test_an_articles_image_is_shown_on_its_edit_and_details_pages_and_can_be_removed(
    app, client, login, content_manager
):
    login(content_manager)
    assert 'name="remove_image"' not in client.get("/admin/articles/new/").text  # none yet
    save_pictured(client)
    [article] = articles()
    shown = f'<img src="/blog/images/{article.image}" class="admin-thumb rounded" alt="">'
    edit = f"/admin/articles/edit/?id={article.id}"
    assert shown in client.get(edit).text
    assert shown in client.get(f"/admin/articles/details/?id={article.id}").text
    assert 'name="remove_image"' in client.get(edit).text
    file = Path(app.config["ARTICLE_UPLOAD_DIR"]) / article.image

    client.post(edit, data={"title": "Pictured", "body": "x", "remove_image": "y"})

    db.session.expire_all()
    assert article.image is None
    assert not file.exists()
    assert "<img" not in client.get(f"/blog/{article.id}").text
    assert 'name="remove_image"' not in client.get(edit).text


@pytest.mark.parametrize("title", ["", "   "])
def test_an_article_needs_a_title_that_is_not_spaces_alone(client, login, content_manager, title):
    make_article("Kept")
    [article] = articles()
    login(content_manager)

    page = client.post(
        f"/admin/articles/edit/?id={article.id}", data={"title": title, "body": "Changed"}
    ).text

    assert "This field is required." in page
    assert "Changed</textarea>" in page  # the form keeps what was typed
    db.session.expire_all()
    assert (article.title, article.body) == ("Kept", "Some **text**.")
