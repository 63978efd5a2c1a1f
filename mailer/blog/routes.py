"""Public blog pages: the list of published articles, one article, its image.

The rendered parts are cached per blog generation (bumped by every save in
the admin panel); the views count is never cached: it is incremented and read
back in the same UPDATE on every view.
"""

from __future__ import annotations

from flask import abort, render_template, request, send_from_directory
from flask_babel import get_locale, get_timezone

from mailer.blog import bp, queries, services
from mailer.extensions import db
from mailer.mailings.pagination import page_number
from mailer.main.stats import blog_generation, remember
from mailer.permissions import blog_permission

PER_PAGE = 10


def _viewer() -> str:
    """What the cached HTML depends on besides the data: language and time zone."""
    return f"{get_locale()}:{get_timezone()}"


@bp.route("/")
def index():
    page = page_number()
    # The pager's links carry the page alone (_listing.html), so one cached copy of a page
    # serves whatever else its address holds: `?x=1`, `?x=2`... build nothing anew.
    key = f"blog:{blog_generation()}:list:{page}:{_viewer()}"
    listing = remember(key, lambda: queries.render_listing(page, PER_PAGE))
    if listing is None:
        abort(404)
    return render_template("blog/index.html", listing=listing)


@bp.route("/<int:article_id>")
def article(article_id: int):
    key = f"blog:{blog_generation()}:article:{article_id}:{_viewer()}"
    shown = remember(key, lambda: queries.render_article(article_id) or {})
    if not shown:
        abort(404)
    if shown["is_published"] and request.method == "HEAD":  # a link preview or a check
        views = services.current_views(article_id)
    elif shown["is_published"]:
        views = services.count_view(article_id)
        db.session.commit()
        if views is None:  # unpublished or deleted since it was cached
            abort(404)
    elif blog_permission.can():  # a preview for the people who write the blog
        views = services.current_views(article_id)
    else:
        abort(404)
    return render_template("blog/article.html", shown=shown, views=views)


@bp.route("/images/<path:name>")
def image(name: str):
    return send_from_directory(services.upload_dir(), name, max_age=86400)
