"""Read side of the blog: what the public pages show, rendered once and cached."""

from __future__ import annotations

import html

import nh3
from flask import render_template
from sqlalchemy import select

from mailer.blog.services import render_markdown
from mailer.extensions import db
from mailer.models import Article

EXCERPT_CHARS = 300
# The excerpt renders this much of the body at most, cut at a paragraph: rendering a whole
# 50 KB article took half a second, ten of them on each blog list page built.
EXCERPT_SOURCE_CHARS = 3000


def published_articles():
    return (
        select(Article)
        .where(Article.is_published.is_(True))
        .order_by(Article.published_at.desc(), Article.id.desc())
    )


def render_listing(page: int, per_page: int) -> str | None:
    """The HTML of one page of the article list; None for a page past the end."""
    pagination = db.paginate(published_articles(), page=page, per_page=per_page, error_out=False)
    if page > 1 and not pagination.items:
        return None
    return render_template("blog/_listing.html", page=pagination, excerpt=excerpt)


def render_article(article_id: int) -> dict | None:
    """Everything an article page shows except the live views count."""
    article = db.session.scalar(select(Article).where(Article.id == article_id))
    if article is None:
        return None
    return {
        "id": article.id,
        "is_published": article.is_published,
        "html": render_template(
            "blog/_article.html", article=article, body=render_markdown(article.body)
        ),
        "title": article.title,
    }


def article_cards(ids: list[int]) -> list[dict]:
    """Title, image and excerpt of these published articles, for the home page."""
    if not ids:
        return []
    articles = db.session.scalars(
        select(Article).where(Article.id.in_(ids), Article.is_published.is_(True))
    )
    return [card(article) for article in articles]


def card(article: Article) -> dict:
    return {
        "id": article.id,
        "title": article.title,
        "image": article.image,
        "language": article.language,
        "excerpt": excerpt(article.body),
        "published_at": article.published_at,
    }


def excerpt(body: str) -> str:
    """Plain text from the start of the Markdown body (no markup at all)."""
    text = html.unescape(nh3.clean(render_markdown(_start_of(body)), tags=set()))
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"


def _start_of(body: str) -> str:
    """The body's first EXCERPT_SOURCE_CHARS, at most, ending at a paragraph's end where
    one comes after the first EXCERPT_CHARS (there, a cut is at a word, with an ellipsis)."""
    if len(body) <= EXCERPT_SOURCE_CHARS:
        return body
    start = body[:EXCERPT_SOURCE_CHARS]
    paragraph_end = start.rfind("\n\n")
    return start[:paragraph_end] if paragraph_end > EXCERPT_CHARS else start
