"""A confirmation step for admin actions that change many rows or send email, like Django's
own "delete selected": the first click shows what will happen, the second one does it."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

CONFIRMED = "confirmed"


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get(CONFIRMED) == "yes"


def confirmation_page(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    consequence: str,
    button: str,
    template: str = "admin/confirm_action.html",
    **extra: object,
) -> TemplateResponse:
    """The first click's page; `template` may extend confirm_action.html's `fields` block
    to ask for more (a reason), with `extra` in its context."""
    opts = modeladmin.model._meta
    return TemplateResponse(
        request,
        template,
        {
            **extra,
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "consequence": consequence,
            "button": button,
            "objects": queryset[:50],
            "count": queryset.count(),
            "action": action,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "opts": opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        },
    )
