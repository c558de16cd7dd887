from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import condition, require_http_methods, require_POST, require_safe

from digest.delivery import composing, editions, previews
from digest.delivery.feeds import PersonalFeed
from digest.delivery.links import past_digests, read_rating_token
from digest.matching import profiles, recent
from digest.matching.query import parse_query
from digest.models import Paper
from lib.numbers import ascii_int
from subscribers import subscriptions
from subscribers.forms import PreferencesForm, PreviewForm, SignupForm
from subscribers.links import absolute, feed_url
from subscribers.models import Feedback, Listing, Ranking, Subscriber
from subscribers.ratelimit import HOUR, PREVIEW_LIMITED, allow, allow_preview
from subscribers.tokens import (
    BadToken,
    ExpiredToken,
    Purpose,
    make_token,
    read_confirmation,
    read_token,
)

PREVIEW_LIMIT = 5
# Per reader, not per address: feed services fetch many readers' feeds from a few addresses.
FEED_FETCHES_PER_HOUR = 60
View = Callable[..., HttpResponse]


def bad_link(request: HttpRequest, *, expired: Subscriber | None = None) -> HttpResponse:
    return render(request, "bad_link.html", {"expired": expired}, status=400)


def with_subscriber(purpose: Purpose) -> Callable[[View], View]:
    """Resolve the URL's token to a subscriber, or answer with the friendly 400 page."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                subscriber = read_token(token, purpose)
            except (BadToken, ExpiredToken) as exc:
                return _refused(request, token, exc)
            return view(request, subscriber, token, *args, **kwargs)

        return wrapper

    return decorate


def _refused(request: HttpRequest, token: str, exc: BadToken | ExpiredToken) -> HttpResponse:
    if isinstance(exc, ExpiredToken):
        context = {"token": token, "subscriber": exc.subscriber}
        return render(request, "subscribers/confirm_expired.html", context, status=400)
    return bad_link(request)


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None, request.FILES or None, request=request)
    if request.method == "POST" and "preview" not in request.POST and form.is_valid():
        if not form.is_bot:
            subscriptions.subscribe(form.cleaned_data["email"], **form.preferences())
        return redirect("subscribed")
    return render(
        request,
        "subscribers/subscribe.html",
        {"form": form, **_preview_beside(request, form, request.POST)},
    )


def subscribed(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/check_inbox.html")


@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    context = _preview_context(request, request.POST)
    status = 429 if context.get("preview_error") == PREVIEW_LIMITED else 200
    return render(request, "subscribers/_preview.html", context, status=status)


def _preview_beside(
    request: HttpRequest, form: forms.Form, data: Any, reader: Subscriber | None = None
) -> dict[str, Any]:
    # A submitted form shows a keyword error under the field; the panel need not repeat it.
    if form.is_bound and "preview" not in request.POST and form.has_error("query"):
        return {"preview_fix_above": True}
    return _preview_context(request, data, reader)


PREVIEW_FIELDS = ("query", "interest", "seeds")


def _preview_context(
    request: HttpRequest, data: Any, reader: Subscriber | None = None
) -> dict[str, Any]:
    """What the whole profile would get from recent papers: keywords, seeds and interest,
    and on a reader's own page, their ratings, with buttons to rate more."""
    form = PreviewForm({name: data.get(name, "") for name in PREVIEW_FIELDS})
    if not any(str(data.get(name, "")).strip() for name in PREVIEW_FIELDS):
        if "query" not in data:  # the page itself, before anything was typed
            return {}
        if not allow_preview(request):
            return {"preview_error": PREVIEW_LIMITED}
        # Everything cleared: what a reader who names nothing gets (moved by their ratings).
        rated = profiles.draft_for(reader, "", []) if reader and reader.rated_at else None
        if rated is not None:
            found, searched = recent.shared().top_for(rated, PREVIEW_LIMIT)
        else:
            found, searched = recent.shared().most_upvoted(PREVIEW_LIMIT)
        return {
            "preview": found,
            "preview_top": True,
            "preview_rated": rated is not None,
            "preview_searched": searched,
            "preview_ran": True,
        }
    if not form.is_valid():
        errors = form.errors.get("query") or form.errors.get("seeds") or form.errors.get("interest")
        return {"preview_error": errors[0] if errors else ""}
    if not allow_preview(request):  # each preview runs a new query over recent papers
        return {"preview_error": PREVIEW_LIMITED}
    cleaned = form.cleaned_data
    wants_meaning = bool(cleaned["interest"] or cleaned["seed_refs"])
    if reader is None:
        profile = profiles.draft_or_none(cleaned["interest"], cleaned["seed_refs"])
    else:
        profile = profiles.draft_for(reader, cleaned["interest"], cleaned["seed_refs"])
    found, total, searched = recent.shared().preview(
        parse_query(cleaned["query"], filters=True), PREVIEW_LIMIT, profile=profile
    )
    notes = form.seed_notes[:5]
    if wants_meaning and profile is None:
        notes.append(NO_MEANING)
    return {
        "preview": found,
        "preview_total": total,
        "preview_searched": searched,
        "preview_ran": True,
        "preview_notes": notes,
    }


NO_MEANING = (
    "None of those papers is among ours yet, so this preview is by your keywords alone; we "
    "look them up when you save. (On a site without its embedding model, matching is by "
    "keywords only.)"
)


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        confirmation = read_confirmation(token)
    except (BadToken, ExpiredToken) as exc:
        return _refused(request, token, exc)
    subscriber = confirmation.subscriber
    if request.method == "GET":
        wanted = confirmation.wanted
        context = {
            "subscriber": subscriber,
            "wanted": wanted,
            "confirmation": confirmation,
            "sends_at": composing.sends_at(wanted),
            "ranking": Ranking(wanted.ranking).label.lower(),
            "listing": Listing(wanted.listing).label.lower(),
        }
        return render(request, "subscribers/confirm.html", context)
    subscriptions.confirm(subscriber, confirmation.preferences)
    if subscriber.status != Subscriber.Status.ACTIVE:
        return bad_link(request)
    return render(
        request,
        "subscribers/confirmed.html",
        {
            "subscriber": subscriber,
            "manage_url": _manage_path(subscriber),
            **_next_digest(subscriber),
        },
    )


@require_POST
def resend(request: HttpRequest, token: str) -> HttpResponse:
    try:
        confirmation = read_confirmation(token)
    except ExpiredToken as exc:
        confirmation = exc.confirmation
    except BadToken:
        return bad_link(request)
    subscriptions.resend_confirmation(confirmation.subscriber, confirmation.preferences)
    return render(request, "subscribers/check_inbox.html", {"resent": True})


@require_http_methods(["GET", "POST"])
@with_subscriber("manage")
def manage(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    form = PreferencesForm(
        request.POST or None, request.FILES or None, instance=subscriber, request=request
    )
    saving = request.method == "POST" and "preview" not in request.POST
    if saving and not allow("manage-save", str(subscriber.pk), settings.MANAGE_SAVES_PER_HOUR):
        messages.error(request, "You've saved many times in the last hour; please try later.")
        saving = False
    if saving and form.is_valid():
        subscriptions.update_preferences(subscriber, **form.preferences())
        messages.success(request, _saved_message(subscriber))
        for note in form.seed_notes[:10]:
            messages.warning(request, note)
        return redirect("manage", token=token)
    shown = request.POST if request.method == "POST" else _stored_preview(form)
    return render(
        request,
        "subscribers/manage.html",
        {
            "form": form,
            "subscriber": subscriber,
            "token": token,
            "unsubscribe_token": make_token(subscriber, "unsubscribe"),
            **(_next_digest(subscriber) if subscriber.receives_digests else {}),
            **_reading(subscriber),
            **_preview_beside(request, form, shown, subscriber),
            "preview_rate_url": reverse("manage_rate", args=[token]),
            "card": profiles.interest_card(subscriber, weigh=True),
        },
    )


@require_POST
@with_subscriber("manage")
def manage_preview(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    """The live preview of a reader's own page: as the anonymous one, with their ratings."""
    context = {
        **_preview_context(request, request.POST, subscriber),
        "preview_rate_url": reverse("manage_rate", args=[token]),
    }
    status = 429 if context.get("preview_error") == PREVIEW_LIMITED else 200
    return render(request, "subscribers/_preview.html", context, status=status)


# Per reader, from their preferences page: plenty for a person, little for a script.
PAGE_RATINGS_PER_HOUR = 120


@require_POST
@with_subscriber("manage")
def manage_rate(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    """ "More / less like this" from the preview, and a rating removed from the card."""
    action = request.POST.get("action", "")
    paper = Paper.objects.filter(pk=ascii_int(request.POST.get("paper", ""))).first()
    if action not in (*Feedback.Action.values, "remove"):
        return bad_link(request)
    if paper is None or (paper.hidden and action != "remove"):  # hidden: it can only go
        return bad_link(request)
    anchor = "interest-card" if action == "remove" else "preview"
    back = f"{reverse('manage', args=[token])}#{anchor}"
    if not allow("manage-rate", str(subscriber.pk), PAGE_RATINGS_PER_HOUR):
        messages.error(request, "You've rated many papers in the last hour; please try later.")
    elif action == "remove":
        if subscriptions.unrate(subscriber, paper.pk):
            messages.success(request, f"Removed: we no longer count “{paper.title}”.")
    else:
        subscriptions.rate(subscriber, paper.pk, action)
        more = "more" if action == Feedback.Action.MORE else "fewer"
        messages.success(
            request, f"You'll see {more} papers like “{paper.title}”, from your next digest on."
        )
    return redirect(back)


@require_POST
@with_subscriber("manage")
def edit_card(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    """One entry of the interest card removed, or all that was learned from ratings reset."""
    remove = request.POST.get("remove", "")
    back = redirect(f"{reverse('manage', args=[token])}#interest-card")
    if remove not in ("seed", "interest", "ratings"):
        return bad_link(request)
    # Each removal of a seed or the interest makes the profile again (an embedding).
    if not allow("manage-save", str(subscriber.pk), settings.MANAGE_SAVES_PER_HOUR):
        messages.error(request, "You've saved many times in the last hour; please try later.")
        return back
    if remove == "seed":
        title = subscriptions.forget_seed(subscriber, ascii_int(request.POST.get("seed", "")) or 0)
        if title is not None:
            messages.success(request, f"Removed “{title}” from the papers you like.")
    elif remove == "interest":
        if subscriptions.forget_interest(subscriber):
            messages.success(request, "Removed your interest text.")
    elif remove == "ratings":
        subscriptions.forget_ratings(subscriber)
        messages.success(
            request,
            "Personalization reset: your ratings and what they taught are gone. Your keywords, "
            "papers you like and interest stay.",
        )
    return back


def _next_digest(subscriber: Subscriber) -> dict[str, object]:
    """When their next digest comes, in their zone, and where its papers start."""
    now = timezone.now()
    when = editions.reader_next_send(subscriber, now)
    return {
        "next_send": when,
        "their_zone": editions.zone(subscriber.time_zone),
        "covers_from": previews.reader_window_start(subscriber, when),
    }


@require_POST
@with_subscriber("manage")
def resubscribe(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    if subscriptions.resubscribe(subscriber):  # which starts a fresh set of links
        messages.success(request, "Welcome back: you're subscribed again.")
    return redirect(_manage_path(subscriber))


# Mailbox providers POST here with no cookies and no CSRF token (RFC 8058); the signed token
# in the URL is the credential, so CSRF protection adds nothing.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@with_subscriber("unsubscribe")
def unsubscribe(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    if request.method == "GET":
        return render(request, "subscribers/unsubscribe.html", {"subscriber": subscriber})
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    subscriptions.unsubscribe(
        subscriber, "one-click unsubscribe (RFC 8058)" if one_click else "unsubscribe link"
    )
    if one_click:
        return HttpResponse("You are unsubscribed.\n", content_type="text/plain")
    return render(
        request,
        "subscribers/unsubscribed.html",
        {"subscriber": subscriber, "manage_url": _manage_path(subscriber)},
    )


def _reading(subscriber: Subscriber) -> dict[str, Any]:
    """The feed and the archive of past digests, while the reader's links open them."""
    if subscriber.status != Subscriber.Status.ACTIVE:
        return {}
    return {"feed_url": feed_url(subscriber), "past_digests": past_digests(subscriber)}


@require_safe
def feed(request: HttpRequest, token: str) -> HttpResponse:
    response = _feed_or_refusal(request, token)
    patch_cache_control(response, private=True)  # one reader's matches: no shared caches
    response["X-Robots-Tag"] = "noindex"
    return response


def _feed_or_refusal(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = read_token(token, "feed")
    except BadToken:
        return _plain("This feed link doesn't work: use the one in your latest digest.", 404)
    if subscriber.status != Subscriber.Status.ACTIVE:
        # Unsubscribed, bounced or complained: the feed would outlive the subscription.
        return _plain("This feed has ended: its address no longer gets our digests.", 410)
    if not allow("feed", str(subscriber.pk), FEED_FETCHES_PER_HOUR):
        response = _plain("This feed was fetched too often; please try again later.", 429)
        response["Retry-After"] = str(HOUR)
        return response
    return _feed_document(request, PersonalFeed.of(subscriber))


@condition(
    etag_func=lambda request, feed: feed.etag(),
    last_modified_func=lambda request, feed: feed.updated,
)
def _feed_document(request: HttpRequest, feed: PersonalFeed) -> HttpResponse:
    document = feed.document(absolute(request.path))
    response = HttpResponse(content_type=document.content_type)
    document.write(response, "utf-8")
    return response


# Per link, page views and clicks alike: a reader opens and clicks a few times; anyone
# replaying one link gets nowhere.
RATINGS_PER_LINK_PER_HOUR = 30


@require_http_methods(["GET", "HEAD", "POST"])
def rate(request: HttpRequest, token: str) -> HttpResponse:
    """ "More / less like this" from a digest: GET shows one button (mail scanners fetch links,
    and some run scripts: nothing here submits itself); POST records it, or takes it back."""
    try:
        link = read_rating_token(token)
    except BadToken:
        return bad_link(request)
    if link.subscriber.status != Subscriber.Status.ACTIVE:
        return render(request, "bad_link.html", {"gone": True}, status=410)
    context = {"link": link, "more": link.action == Feedback.Action.MORE, "token": token}
    if not allow("rate", token, RATINGS_PER_LINK_PER_HOUR):  # page views count too
        return render(request, "subscribers/rate.html", {**context, "limited": True}, status=429)
    if request.method != "POST":
        return render(request, "subscribers/rate.html", context)
    if request.POST.get("undo"):
        subscriptions.unrate(link.subscriber, link.paper.pk, link.action)
        # Rated the other way since (another link, their preferences page): that one stays.
        kept = link.subscriber.feedback.filter(paper=link.paper).exists()
        return render(
            request, "subscribers/rate.html", {**context, "undone": not kept, "kept": kept}
        )
    subscriptions.rate(link.subscriber, link.paper.pk, link.action, link.delivery.pk)
    return render(request, "subscribers/rate.html", {**context, "rated": True})


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(f"{text}\n", content_type="text/plain; charset=utf-8", status=status)


def _stored_preview(form: PreferencesForm) -> dict[str, str]:
    return {name: form[name].value() or "" for name in PREVIEW_FIELDS}


def _saved_message(subscriber: Subscriber) -> str:
    if subscriber.receives_digests:
        return "Saved. Your next digest will use these preferences."
    if subscriber.status == Subscriber.Status.ACTIVE:
        return "Saved. Your digests are paused: they will use these preferences when you resume."
    if subscriber.status == Subscriber.Status.PENDING:
        return "Saved. Confirm from the email we sent you to start getting digests."
    return "Saved. You are not subscribed, so no digests will come."


def _manage_path(subscriber: Subscriber) -> str:
    return reverse("manage", args=[make_token(subscriber, "manage")])
