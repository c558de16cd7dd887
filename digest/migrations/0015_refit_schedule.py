"""Beat schedule for the nightly refit of readers' own models (learning.py); operators edit
the time under Periodic tasks in the admin (UTC)."""

from django.db import migrations

NAME = "Refit readers' models on their new ratings"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    # Expires before the next night's run: a backed-up queue never runs two.
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": "digest.refit_models", "crontab": crontab, "expire_seconds": 20 * 3600},
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("digest", "0014_announcement_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
