from django.db import migrations


def create_plans(apps, schema_editor):
    Plan = apps.get_model("accounts", "Plan")
    Plan.objects.get_or_create(
        name="Free",
        defaults=dict(
            is_default=True,
            images_per_day=50,
            max_concurrent_jobs=2,
            max_pixels=1024 * 1024,
            max_steps=50,
            max_images_per_job=4,
            retention_days=7,
            weight=1,
        ),
    )
    Plan.objects.get_or_create(
        name="Pro",
        defaults=dict(
            is_default=False,
            images_per_day=1000,
            max_concurrent_jobs=4,
            max_pixels=2048 * 2048,
            max_steps=150,
            max_images_per_job=8,
            retention_days=30,
            weight=3,
        ),
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_plans_and_tokens")]
    operations = [migrations.RunPython(create_plans, migrations.RunPython.noop)]
