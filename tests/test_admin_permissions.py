"""Every admin page we add checks its own permission: a staff login in no group is refused
each of them, whatever the URL (staff status alone opens the admin, not its tools)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from digest.delivery import sending
from digest.models import Announcement
from tests.factories import PaperFactory, SourceFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

# What Django's ModelAdmin and AdminSite provide, each with its own permission checks.
MODEL_ADMIN_URLS = ("changelist", "add", "history", "delete", "change")
SITE_URLS = {p.name for p in admin.AdminSite().get_urls() if getattr(p, "name", None)} | {
    "app_list"  # added once a model is registered
}


def custom_admin_urls(objects: dict) -> list[str]:
    urls = [reverse(f"admin:{name}") for name in site_urls() if name not in SITE_URLS]
    for model in apps.get_models():
        if not admin.site.is_registered(model):
            continue
        model_admin = admin.site.get_model_admin(model)
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        for pattern in model_admin.get_urls():
            if pattern.name and pattern.name.removeprefix(prefix) not in MODEL_ADMIN_URLS:
                kwargs = {key: objects[model].pk for key in pattern.pattern.converters}
                urls.append(reverse(f"admin:{pattern.name}", kwargs=kwargs))
    return urls


def site_urls() -> list[str]:
    return [p.name for p in admin.site.get_urls() if getattr(p, "name", None)]


@pytest.fixture
def every_kind_of_object(admin_user) -> dict:
    PaperFactory(title="Pruning at scale")
    subscriber = SubscriberFactory(query="pruning")
    edition = sending.plan_edition("daily", any_hour=True)
    (chunk,) = sending.dispatch(edition)
    sending.send_chunk(chunk)
    delivery = edition.deliveries.get()
    note = Announcement.objects.create(subject="Hello", body="Hello.")
    objects = {
        type(o): o for o in (subscriber, edition, delivery, note, SourceFactory(), admin_user)
    }
    return {model: objects.get(model) for model in apps.get_models()}


def test_it_refuses_every_custom_admin_page_to_staff_without_permissions(
    client, django_user_model, every_kind_of_object
):
    client.force_login(django_user_model.objects.create_user("nobody", is_staff=True))
    urls = custom_admin_urls(every_kind_of_object)
    assert "/admin/send-test-digest/" in urls and len(urls) >= 6

    refused = {url: (client.get(url).status_code, client.post(url).status_code) for url in urls}

    assert refused == dict.fromkeys(urls, (403, 403))


def test_it_shows_the_dashboard_only_to_staff_who_may_view_the_service(client, django_user_model):
    SubscriberFactory(status="active")
    SourceFactory(name="internal feed", last_status="error", last_error="HTTP 503")
    client.force_login(django_user_model.objects.create_user("nobody", is_staff=True))
    page = client.get(reverse("admin:index")).content.decode()
    assert "internal feed" not in page and "Sending health" not in page
    assert "permission" in page  # Django's own "You don't have permission to view or edit"


def test_it_shows_the_dashboard_to_a_viewer(client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer-user", is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewer"))
    client.force_login(viewer)
    assert "Sending health" in client.get(reverse("admin:index")).content.decode()
