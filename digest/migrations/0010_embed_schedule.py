"""Beat embeds papers every 10 minutes too (ingest queues it as well): a paper an ingest
stored while no worker could embed it gets its vector at the next run."""

from django.db import migrations

EMBED_EVERY_MINUTES = 10
NAME = "Embed new papers"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=EMBED_EVERY_MINUTES, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "digest.embed_papers",
            "interval": every,
            "expire_seconds": EMBED_EVERY_MINUTES * 60 - 60,
            "description": "Embeds papers that have no vector by the current model yet, and "
            "makes the profiles that wait for them.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("digest", "0009_paper_embedding"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
