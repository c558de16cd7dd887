"""Default beat schedules for the editions and the delivery sweep; operators edit the times
under Periodic tasks in the admin (times are UTC)."""

import json

from django.db import migrations

SCHEDULES = [
    # name, task, args, crontab (minute, hour, day_of_week) or interval minutes, expire seconds
    ("Send the daily edition", "digest.send_edition", ["daily"], ("0", "7", "*"), None,
     23 * 3600),
    ("Send the weekly edition", "digest.send_edition", ["weekly"], ("0", "7", "1"), None,
     6 * 24 * 3600),
    ("Recover and resend unfinished deliveries", "digest.sweep", [], None, 5, 4 * 60),
]


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, args, cron, minutes, expire in SCHEDULES:
        schedule = {}
        if cron:
            minute, hour, weekday = cron
            schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_week=weekday, day_of_month="*",
                month_of_year="*", timezone="UTC",
            )
        else:
            schedule["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=minutes, period="minutes"
            )
        # expire_seconds just under the interval: a backed-up queue never runs a stale copy.
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "args": json.dumps(args), "expire_seconds": expire, **schedule},
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("digest", "0003_editions_deliveries"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
