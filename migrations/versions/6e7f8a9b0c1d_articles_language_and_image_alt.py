"""articles: the language each is written in, and what its image shows

A page in one language listed articles in the other unmarked, so a screen reader
read a Russian article in an English voice; and an article's image had no text
for who cannot see it. An article now says its language (those from before:
Russian when most of their letters are Cyrillic, else English) and may say what
its image shows.

Revision ID: 6e7f8a9b0c1d
Revises: 5d6e7f8a9b0c
Create Date: 2026-12-07 17:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '6e7f8a9b0c1d'
down_revision = '5d6e7f8a9b0c'
branch_labels = None
depends_on = None


def _written_in(text: str) -> str:
    """As mailer.i18n.written_in on the day of this migration (a migration keeps its own)."""
    letters = [letter for letter in text if letter.isalpha()]
    cyrillic = sum("\u0400" <= letter <= "\u04ff" for letter in letters)
    return "ru" if letters and cyrillic * 2 > len(letters) else "en"


def upgrade():
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('image_alt', sa.String(length=300), server_default='', nullable=False)
        )
        batch_op.add_column(
            sa.Column('language', sa.String(length=8), server_default='en', nullable=False)
        )
    connection = op.get_bind()
    articles = sa.table(
        'articles', sa.column('id'), sa.column('title'), sa.column('body'), sa.column('language')
    )
    rows = connection.execute(sa.select(articles.c.id, articles.c.title, articles.c.body))
    russian = [row.id for row in rows if _written_in(f"{row.title} {row.body}") == "ru"]
    if russian:
        connection.execute(
            articles.update().where(articles.c.id.in_(russian)).values(language='ru')
        )


def downgrade():
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_column('language')
        batch_op.drop_column('image_alt')
