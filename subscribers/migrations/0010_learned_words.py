from django.db import migrations, models


def refit_existing_models(apps, schema_editor):
    # Models fitted before their words were kept: refitted the next night, words and all.
    Subscriber = apps.get_model("subscribers", "Subscriber")
    Subscriber.objects.filter(learned__isnull=False).update(learned_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0009_rated_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscriber",
            name="learned_words",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.RunPython(refit_existing_models, migrations.RunPython.noop),
    ]
