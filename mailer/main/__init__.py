from flask import Blueprint

bp = Blueprint("main", __name__, template_folder="templates")

from mailer.main import outbox_routes, routes  # noqa: E402, F401  (routes attach to bp)
