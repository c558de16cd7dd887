"""Paper.sources: every source that carried a paper (the site shows "via …"), seeded from the
source that first brought each paper; ingest adds the others from now on."""

from django.db import migrations, models

BATCH = 2000


def seed_from_first_source(apps, schema_editor):
    Paper = apps.get_model("digest", "Paper")
    Carried = Paper.sources.through
    pairs = Paper.objects.filter(source__isnull=False).values_list("id", "source_id")
    batch = []
    for paper_id, source_id in pairs.iterator(chunk_size=BATCH):
        batch.append(Carried(paper_id=paper_id, source_id=source_id))
        if len(batch) == BATCH:
            Carried.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    Carried.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("digest", "0012_send_slots"),
    ]

    operations = [
        migrations.AddField(
            model_name="paper",
            name="sources",
            field=models.ManyToManyField(
                blank=True,
                help_text="The sources that carried it",
                related_name="carried",
                to="digest.source",
            ),
        ),
        # Reversing drops the table, and the rows with it.
        migrations.RunPython(seed_from_first_source, migrations.RunPython.noop),
    ]
