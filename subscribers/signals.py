"""What the subscriptions flow announces, for the wiring to act on: the flow decides that an
email is due and apps.py connects the Celery task that sends it, so domain code never imports
tasks (and runs without Celery in tests)."""

from django.dispatch import Signal

# Sent once the transaction that made it due has committed, with subscriber_id, kind
# ("confirm", "already_subscribed") and preferences (a dict, or None for what is stored).
email_due = Signal()

# Sent once the transaction that changed a subscriber's seed papers or interest has committed,
# with subscriber_id: their profile vector is to be made again (fetching unknown seeds).
profile_due = Signal()
