"""The public blog: published articles only, newest first, paginated; views counted atomically."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from mailer.extensions import db
from mailer.models import Article, utcnow
from tests.factories import make_article


def views_of(article_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Article, article_id).views


def test_blog_lists_published_articles_newest_first(client):
    now = utcnow()
    make_article("Older", published_at=now - timedelta(days=2))
    make_article("Newer", published_at=now - timedelta(days=1))
    make_article("Draft", published=False)
    html = client.get("/blog/").get_data(as_text=True)
    assert html.index("Newer") < html.index("Older")
    assert "Draft" not in html


def test_blog_shows_ten_articles_per_page(client):
    now = utcnow()
    for number in range(12):
        make_article(f"Article number {number:02d}", published_at=now - timedelta(hours=number))
    first = client.get("/blog/").get_data(as_text=True)
    second = client.get("/blog/?page=2").get_data(as_text=True)
    assert len(re.findall(r"Article number \d\d", first)) == 10
    assert re.findall(r"Article number \d\d", second) == ["Article number 10", "Article number 11"]
    assert client.get("/blog/?page=3").status_code == 404


def test_empty_blog_says_so(client):
    assert "No articles have been published yet" in client.get("/blog/").get_data(as_text=True)


def test_article_page_renders_markdown_under_the_title_as_its_one_h1(client):
    article = make_article("Formatted", body="# Heading\n\n## Part\n\nSome **bold** text.")
    html = client.get(f"/blog/{article.id}").get_data(as_text=True)
    assert re.findall(r"<h1[^>]*>(.*?)</h1>", html) == ["Formatted"]
    assert '<h2 id="part-heading">Heading</h2>' in html
    assert '<h3 id="part-part">Part</h3>' in html
    assert "<strong>bold</strong>" in html


def test_script_in_an_article_never_reaches_the_page(client):
    body = (
        "Hello <script>alert('body')</script>\n\n"
        '<img src="x.png" onerror="alert(1)">\n\n'
        "[click](javascript:alert(2))"
    )
    article = make_article("Sneaky", body=body)
    for path in (f"/blog/{article.id}", "/blog/", "/"):
        html = client.get(path).get_data(as_text=True)
        assert "alert(" not in html, path
        assert "onerror" not in html, path
        assert "javascript:" not in html, path


def test_unpublished_article_is_not_found_by_visitors_and_users(client, login, user):
    article = make_article("Secret draft", published=False)
    assert client.get(f"/blog/{article.id}").status_code == 404
    login(user)
    assert client.get(f"/blog/{article.id}").status_code == 404


def test_content_manager_previews_an_unpublished_article(client, login, content_manager):
    article = make_article("Draft to check", published=False, author=content_manager)
    login(content_manager)
    response = client.get(f"/blog/{article.id}")
    assert response.status_code == 200
    assert "Draft to check" in response.get_data(as_text=True)
    byline = re.search(r'<p class="text-body-secondary small">(.*?)</p>', response.text, re.S)
    assert byline[1].split() == (content_manager.full_name or "the editors").split()  # no "·"
    assert views_of(article.id) == 0  # previews are not views


def test_a_markdown_table_in_an_article_is_a_table(client):
    article = make_article("Prices", body="| item | price |\n|---|---|\n| tea | 3 |\n")
    page = client.get(f"/blog/{article.id}").text
    assert "<th>item</th>" in page
    assert "<td>tea</td>" in page


def test_a_table_of_contents_links_to_its_headings_in_any_language(client):
    article = make_article("Guide", body="[TOC]\n\n# Часть\n\n## Раздел\n\nText.")
    page = client.get(f"/blog/{article.id}").text
    links = re.findall(r'<a href="#([^"]+)"', page)
    assert len(links) == 2
    for target in links:
        assert f'id="{target}"' in page


def test_an_article_cannot_give_an_element_an_id_of_the_pages_own(client):
    article = make_article("Clash", body='## Part {: #main }\n\n<h3 id="sender">x</h3>')
    page = client.get(f"/blog/{article.id}").text
    assert 'id="main"' not in page
    assert 'id="sender"' not in page


def test_the_list_shows_the_start_of_a_long_article_as_its_excerpt(client):
    body = "The **first** words.\n\n" + "More words here. " * 5000 + "\n\nThe end."
    make_article("Long", body=body)
    page = client.get("/blog/").text
    excerpt = re.search(r'<p class="card-text" lang="en">([^<]*)</p>', page).group(1)
    assert excerpt.startswith("The first words. More words here.")
    assert excerpt.endswith("…")
    assert len(excerpt) <= 301
    assert "The end" not in page


def test_the_list_is_cached_whatever_else_its_address_holds(client):
    """`?x=1`, `?x=2`... each built the page anew: a way to load the server at will."""
    now = utcnow()
    for number in range(12):
        make_article(f"Article {number:02d}", published_at=now - timedelta(hours=number))
    client.get("/blog/")
    db.session.execute(db.update(Article).values(title="Renamed"))
    db.session.commit()  # directly in the database: the cached page stands

    page = client.get("/blog/?utm_source=news&x=1").text

    assert "Article 00" in page
    assert "Renamed" not in page
    assert 'href="/blog/?page=2"' in page  # the pager carries no visitor's arguments
    assert 'href="/blog/?utm_source' not in page


def test_missing_article_is_not_found(client):
    assert client.get("/blog/999").status_code == 404


def test_each_view_adds_one_even_when_the_page_is_cached(client):
    article = make_article("Counted")
    for expected in (1, 2, 3):
        html = client.get(f"/blog/{article.id}").get_data(as_text=True)
        assert f"{expected} view" in html
    assert views_of(article.id) == 3


def test_a_view_is_no_edit_and_a_head_request_no_view(client):
    article = make_article("Counted")
    edited = article.updated_at
    assert client.head(f"/blog/{article.id}").status_code == 200
    client.get(f"/blog/{article.id}")
    db.session.expire_all()
    article = db.session.get(Article, article.id)
    assert (article.views, article.updated_at) == (1, edited)


def test_concurrent_views_lose_no_count(app):
    article_id = make_article("Popular").id
    views = 40

    def view(_):
        return app.test_client().get(f"/blog/{article_id}").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(view, range(views)))
    assert statuses == [200] * views
    assert views_of(article_id) == views


def test_unpublishing_hides_a_cached_article_at_once(client):
    article = make_article("Soon hidden")
    assert client.get(f"/blog/{article.id}").status_code == 200
    article.is_published = False
    db.session.commit()  # directly in the database, no cache invalidation at all
    assert client.get(f"/blog/{article.id}").status_code == 404
