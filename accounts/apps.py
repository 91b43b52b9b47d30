from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Staff accounts and roles"

    def ready(self):
        from accounts import audit_hooks  # noqa: F401  (logins and logouts go to the audit trail)
