"""Help-centre pages: public /help, the donor's /me/help, and the staff back office under /staff/kb."""
from __future__ import annotations

import secrets
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from portal import jobs
from portal.auth.access import require_staff, roles_required
from portal.extensions import limiter, login_manager
from portal.htmx import is_htmx, redirect_to, render, render_fragment
from portal.kb import services, tasks
from portal.kb.forms import ArticleForm, PreviewForm, PublishForm, VoteForm
from portal.kb.models import AUDIENCES, VIEW_SOURCES
from portal.params import page_number
from portal.timeutil import utcnow
from portal.urls import safe_local_path

bp = Blueprint("kb", __name__)
staff_bp = Blueprint("kb_staff", __name__, url_prefix="/staff/kb")
staff_bp.before_request(require_staff)

SEEN_LIMIT = 100


def _signed_in_donor_id() -> int | None:
    if current_user.is_authenticated and current_user.role == "donor" and current_user.donor_id:
        return current_user.donor_id
    return None


def donor_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if _signed_in_donor_id() is None:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _search_args():
    text = request.args.get("q", "")
    tag = request.args.get("tag", "")
    page = request.args.get("page", 1, type=page_number) or 1
    return text, tag, page


def _search_and_log(scope: str, donor_id: int | None):
    text, tag, page = _search_args()
    result = services.search(text, scope=scope, tag=tag, page=page, typing=is_htmx())
    if page == 1 and result.query:
        session["kb_search"] = services.log_search(result, scope=scope, donor_id=donor_id, previous=session.get("kb_search"))
    return result


# ---------------------------------------------------------------- public and donor pages

@bp.route("/help")
def help_index():
    result = _search_and_log("donor", _signed_in_donor_id())
    return render("kb/help.html", block="results", result=result, area="public",
                  popular=[] if result.query else services.popular_articles(), topics=services.topic_tags())


@bp.route("/me/help")
@donor_required
def me_help():
    donor_id = _signed_in_donor_id()
    result = _search_and_log("donor", donor_id)
    return render("kb/help.html", block="results", result=result, area="me",
                  popular=[] if result.query else services.popular_articles(), topics=services.topic_tags(),
                  suggestions=services.suggestions_for(donor_id), subject="", deflections=[])


@bp.route("/me/help/suggest")
@donor_required
def me_help_suggest():
    """Articles for a ticket subject being typed: the ticket form (or the "ask us" box) calls this with htmx."""
    subject = request.args.get("subject", "")[:300]
    hits = services.suggest_for_text(subject, "donor", limit=3)
    back = _page_asking()
    if not is_htmx():
        donor_id = _signed_in_donor_id()
        return render("kb/help.html", result=services.search("", scope="donor"), area="me", popular=[],
                      topics=services.topic_tags(), suggestions=services.suggestions_for(donor_id),
                      subject=subject, deflections=hits, back=back)
    return render("kb/help.html", block="deflect", subject=subject, deflections=hits, back=back, area="me")


def _page_asking() -> str:
    """The local page an htmx request came from (e.g. the ticket form), so an article can link back to it."""
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    path = current.path + (f"?{current.query}" if current.query else "")
    return safe_local_path(path, "") if current.netloc == request.host else ""


def _article_page(slug: str, area: str):
    article = services.published_article(slug, "donor")
    if article is None:
        abort(404)
    donor_id = _signed_in_donor_id()
    via = request.args.get("via", "direct")
    seen = session.get("kb_seen", [])
    if services.record_view(article, donor_id=donor_id, source=via if via in VIEW_SOURCES else "direct", seen=seen):
        session["kb_seen"] = (seen + [article.id])[-SEEN_LIMIT:]
    voter = services.voter_key(donor_id=donor_id, session_token=session.get("kb_voter"))
    return render("kb/article.html", article=article, area=area, related=services.related_articles(article),
                  vote=services.current_vote(article, voter), form=VoteForm(), voted=False,
                  back=safe_local_path(request.args.get("next"), ""), via=via)


@bp.route("/help/<slug>")
def article(slug: str):
    return _article_page(slug, "public")


@bp.route("/me/help/<slug>")
@donor_required
def me_article(slug: str):
    return _article_page(slug, "me")


def _vote_limit() -> str:
    return current_app.config.get("KB_VOTE_RATE_LIMIT", "10 per minute;60 per day")


@bp.route("/help/<slug>/vote", methods=["POST"])
@limiter.limit(_vote_limit)
def vote(slug: str):
    article = services.published_article(slug, "donor")
    if article is None:
        abort(404)
    form = VoteForm()
    area = "me" if _signed_in_donor_id() else "public"
    if not form.validate_on_submit():
        return render("kb/article.html", block="vote", article=article, area=area, form=form, vote=None, voted=False,
                      related=services.related_articles(article), back="", via="direct"), 400
    donor_id = _signed_in_donor_id()
    if donor_id is None and not session.get("kb_voter"):
        session["kb_voter"] = secrets.token_urlsafe(24)
    voter = services.voter_key(donor_id=donor_id, session_token=session.get("kb_voter"))
    helpful = form.helpful.data == "yes"
    services.vote(article, helpful, voter=voter, donor_id=donor_id)
    if is_htmx():
        return render("kb/article.html", block="vote", article=article, area=area, form=form, vote=helpful, voted=True,
                      related=[], back="", via="direct")
    flash("Thank you for your feedback.", "success")
    return redirect(url_for("kb.me_article" if area == "me" else "kb.article", slug=slug), code=303)


# ---------------------------------------------------------------- staff back office

@staff_bp.route("/")
def index():
    filters = services.ArticleFilter(q=request.args.get("q", "")[:100], status=request.args.get("status", ""),
                                     audience=request.args.get("audience", ""))
    articles = services.list_articles(filters)
    since = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
    return render("kb/staff_index.html", block="articles", articles=articles, filters=filters, audiences=AUDIENCES,
                  stats=services.article_stats([a.id for a in articles]),
                  no_results=services.searches_with_no_results(), most_searched=services.most_searched(),
                  deflection=services.tickets_avoided(since=since))


@staff_bp.route("/search")
def search():
    text, tag, page = _search_args()
    result = services.search(text, scope="staff", tag=tag, page=page, typing=is_htmx())
    if page == 1 and result.query:
        session["kb_staff_search"] = services.log_search(result, scope="staff", donor_id=None,
                                                         previous=session.get("kb_staff_search"))
    return render("kb/staff_search.html", block="results", result=result, topics=services.topic_tags("staff"))


def _article_or_404(article_id: int):
    article = services.get_article(article_id)
    if article is None:
        abort(404)
    return article


@staff_bp.route("/articles/<int:article_id>")
def show(article_id: int):
    article = _article_or_404(article_id)
    return render_template("kb/staff_article.html", article=article, stats=services.article_stats([article.id]).get(article.id),
                           views=services.recent_views(article.id), sources=VIEW_SOURCES, audiences=AUDIENCES,
                           publish_form=PublishForm(), related=services.related_articles(article, "staff"))


def _values(form: ArticleForm) -> services.ArticleInput:
    return services.ArticleInput(title=form.title.data or "", body_md=form.body_md.data or "", slug=form.slug.data or "",
                                 tags=form.tags.data or "", audience=form.audience.data, related=form.related.data or "",
                                 summary=form.summary.data or "")


def _edit(article):
    form = ArticleForm(obj=article)
    if form.validate_on_submit():
        try:
            saved = services.save_article(article, _values(form), actor=current_user, publish=form.published.data)
        except services.ArticleError as exc:
            getattr(form, exc.field_name or "title").errors.append(str(exc))
        else:
            flash(f"“{saved.title}” saved{' and published' if saved.published else ' as a draft'}.", "success")
            return redirect(url_for("kb_staff.show", article_id=saved.id), code=303)
    preview = services.preview_html(form.body_md.data or "")
    return render_template("kb/staff_form.html", form=form, article=article, preview=preview), (400 if form.errors else 200)


@staff_bp.route("/new", methods=["GET", "POST"])
@roles_required("support")
def create():
    return _edit(None)


@staff_bp.route("/articles/<int:article_id>/edit", methods=["GET", "POST"])
@roles_required("support")
def edit(article_id: int):
    return _edit(_article_or_404(article_id))


@staff_bp.route("/preview", methods=["POST"])
@roles_required("support")
def preview():
    form = PreviewForm()
    if not form.validate_on_submit():
        return render_template("kb/staff_form.html", form=ArticleForm(), article=None, preview="", preview_only=True), 400
    return render_fragment("kb/staff_form.html", "preview", preview=services.preview_html(form.body_md.data or ""))


@staff_bp.route("/articles/<int:article_id>/<any(publish, unpublish):action>", methods=["POST"])
@roles_required("support")
def publish(article_id: int, action: str):
    article = _article_or_404(article_id)
    if not PublishForm().validate_on_submit():
        abort(400)
    services.set_published(article, action == "publish", actor=current_user)
    flash(f"“{article.title}” {'published' if article.published else 'unpublished: donors no longer see it'}.", "success")
    return redirect_to(url_for("kb_staff.show", article_id=article.id))


@staff_bp.route("/reindex", methods=["POST"])
@roles_required("support")
def reindex():
    if not PublishForm().validate_on_submit():
        abort(400)
    jobs.enqueue_now("index", tasks.rebuild_index)
    flash("The search index is being rebuilt from the articles. Search keeps working meanwhile.", "info")
    return redirect_to(url_for("kb_staff.index"))


@staff_bp.route("/suggest")
def suggest():
    """Articles for a ticket reply being drafted: the ticket's subject plus the draft so far."""
    text = f"{request.args.get('subject', '')} {request.args.get('body', '')}"[:2000]
    return render_template("kb/_staff_suggestions.html", hits=services.suggest_for_text(text, "staff", limit=4))


# ---------------------------------------------------------------- panels on other domains' pages

def staff_donor_panel(donor=None, **_context):
    if donor is None:
        return None
    return render_template("kb/_staff_donor_panel.html", donor=donor, suggestions=services.suggestions_for(donor.id),
                           reading=services.articles_read_by(donor.id))


def me_home_panel(donor=None, **_context):
    donor_id = getattr(donor, "id", None) or (current_user.donor_id if current_user.is_authenticated else None)
    if not donor_id:
        return None
    return render_template("kb/_me_home_panel.html", suggestions=services.suggestions_for(donor_id, limit=3))
