import logging
import warnings
from logging.config import fileConfig

from alembic import context
from flask import current_app

from mailer.models import schema_filter

# SQLite cannot reflect expression indexes, and the one the models declare is
# PostgreSQL's only (schema_filter leaves it out there): nothing to warn about.
warnings.filterwarnings(
    "ignore", message="autogenerate skipping metadata-specified expression-based index"
)

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# The app has configured logging already (mailer.logs); alembic.ini's logging
# would replace it, so it applies only when run without the app's set-up.
if not logging.getLogger().handlers:
    fileConfig(config.config_file_name)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
    except AttributeError:
        return str(get_engine().url).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url, target_metadata=get_metadata(), literal_binds=True, render_as_batch=True
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    with connectable.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration rebuilds a table: dropping the old one must not cascade.
            # The pragma works only outside a transaction, hence the commits.
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
            connection.commit()
        conf_args.setdefault("include_object", schema_filter(connection.dialect.name))
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)

        try:
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if sqlite:  # back as the app's connections have it
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
