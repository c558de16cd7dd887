import secrets

from django.db import migrations, models

import digest.models


def give_each_delivery_its_own_key(apps, schema_editor):
    # AddField computes a callable default once for every existing row; Message-IDs must
    # differ per delivery, so rows still to be sent get a key each (sent ones are out).
    Delivery = apps.get_model("digest", "Delivery")
    unsent = Delivery.objects.filter(status__in=["planned", "sending"])
    for pk in unsent.values_list("pk", flat=True).iterator():
        Delivery.objects.filter(pk=pk).update(message_key=secrets.token_hex(16))


class Migration(migrations.Migration):
    dependencies = [("digest", "0007_delivery_drop_redundant_indexes")]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="claim",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="Which claim holds it while sending",
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="message_key",
            field=models.CharField(
                default=digest.models.new_message_key,
                editable=False,
                help_text="Random, so the Message-ID is unique across installs and stable per delivery",
                max_length=32,
            ),
        ),
        migrations.RunPython(give_each_delivery_its_own_key, migrations.RunPython.noop),
    ]
