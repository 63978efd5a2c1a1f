import random

from flask import current_app, render_template, send_from_directory
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from mailer.blog.queries import article_cards
from mailer.mailings import mailing_queries, message_services
from mailer.main import bp
from mailer.main.health import note_start, run_checks
from mailer.main.stats import (
    blog_generation,
    cache_get_many,
    cache_set,
    home_counts,
    published_article_ids,
)

HOME_ARTICLES = 3
NEXT_SENDS = 5
# A manager's screens: their home page and the navbar's Manage menu link them.
MANAGER_SCREENS = (
    ("manager.users", _l("Users")),
    ("manager.mailings", _l("All mailings")),
    ("manager.attempts", _l("All attempts")),
)


@bp.route("/")
def index():
    user = current_user if current_user.is_authenticated else None
    counts = home_counts(user)
    return render_template(
        "main/index.html",
        counts=counts,
        articles=_random_articles(),
        manager_links=_manager_links(user),
        **_own_overview(user, counts),
    )


def _own_overview(user, counts: dict[str, int]) -> dict:
    """A user's next sends; before their first mailing, which steps to it they took."""
    if user is None:
        return {}
    if counts["mailings"]:
        return {"next_sends": mailing_queries.next_sends(user, count=NEXT_SENDS)}
    return {
        "first_steps": {
            "clients": counts["clients"] > 0,
            "message": message_services.has_messages(user),
        }
    }


def _random_articles() -> list[dict]:
    """Three published articles, a different pick on each load, without a query when cached."""
    generation = blog_generation()
    ids = published_article_ids(generation)
    chosen = random.sample(ids, min(HOME_ARTICLES, len(ids)))  # noqa: S311 - not security
    keys = [f"blog:{generation}:card:{article_id}" for article_id in chosen]
    cards = cache_get_many(keys)  # one round trip for the three
    for index, (key, article_id) in enumerate(zip(keys, chosen, strict=True)):
        if cards[index] is None:
            cards[index] = article_cards([article_id])
            cache_set(key, cards[index])
    return [card for found in cards for card in found]


def _manager_links(user) -> list[tuple[str, str]]:
    return manager_screens() if user is not None and user.is_manager else []


@bp.app_template_global()
def manager_screens() -> list[tuple[str, str]]:
    """(endpoint, label) of each manager's screen the manager area provides."""
    return [
        (endpoint, label)
        for endpoint, label in MANAGER_SCREENS
        if endpoint in current_app.view_functions
    ]


@bp.route("/favicon.ico")
def favicon():
    # Pages link the icon; this serves the pages that don't (the admin's) and other clients.
    return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml")


bp.record_once(note_start)  # /healthz counts from it until dispatch first runs


@bp.route("/healthz")
def healthz():
    states, healthy = run_checks()
    return {"status": "ok" if healthy else "unavailable", **states}, 200 if healthy else 503
