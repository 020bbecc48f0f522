"""The admin web page: template editor with live preview, delivery log, opt-outs, dashboard, accounts."""

from notifier.web.admin.app import create_admin_app, mount_admin

__all__ = ["create_admin_app", "mount_admin"]
