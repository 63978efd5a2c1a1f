from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth", template_folder="templates")

from mailer.auth import routes  # noqa: E402, F401  (routes attach to bp)
