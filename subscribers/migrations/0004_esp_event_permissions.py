"""Viewers and operators read ESP events, as they read the status history; nobody edits them."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    create_permissions(global_apps.get_app_config("subscribers"), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.get(content_type__app_label="subscribers", codename="view_espevent")
    for group in Group.objects.filter(name__in=["viewer", "operator"]):
        group.permissions.add(view)


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0003_esp_events"),
        ("digest", "0006_operator_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
