"""Worker start-up settings that are not visible from a task's result."""

from __future__ import annotations

import gc

from celery.signals import worker_init

from config import celery


def test_a_starting_worker_collects_garbage_less_often_and_freezes_what_it_loaded():
    thresholds = gc.get_threshold()
    try:
        connected = [ref() for _, ref in worker_init.receivers]
        assert celery._tune_garbage_collection in connected
        celery._tune_garbage_collection()
        assert gc.get_threshold() == celery.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
