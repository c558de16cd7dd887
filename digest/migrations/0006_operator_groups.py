"""The two admin groups: "viewer" reads everything, "operator" runs the service day to day.
Neither may delete subscribers or change other staff; superusers keep everything."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ("digest", "subscribers", "django_celery_beat")

OPERATOR = {
    "digest": {
        "source": ("view", "add", "change"),
        "paper": ("view", "change"),
        "fetchlog": ("view",),
        "edition": ("view", "retry_edition", "send_test_digest"),
        "delivery": ("view",),
        "heartbeat": ("view",),
    },
    "subscribers": {
        "subscriber": ("view", "add", "change", "export_subscribers", "import_subscribers"),
        "statuschange": ("view",),
    },
    "django_celery_beat": {
        "periodictask": ("view", "add", "change"),
        "crontabschedule": ("view", "add", "change"),
        "intervalschedule": ("view", "add", "change"),
        "clockedschedule": ("view",),
        "solarschedule": ("view",),
    },
}


def codename(action: str, model: str) -> str:
    return f"{action}_{model}" if action in ("view", "add", "change", "delete") else action


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    for label in APPS:
        create_permissions(global_apps.get_app_config(label), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    viewer, _ = Group.objects.get_or_create(name="viewer")
    viewer.permissions.set(
        Permission.objects.filter(content_type__app_label__in=APPS, codename__startswith="view_")
    )
    operator, _ = Group.objects.get_or_create(name="operator")
    wanted = [
        Permission.objects.get(
            content_type__app_label=app, content_type__model=model, codename=codename(action, model)
        )
        for app, models in OPERATOR.items()
        for model, actions in models.items()
        for action in actions
    ]
    operator.permissions.set(wanted)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["viewer", "operator"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("digest", "0005_curation_heartbeats_permissions"),
        ("subscribers", "0002_operator_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
