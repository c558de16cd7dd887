"""Default beat schedule for ingestion; operators edit it under Periodic tasks in the admin."""

from django.db import migrations

INGEST_EVERY_MINUTES = 30


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=INGEST_EVERY_MINUTES, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Ingest all enabled sources",
        defaults={
            "task": "digest.ingest_all",
            "interval": every,
            # Just under the interval: a backed-up queue never runs two ingests of one slot.
            "expire_seconds": INGEST_EVERY_MINUTES * 60 - 60,
            "description": "Fetches every enabled source (conditional GET) and stores new papers.",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name="Ingest all enabled sources").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("digest", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
