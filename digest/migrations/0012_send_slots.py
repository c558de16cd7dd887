"""Editions become send slots and each delivery carries its reader's own period and window
(readers' time zones and hours); one planner every quarter hour replaces the two 07:00 UTC
schedules, keeping what the operator had set there: their hour and time zone become every
existing reader's, and if they had switched sending off, the planner starts switched off;
announcements are delivered as editions are.

One way: going back would need one edition per day again, which slots and announcements break.
"""

import json

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

OLD_SCHEDULES = ["Send the daily edition", "Send the weekly edition"]
PLANNER = "Send each reader's digest at their local hour"


def fill_deliveries(apps, schema_editor):
    """Deliveries before this had their edition's UTC day or ISO week and its window."""
    Delivery = apps.get_model("digest", "Delivery")
    Edition = apps.get_model("digest", "Edition")
    for edition in Edition.objects.all().iterator():
        if edition.frequency == "weekly":
            year, week, _ = edition.period.isocalendar()
            period = f"{year}-W{week:02d}"
        else:
            period = edition.period.isoformat()
        Delivery.objects.filter(edition=edition).update(
            period=period, window_start=edition.window_start
        )


def _old_send_time(task) -> dict:
    """The reader fields an old edition schedule meant, when its crontab is one plain time."""
    cron = task.crontab
    if cron is None or not (cron.hour.isdigit() and cron.minute.isdigit()):
        return {}
    send = {"send_hour": int(cron.hour) % 24, "time_zone": str(cron.timezone or "UTC")}
    if cron.day_of_week.isdigit():  # cron counts from Sunday = 0; ours from Monday = 0
        send["send_weekday"] = (int(cron.day_of_week) - 1) % 7
    return send


def schedule_planner(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    Subscriber = apps.get_model("subscribers", "Subscriber")
    old = list(PeriodicTask.objects.filter(name__in=OLD_SCHEDULES).select_related("crontab"))
    for task in old:
        frequency = "weekly" if "weekly" in task.name else "daily"
        Subscriber.objects.filter(frequency=frequency).update(**_old_send_time(task))
    # Sending switched off stays off until the operator switches the planner on.
    enabled = not old or any(task.enabled for task in old)
    PeriodicTask.objects.filter(pk__in=[task.pk for task in old]).delete()
    every_quarter, _ = CrontabSchedule.objects.get_or_create(
        minute="*/15",
        hour="*",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    # expire_seconds under the interval: a backed-up queue never runs a stale copy.
    PeriodicTask.objects.get_or_create(
        name=PLANNER,
        defaults={
            "task": "digest.send_due",
            "args": json.dumps([]),
            "crontab": every_quarter,
            "expire_seconds": 14 * 60,
            "enabled": enabled,
        },
    )


def unschedule_planner(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=PLANNER).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("digest", "0011_paper_listed"),
        ("subscribers", "0007_send_time_and_ranking"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="edition", name="one_edition_per_period"),
        migrations.AlterModelOptions(
            name="edition",
            options={
                "ordering": ["-window_end", "frequency"],
                "permissions": [
                    ("retry_edition", "Can retry an edition's failed deliveries"),
                    ("send_test_digest", "Can send a test digest"),
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="edition",
            constraint=models.UniqueConstraint(
                fields=("frequency", "window_end"), name="one_edition_per_slot"
            ),
        ),
        migrations.AlterField(
            model_name="edition",
            name="period",
            field=models.DateField(help_text="The UTC day of the send slot"),
        ),
        migrations.AlterField(
            model_name="edition",
            name="window_end",
            field=models.DateTimeField(help_text="…until just before here: the send slot"),
        ),
        migrations.CreateModel(
            name="Announcement",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("subject", models.CharField(max_length=150)),
                (
                    "body",
                    models.TextField(
                        help_text="Plain text; blank lines start paragraphs, links work"
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("created_by", models.CharField(blank=True, editable=False, max_length=150)),
                ("queued_at", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "planned_at",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        help_text="When every delivery row existed",
                        null=True,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    ("send_announcement", "Can send an announcement to every subscriber")
                ],
            },
        ),
        migrations.AlterField(
            model_name="delivery",
            name="edition",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="deliveries",
                to="digest.edition",
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="announcement",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="deliveries",
                to="digest.announcement",
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="period",
            field=models.CharField(
                blank=True, help_text="Empty for an announcement", max_length=10
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="window_start",
            field=models.DateTimeField(
                blank=True,
                null=True,
                help_text="Their papers first seen from here (where their previous digest "
                "ended) until the edition's send slot; empty for an announcement",
            ),
        ),
        migrations.RunPython(fill_deliveries, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("edition__isnull", False)),
                fields=("subscriber", "period"),
                name="one_delivery_per_period",
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("announcement__isnull", False)),
                fields=("subscriber", "announcement"),
                name="one_delivery_per_announcement",
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("announcement__isnull", True), ("edition__isnull", False)),
                    models.Q(("announcement__isnull", False), ("edition__isnull", True)),
                    _connector="OR",
                ),
                name="delivery_of_an_edition_or_an_announcement",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("announcement__isnull", False)),
                fields=["announcement", "status"],
                name="delivery_announcement_status",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("edition__isnull", False)),
                fields=["subscriber", "-id"],
                name="delivery_latest_digest",
            ),
        ),
        migrations.RunPython(schedule_planner, unschedule_planner),
    ]
