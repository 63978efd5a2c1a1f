"""Demo articles: loaded by seed_demo() once, written by the demo content manager."""

from mailer import demo
from mailer.extensions import db
from mailer.models import Article, User


def test_seed_demo_loads_the_blog_fixture_once(client):
    demo.seed_demo()
    db.session.commit()
    demo.seed_demo()
    db.session.commit()
    articles = db.session.scalars(db.select(Article)).all()
    writer = User.by_email("writer@example.com")
    assert len(articles) == 5
    assert all(article.is_published and article.author_id == writer.id for article in articles)
    assert any("рассылк" in article.body for article in articles)  # Russian and English
    html = client.get("/blog/").get_data(as_text=True)
    assert "Welcome to Mailer" in html
