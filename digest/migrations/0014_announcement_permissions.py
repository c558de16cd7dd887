"""Operators write and send announcements; viewers read them (the groups of 0006)."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATOR = ("view_announcement", "add_announcement", "change_announcement", "send_announcement")


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    create_permissions(global_apps.get_app_config("digest"), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = Permission.objects.filter(
        content_type__app_label="digest", content_type__model="announcement"
    )
    for group, codenames in (("operator", OPERATOR), ("viewer", ("view_announcement",))):
        found = Group.objects.filter(name=group).first()
        if found:
            found.permissions.add(*wanted.filter(codename__in=codenames))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=["operator", "viewer"]):
        group.permissions.remove(*Permission.objects.filter(content_type__model="announcement"))


class Migration(migrations.Migration):
    dependencies = [
        ("digest", "0013_paper_sources"),
        ("digest", "0006_operator_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
