"""Celery app, tasks, schedules, the ``wirewatch`` command and the wiring of adapters to stages."""
