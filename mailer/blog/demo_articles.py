"""Demo articles from `mailer/fixtures/blog_data.json`, loaded by `seed_demo()`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from mailer.extensions import db
from mailer.i18n import written_in
from mailer.main.stats import blog_changed
from mailer.models import Article, User, utcnow

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "blog_data.json"


def load_demo_articles(author: User | None) -> int:
    """Add the fixture's articles that are not there yet (matched by title); how many were added.

    Idempotent: running the seed twice adds nothing the second time. Flushes, the caller commits.
    """
    existing = set(db.session.scalars(select(Article.title)))
    now = utcnow()
    added = 0
    for entry in json.loads(FIXTURE.read_text(encoding="utf-8")):
        if entry["title"] in existing:
            continue
        db.session.add(
            Article(
                title=entry["title"],
                body=entry["body"],
                language=written_in(entry["title"] + " " + entry["body"]),
                author=author,
                is_published=True,
                published_at=now - timedelta(days=entry.get("days_ago", 0)),
            )
        )
        added += 1
    db.session.flush()
    if added:
        blog_changed()
    return added
