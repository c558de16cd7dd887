import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0002_operator_permissions"),
    ]

    operations = [
        migrations.CreateModel(
            name="SentEmail",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=32)),
                ("message_id", models.CharField(max_length=300)),
                ("sent_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "subscriber",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="emails",
                        to="subscribers.subscriber",
                    ),
                ),
            ],
            options={
                "ordering": ["-sent_at", "-id"],
                "indexes": [models.Index(fields=["subscriber", "message_id"], name="sentemail_message")],
            },
        ),
        migrations.CreateModel(
            name="EspEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("esp", models.CharField(max_length=40)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("hard_bounce", "Hard bounce"),
                            ("soft_bounce", "Soft bounce"),
                            ("complaint", "Spam complaint"),
                            ("unsubscribe", "Unsubscribe"),
                        ],
                        max_length=16,
                    ),
                ),
                ("recipient", models.CharField(max_length=254)),
                ("message_id", models.CharField(blank=True, max_length=300)),
                ("matched", models.BooleanField(help_text="About a message we sent this subscriber")),
                ("detail", models.CharField(blank=True, help_text="The ESP's description", max_length=500)),
                ("outcome", models.CharField(blank=True, max_length=500)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "subscriber",
                    models.ForeignKey(
                        blank=True,
                        help_text="Empty when the address is not a subscriber's",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="esp_events",
                        to="subscribers.subscriber",
                    ),
                ),
            ],
            options={
                "verbose_name": "ESP event",
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(fields=["subscriber", "kind", "created_at"], name="espevent_recent")
                ],
            },
        ),
    ]
