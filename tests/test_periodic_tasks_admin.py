from __future__ import annotations

import pytest
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

pytestmark = pytest.mark.django_db
ADD = reverse("admin:django_celery_beat_periodictask_add")


def schedule(**fields: str) -> dict[str, str]:
    every = IntervalSchedule.objects.create(every=5, period="minutes")
    return {
        "name": "my schedule",
        "regtask": "",
        "task": "",
        "enabled": "on",
        "interval": str(every.pk),
        "args": "[]",
        "kwargs": "{}",
        "headers": "{}",
        **fields,
    }


def test_it_offers_only_the_tasks_meant_to_run_on_a_schedule(admin_client):
    page = admin_client.get(ADD).content.decode()
    assert 'value="digest.send_edition"' in page and 'value="digest.ingest_all"' in page
    assert "subscribers.send_email" not in page and "digest.send_chunk" not in page


@pytest.mark.parametrize("field", ["regtask", "task"])
@pytest.mark.parametrize("task", ["subscribers.send_email", "digest.send_chunk"])
def test_it_refuses_to_schedule_any_other_task(admin_client, field, task):
    response = admin_client.post(ADD, schedule(**{field: task, "args": '[1, "confirm"]'}))
    assert response.status_code == 200
    assert not PeriodicTask.objects.filter(name="my schedule").exists()


def test_it_still_schedules_an_intended_task(admin_client):
    response = admin_client.post(ADD, schedule(regtask="digest.send_edition", args='["daily"]'))
    assert response.status_code == 302
    assert PeriodicTask.objects.get(name="my schedule").task == "digest.send_edition"
