from django.contrib.admin.apps import AdminConfig
from django.utils.module_loading import autodiscover_modules


class PaperDigestAdminConfig(AdminConfig):
    default_site = "config.admin.PaperDigestAdminSite"

    def ready(self) -> None:
        super().ready()  # each app's admin.py
        # An app whose operator pages are a subpackage of their own (digest/console/).
        autodiscover_modules("console.admin", register_to=self.module.site)
