"""Migrating a database from before send slots keeps the operator's schedule."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("digest", "0011_paper_listed"), ("subscribers", "0006_seed_looked_up")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_the_old_schedules_become_the_readers_send_times_and_stay_off_if_off():
    old = migrate(BEFORE)
    Crontab = old.get_model("django_celery_beat", "CrontabSchedule")
    Task = old.get_model("django_celery_beat", "PeriodicTask")
    Subscriber = old.get_model("subscribers", "Subscriber")
    # As an operator left them: the daily at 05:00 Berlin time, both switched off.
    Task.objects.filter(name__startswith="Send the").delete()
    berlin = Crontab.objects.create(minute="0", hour="5", timezone="Europe/Berlin")
    monday = Crontab.objects.create(minute="0", hour="7", day_of_week="1", timezone="UTC")
    for name, cron in (("Send the daily edition", berlin), ("Send the weekly edition", monday)):
        Task.objects.create(name=name, task="digest.send_edition", crontab=cron, enabled=False)
    Subscriber.objects.create(email="a@example.org", email_key="a@example.org", frequency="daily")
    Subscriber.objects.create(email="b@example.org", email_key="b@example.org", frequency="weekly")
    new = migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    S = new.get_model("subscribers", "Subscriber")
    assert list(
        S.objects.order_by("email").values_list("send_hour", "time_zone", "send_weekday", "listing")
    ) == [(5, "Europe/Berlin", 0, "all"), (7, "UTC", 0, "all")]
    planner = new.get_model("django_celery_beat", "PeriodicTask").objects.get(
        task="digest.send_due"
    )
    assert not planner.enabled
