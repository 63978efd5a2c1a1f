from flask import Blueprint

bp = Blueprint("blog", __name__, url_prefix="/blog", template_folder="templates")

from mailer.blog import routes  # noqa: E402, F401  (routes attach to bp)
