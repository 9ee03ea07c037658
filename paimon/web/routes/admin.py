"""The owner's console, ``/admin``: server-rendered pages that work without JavaScript
(admin.js only asks before a delete). Every upload, newest first, paged, filtered and
searched, with its actions (open, copy link, delete, retry), the totals and where the
bytes are; the upload links, made and revoked here too; the webhook deliveries, each
sent again here too. Sign-in, sessions and CSRF are
paimon/web/owners.py's; what is shown is consoleviews.py's, as the API shows it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar
from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from paimon.jobs.links import UploadLink
from paimon.jobs.model import JobState
from paimon.uploads.refusals import UploadRefused
from paimon.web import deliveryviews, owners
from paimon.web.consoleviews import (
    FILTERS,
    LinkForm,
    job_query,
    link_spec_from_form,
    link_view,
    size_text,
    storage_view,
    totals_view,
    upload_view,
)
from paimon.web.context import services
from paimon.web.errors import ApiError, status_of

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(owners.require_console)
bp.add_app_template_filter(size_text, "size")
bp.add_app_template_filter(deliveryviews.when_text, "utc_seconds")
F = TypeVar("F", bound=Callable[..., object])

#: The backends a job may name (one made before the storage was switched, too).
BACKENDS = ("local", "mega")
#: The console's forms carry a few short fields and never a file.
MAX_FORM_BYTES = 64 * 1024


@bp.after_request
def _private(response: Response) -> Response:
    """Pages with links and names are kept by no cache, and vary with the session."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(ApiError)
@bp.errorhandler(UploadRefused)
def _refused(exc: ApiError | UploadRefused):
    """The console speaks to a browser: a refusal is a page, with the same status."""
    page = render_template("admin/refused.html", error=exc.error, message=exc.message)
    return page, status_of(exc.error)


def owner_page(view: F) -> F:
    """The view runs for a signed-in owner only; anyone else is sent to sign in (a
    post is refused: it changes nothing)."""

    @wraps(view)
    def wrapper(*args: object, **kwargs: object) -> object:
        if owners.signed_in() is None:
            if request.method == "GET":
                return redirect(url_for("admin.sign_in"), 303)
            raise ApiError("sign_in_required", "Sign in to the console first.")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def posted_form() -> dict[str, str]:
    """A console form's fields, read only when small and carrying this session's CSRF
    token (403 otherwise, before anything changes)."""
    length = request.content_length
    if length is None:
        raise ApiError("length_required", "Send the form with a Content-Length.")
    if length > MAX_FORM_BYTES:
        raise ApiError("too_large", f"A console form is at most {MAX_FORM_BYTES} bytes.")
    request.file_limit = 0  # a file part is refused as it starts, never spooled
    owners.check_csrf()
    return {name: request.form.get(name, "") for name in request.form}


def back_to(form: dict[str, str]) -> Response:
    """303 to the console page the form was on (``next``), or the list."""
    target = form.get("next", "")
    if not target.startswith("/admin") or "//" in target or "\\" in target:
        target = url_for("admin.uploads")
    return redirect(target, 303)


# Signing in and out ------------------------------------------------------------------


@bp.get("/sign-in")
def sign_in() -> object:
    if owners.signed_in() is not None:
        return redirect(url_for("admin.uploads"), 303)
    return render_template("admin/sign_in.html", csrf=owners.csrf_token(), refused=False)


@bp.post("/sign-in")
def sign_in_with_token() -> object:
    form = posted_form()
    if owners.sign_in(form.get("token", "").strip()) is None:
        page = render_template("admin/sign_in.html", csrf=owners.csrf_token(), refused=True)
        return page, 403
    return redirect(url_for("admin.uploads"), 303)


@bp.post("/sign-out")
def sign_out() -> Response:
    posted_form()
    owners.sign_out()
    return redirect(url_for("admin.sign_in"), 303)


# Uploads -----------------------------------------------------------------------------


@bp.get("")
def uploads() -> object:
    query = job_query(request.args)  # a bad query is refused whoever asks
    if owners.signed_in() is None:
        return redirect(url_for("admin.sign_in"), 303)
    wired = services()
    page = wired.console.uploads(query)
    filters = {name: request.args.get(name, "") for name in FILTERS}
    kept = {name: value for name, value in filters.items() if value}
    newest = url_for("admin.uploads", **kept)
    older = None
    if page.next is not None:
        older = f"{url_for('admin.uploads')}?{urlencode({**kept, 'cursor': page.next.encode()})}"
    links = wired.upload_links.all()
    return render_template(
        "admin/uploads.html",
        owner=owners.signed_in(),
        csrf=owners.csrf_token(),
        uploads=[upload_view(job) for job in page.jobs],
        filters=filters,
        states=[state.value for state in JobState],
        backends=BACKENDS,
        uploaders=sorted({holder.label for holder in wired.upload_tokens.holders}),
        links={link.id: _link_name(link) for link in links},
        older=older,
        newest=newest,
        paged="cursor" in request.args,
        here=request.full_path.rstrip("?"),
        totals=totals_view(wired.console.totals()),
        storage=storage_view(wired.console.storage()),
    )


def _link_name(link: UploadLink) -> str:
    return link.label or f"link {link.id}"


@bp.get("/uploads/<job_id>")
@owner_page
def upload(job_id: str) -> str:
    wired = services()
    job = wired.console.upload(job_id)
    link = wired.upload_links.find(job.upload_link) if job.upload_link else None
    return render_template(
        "admin/upload.html",
        owner=owners.signed_in(),
        csrf=owners.csrf_token(),
        job=upload_view(job),
        link_name=_link_name(link) if link else None,
        here=request.path,
    )


@bp.post("/uploads/<job_id>/delete")
@owner_page
def delete(job_id: str) -> Response:
    form = posted_form()
    services().console.delete(job_id, "console")
    if form.get("next", "").startswith(url_for("admin.upload", job_id=job_id)):
        form["next"] = ""  # its own page is gone: back to the list
    return back_to(form)


@bp.post("/uploads/<job_id>/retry")
@owner_page
def retry(job_id: str) -> Response:
    form = posted_form()
    services().console.retry(job_id)
    return back_to(form)


# Upload links ------------------------------------------------------------------------


@bp.get("/links")
@owner_page
def links() -> str:
    return render_template(
        "admin/links.html",
        owner=owners.signed_in(),
        csrf=owners.csrf_token(),
        links=[link_view(link) for link in services().upload_links.all()],
        created=request.args.get("created", ""),
        fields=LinkForm.FIELDS,
        folders=services().upload_links.takes_folders,
    )


@bp.post("/links")
@owner_page
def create_link() -> Response:
    form = posted_form()
    link, _ = services().upload_links.create(link_spec_from_form(form), owners.signed_in())
    return redirect(url_for("admin.links", created=link.id), 303)


@bp.post("/links/<link_id>/revoke")
@owner_page
def revoke_link(link_id: str) -> Response:
    posted_form()
    services().upload_links.revoke(link_id)
    return redirect(url_for("admin.links"), 303)


# Webhook deliveries ------------------------------------------------------------------


@bp.get("/webhooks")
def webhooks() -> object:
    state = deliveryviews.wanted_state(request.args)  # a bad query is refused whoever asks
    if owners.signed_in() is None:
        return redirect(url_for("admin.sign_in"), 303)
    deliveries = services().deliveries
    return render_template(
        "admin/webhooks.html",
        owner=owners.signed_in(),
        csrf=owners.csrf_token(),
        listing=deliveryviews.listing(deliveries, state) if deliveries else None,
        state=str(state) if state else "",
        resent=request.args.get("resent", ""),
    )


@bp.post("/webhooks/<delivery_id>/resend")
@owner_page
def resend_delivery(delivery_id: str) -> Response:
    posted_form()
    deliveryviews.resend(deliveryviews.configured(), delivery_id)
    return redirect(url_for("admin.webhooks", resent=delivery_id), 303)
