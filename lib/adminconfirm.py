"""A confirmation step for admin actions that change many rows or send email, like Django's
own "delete selected": the first click shows what will happen, the second one does it.

    @admin.action(description="Disable", permissions=["change"])
    @confirm_first(title="Disable these sources?", consequence="…", button="Yes, disable them")
    def disable(self, request, sources) -> str:
        return f"Disabled {sources.update(enabled=False)} source(s)."

The action runs only on the second click and returns the message to show.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

Act = Callable[..., str]
Action = Callable[[admin.ModelAdmin, HttpRequest, QuerySet], TemplateResponse | None]


@dataclass(frozen=True)
class Confirmation:
    title: str
    consequence: str | Callable[[QuerySet], str]  # a callable words it from the rows
    button: str
    rows: Callable[[QuerySet], QuerySet] | None = None  # the selection's rows it acts on
    reason: str = ""  # the label of a required "why" field; passed to the action as reason=
    missing_reason: str = "Say why."

    def page(
        self, modeladmin: admin.ModelAdmin, request: HttpRequest, rows: QuerySet, action: str
    ) -> TemplateResponse:
        return confirmation_page(
            modeladmin,
            request,
            rows,
            action=action,
            title=self.title,
            consequence=self.consequence(rows) if callable(self.consequence) else self.consequence,
            button=self.button,
            reason_label=self.reason,
            reason=_reason(request),
            error=self.missing_reason if self.reason and confirmed(request) else "",
        )

    def ready(self, request: HttpRequest) -> bool:
        return confirmed(request) and bool(_reason(request) or not self.reason)


def confirm_first(**confirmation: Any) -> Callable[[Act], Action]:
    """Make an admin action ask first (see the module docstring); `confirmation` holds a
    Confirmation's fields."""
    asked = Confirmation(**confirmation)

    def decorate(act: Act) -> Action:
        @functools.wraps(act)
        def action(
            modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
        ) -> TemplateResponse | None:
            rows = asked.rows(queryset) if asked.rows else queryset
            if not asked.ready(request):
                return asked.page(modeladmin, request, rows, act.__name__)
            why = {"reason": _reason(request)} if asked.reason else {}
            done = act(modeladmin, request, rows, **why)
            modeladmin.message_user(request, done, messages.SUCCESS)
            return None

        return action

    return decorate


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirmed") == "yes"


def _reason(request: HttpRequest) -> str:
    return request.POST.get("reason", "").strip()


def confirmation_page(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    **context: object,
) -> TemplateResponse:
    """The first click's page: what `context` says will happen to these rows, and the button
    that posts `action` (named, not read back from the request: a changelist with actions on
    top and bottom posts two values)."""
    return TemplateResponse(
        request,
        "admin/confirm_action.html",
        {
            **context,
            **modeladmin.admin_site.each_context(request),
            "objects": queryset[:50],
            "count": queryset.count(),
            "action": action,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "opts": modeladmin.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        },
    )
