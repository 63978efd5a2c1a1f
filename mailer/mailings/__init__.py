from flask import Blueprint

bp = Blueprint("mailings", __name__, template_folder="templates")

from mailer.mailings import routes  # noqa: E402, F401  (routes attach to bp)
