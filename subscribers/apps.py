from __future__ import annotations

from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = "Subscribers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from anymail.signals import tracking
        from django.core import checks

        from digest.tasks import queue_profile
        from subscribers import checks as deploy_checks
        from subscribers.signals import email_due, profile_due
        from subscribers.tasks import queue_email
        from subscribers.tracking import handle_tracking_event

        tracking.connect(handle_tracking_event, dispatch_uid="subscribers.tracking")
        email_due.connect(queue_email, dispatch_uid="subscribers.queue_email")
        profile_due.connect(queue_profile, dispatch_uid="digest.queue_profile")
        for check in (
            deploy_checks.check_webhook_secret,
            deploy_checks.check_email_backend,
            deploy_checks.check_sender_domain,
        ):
            checks.register(check, "email", deploy=True)
