from django.contrib.admin.apps import AdminConfig


class PaperDigestAdminConfig(AdminConfig):
    default_site = "config.admin.PaperDigestAdminSite"
