from flask import Blueprint

bp = Blueprint("manager", __name__, url_prefix="/manager", template_folder="templates")

from mailer.manager import routes  # noqa: E402, F401  (routes attach to bp)
