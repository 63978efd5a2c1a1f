"""The owner's client screens: list, create, edit, delete (one, the ticked ones, or all a
search or filter finds), CSV export. The import's are in client_import_routes."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, select

from mailer.deadlocks import commit_retrying_deadlocks
from mailer.extensions import db
from mailer.i18n import ngettext, select_timezone
from mailer.ids import an_id
from mailer.mailings import (
    attempt_queries,
    bp,
    client_import,
    client_queries,
    mailing_queries,
    mailing_services,
)
from mailer.mailings import client_services as services
from mailer.mailings.client_forms import ClientForm
from mailer.mailings.client_import import background
from mailer.mailings.csv_export import stamped
from mailer.mailings.pagination import COUNT_LIMIT, list_args, page_number, page_or_404
from mailer.main.stats import counts_changed
from mailer.models import Client, Mailing

# The list's search, filters, sort and page: editing or deleting a client comes back to them.
LIST_ARGS = ("q", "state", "mailing", "sort", "page")
# The list's filter by state (client_queries.STATES), as the list and its pages name it.
STATE_LABELS = {
    "receiving": _l("Receiving mailings"),
    "unsubscribed": _l("Unsubscribed"),
    "bounced": _l("Bounced"),
}
# The confirmation of a deletion of many names this many of them; it counts them all.
# (A search deletes at most pagination.COUNT_LIMIT at once, as many as the list counts.)
DELETE_MANY_NAMED = 50
# A client's page shows their newest attempts; the attempt log has the rest.
LATEST_ATTEMPTS = 5
# The list tells of the owner's newest imports still under way (their pages follow them).
UNDERWAY_SHOWN = 3


def _own_client(client_id: int) -> Client:
    return Client.owned_by(current_user).filter_by(id=client_id).first_or_404()


class ListView(NamedTuple):
    """What the list's query string asks for."""

    search: str
    sort: str
    page: int
    state: str  # one of client_queries.STATES, or "" for every client
    mailing: Mailing | None  # its clients only; None for every client

    @property
    def filters(self) -> dict:
        """The search and filters, as client_queries takes them."""
        mailing_id = self.mailing.id if self.mailing else None
        return {"search": self.search, "state": self.state, "mailing_id": mailing_id}

    @property
    def filtered(self) -> bool:
        return bool(self.search or self.state or self.mailing)


def _list_view(args) -> ListView:
    sort = args.get("sort", client_queries.DEFAULT_SORT)
    if sort not in client_queries.SORTS:
        sort = client_queries.DEFAULT_SORT
    state = args.get("state", "")
    if state not in client_queries.STATES:
        state = ""
    mailing = None
    if args.get("mailing"):  # another user's, or none such ("²", too large): 404
        mailing_id = args.get("mailing", type=an_id)
        mailing = Mailing.owned_by(current_user).filter_by(id=mailing_id).first_or_404()
    return ListView(args.get("q", "").strip(), sort, page_number(args), state, mailing)


def _page(view: ListView):
    return client_queries.client_page(current_user, sort=view.sort, page=view.page, **view.filters)


def _back_to_list(view: ListView | None = None):
    """To the list as the action's URL says it was (`view`, when the route read it already),
    on its last page left if the action emptied the one it was on."""
    args = list_args(*LIST_ARGS)
    view = view or _list_view(args)
    if view.page > 1:
        rest = _page(view)
        if not rest.items:  # its last clients were deleted: the last page left
            args["page"] = str(max(rest.pages, 1))
    return redirect(url_for("mailings.client_list", **args))


@bp.route("/clients/")
@login_required
def client_list():
    view = _list_view(request.args)
    page = page_or_404(_page(view))
    # Where "Add ticked to it" may add them: not to the mailing whose clients these are.
    choices = mailing_queries.mailing_choices(current_user) if page.items else []
    return render_template(
        "mailings/clients/list.html",
        page=page,
        search=view.search,
        sort=view.sort,
        state=view.state,
        state_labels=STATE_LABELS,
        mailing=view.mailing,
        filtered=view.filtered,
        list_args=list_args(*LIST_ARGS),
        add_to=[mailing for mailing in choices if mailing != view.mailing],
        underway=[
            (task, background.progress(task))
            for task in client_import.imports_underway(current_user, UNDERWAY_SHOWN)
        ],
    )


@bp.route("/clients/new", methods=["GET", "POST"])
@login_required
def client_create():
    form, mailings = _client_form(None)
    if form.validate_on_submit():
        data = form.data_for_model()
        try:
            services.create_client(owner=current_user, data=data)
        except services.ClientError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            db.session.commit()
            counts_changed(current_user.id)
            flash(_("Client added."), "success")
            if data.mailing_ids:
                flash(
                    ngettext(
                        "It joins %(num)s mailing.",
                        "It joins %(num)s mailings.",
                        len(data.mailing_ids),
                    ),
                    "info",
                )
            return redirect(url_for("mailings.client_list"))
    return render_template(
        "mailings/clients/form.html",
        form=form,
        client=None,
        mailings=mailings,
        choice_limit=mailing_queries.MAILING_CHOICE_LIMIT,
    )


@bp.route("/clients/<int:client_id>/edit", methods=["GET", "POST"])
@login_required
def client_edit(client_id: int):
    client = _own_client(client_id)
    form, mailings = _client_form(client)
    if form.validate_on_submit():
        bounced = client.bounced_at is not None
        try:
            services.update_client(client=client, data=form.data_for_model())
        except services.ClientError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            db.session.commit()
            counts_changed(current_user.id)
            saved = _("Client saved.")
            if bounced and client.can_receive:
                saved = _("Client saved. The old address bounced; mailings send to the new one.")
            flash(saved, "success")
            return _back_to_list()
    return render_template(
        "mailings/clients/form.html",
        form=form,
        client=client,
        mailings=mailings,
        choice_limit=mailing_queries.MAILING_CHOICE_LIMIT,
        attempts=attempt_queries.latest_to_client(client, count=LATEST_ATTEMPTS),
        list_args=list_args(*LIST_ARGS),
    )


def _client_form(client: Client | None) -> tuple[ClientForm, list[Mailing]]:
    """The client form, with a checkbox for each mailing it offers (returned too): the
    owner's newest, and those the client is in (a new client: those that take new
    clients), ticked as they send to the client until the form comes back with its own."""
    form = ClientForm(obj=client)
    theirs = mailing_queries.of_client(client) if client else Mailing.takes_new_clients.is_(True)
    mailings = mailing_queries.mailing_choices(current_user, also=theirs)
    form.mailing_ids.choices = [(mailing.id, mailing.title) for mailing in mailings]
    if form.is_submitted():
        return form, mailings
    if client:
        theirs_now = mailing_queries.mailing_ids_of(client)
        form.mailing_ids.data = [mailing.id for mailing in mailings if mailing.id in theirs_now]
    else:
        form.mailing_ids.data = [mailing.id for mailing in mailings if mailing.takes_new_clients]
    return form, mailings


@bp.route("/clients/<int:client_id>/delete", methods=["POST"])
@login_required
def client_delete(client_id: int):
    client = _own_client(client_id)
    commit_retrying_deadlocks(lambda: services.delete_client(client=client), "a client's deletion")
    counts_changed(current_user.id)
    flash(_("Client deleted."), "success")
    return _back_to_list()


@bp.route("/clients/delete", methods=["POST"])
@login_required
def client_delete_many():
    """The clients ticked on the list, or all its search and filter find (up to
    COUNT_LIMIT): a page that says what goes, then its confirmation."""
    view = _list_view(request.args)
    chosen, by_search = _chosen_for_deletion(view)
    found = chosen.with_entities(Client.id, Client.unsubscribed_at).order_by(None)
    rows = found.limit(COUNT_LIMIT + 1).all()
    if not rows:
        if by_search:  # deleted meanwhile, in another tab
            flash(
                _("No clients match “%(search)s”.", search=view.search)
                if view.search
                else _("No clients match."),
                "warning",
            )
        elif request.form.getlist("client_ids"):  # deleted already: Back, or another tab
            flash(_("The ticked clients are deleted already."), "info")
        else:
            flash(_("Tick the clients to delete first."), "warning")
        return _back_to_list(view)
    if len(rows) > COUNT_LIMIT:
        flash(
            _(
                "More than %(num)s clients match: narrow the search.",
                num=format_decimal(COUNT_LIMIT),
            ),
            "warning",
        )
        return _back_to_list(view)
    ids = [row.id for row in rows]
    confirmed = request.form.get("confirmed") == "yes"
    # What the page showed must be what is deleted: by then a search may find others.
    fingerprint = _fingerprint(ids) if by_search else None
    changed = by_search and request.form.get("found") != fingerprint
    if not confirmed or changed:
        return render_template(
            "mailings/clients/delete_many.html",
            count=len(rows),
            named=chosen.order_by(Client.email).limit(DELETE_MANY_NAMED).all(),
            unsubscribed=sum(1 for row in rows if row.unsubscribed_at),
            ids=None if by_search else ids,
            found_by=_found_by(view) if by_search else None,
            fingerprint=fingerprint,
            changed=changed and confirmed,
            list_args=list_args(*LIST_ARGS),
        )
    deleted = commit_retrying_deadlocks(
        lambda: services.delete_clients(owner=current_user, ids=ids), "clients' deletion"
    )
    counts_changed(current_user.id)
    flash(ngettext("%(num)s client deleted.", "%(num)s clients deleted.", deleted), "success")
    return _back_to_list(view)


@bp.route("/clients/remove-from-mailing", methods=["POST"])
@login_required
def client_remove_from_mailing():
    """The clients ticked on the list of one mailing's clients (`?mailing=ID`), taken out
    of that mailing; they stay in the owner's clients."""
    view = _list_view(request.args)
    if view.mailing is None:
        abort(404)
    ids = request.form.getlist("client_ids", type=an_id)
    removed = mailing_services.remove_clients(mailing=view.mailing, client_ids=ids)
    db.session.commit()
    if removed:
        flash(
            ngettext(
                "%(num)s client taken out of “%(mailing)s”; they stay in your clients.",
                "%(num)s clients taken out of “%(mailing)s”; they stay in your clients.",
                removed,
                mailing=view.mailing.title,
            ),
            "success",
        )
    else:
        flash(_("Tick the clients to take out first."), "warning")
    return _back_to_list(view)


@bp.route("/clients/add-to-mailing", methods=["POST"])
@login_required
def client_add_to_mailing():
    """The clients ticked on the list, added to the mailing chosen beside the button."""
    view = _list_view(request.args)
    target = request.form.get("target_mailing", type=an_id)
    mailing = Mailing.owned_by(current_user).filter_by(id=target).first() if target else None
    ids = set(request.form.getlist("client_ids", type=an_id))
    if mailing is None:
        flash(_("Choose the mailing to add the ticked clients to."), "warning")
    elif not ids:
        flash(_("Tick the clients to add first."), "warning")
    else:
        # Ticked ids that are no client of theirs: deleted in another tab since the list
        # was shown (or never theirs). Counted apart, not as "in the mailing already".
        found = db.session.scalar(
            select(func.count()).where(Client.owner_id == current_user.id, Client.id.in_(ids))
        )
        added = mailing_services.add_clients(mailing=mailing, client_ids=ids)
        db.session.commit()
        said = _added_said(mailing, added, already=found - added)
        if gone := len(ids) - found:
            said += " " + ngettext(
                "%(num)s ticked client is deleted already.",
                "%(num)s ticked clients are deleted already.",
                gone,
            )
        flash(said.strip(), "success" if added else "info")
    return _back_to_list(view)


def _added_said(mailing: Mailing, added: int, *, already: int) -> str:
    """What the adding did; "" when it found none of the ticked clients."""
    if not added and not already:
        return ""
    if not added and already == 1:
        return _("The ticked client was in “%(mailing)s” already.", mailing=mailing.title)
    if not added:
        return ngettext(
            "All %(num)s ticked client was in “%(mailing)s” already.",  # 21 in Russian
            "All %(num)s ticked clients were in “%(mailing)s” already.",
            already,
            mailing=mailing.title,
        )
    said = ngettext(
        "%(num)s client added to “%(mailing)s”.",
        "%(num)s clients added to “%(mailing)s”.",
        added,
        mailing=mailing.title,
    )
    if already:
        said += " " + ngettext(
            "%(num)s other was in it already.", "%(num)s others were in it already.", already
        )
    return said


def _chosen_for_deletion(view: ListView):
    """The owner's clients a deletion is of, and whether they are what the list's search
    and filters find (`scope=search`) rather than the ticked ones (`client_ids`)."""
    if request.form.get("scope") == "search" and view.filtered:
        return client_queries.clients_query(current_user, **view.filters), True
    ids = request.form.getlist("client_ids", type=an_id)
    return Client.owned_by(current_user).filter(Client.id.in_(set(ids))), False


def _fingerprint(ids: list[int]) -> str:
    """The clients a search found, in 32 characters. The confirmation runs the search again
    and deletes only if it finds the very same ones: the same count is not enough, as one
    could have been added and another deleted meanwhile."""
    return hashlib.blake2b(",".join(map(str, sorted(ids))).encode(), digest_size=16).hexdigest()


def _found_by(view: ListView) -> str:
    """The list's search and filters, as the deletion's page names them: “anna”, bounced,
    clients of “News”."""
    parts = [_("“%(name)s”", name=view.search)] if view.search else []
    if view.state:
        parts.append(str(STATE_LABELS[view.state]))
    if view.mailing:
        parts.append(_("clients of “%(mailing)s”", mailing=view.mailing.title))
    return ", ".join(parts)


@bp.route("/clients/export.csv")
@login_required
def client_export():
    rows = client_queries.export_rows(current_user, select_timezone())
    return Response(
        stream_with_context(line.encode("utf-8") for line in rows),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{stamped("clients")}"'},
    )
