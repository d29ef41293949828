"""Celery workers: the one Celery app (`worker.app`), thin tasks (`worker.tasks`) and
the plain functions they call (`worker.runs`, `worker.webhooks`)."""
