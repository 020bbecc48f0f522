"""The admin web page: template editor with live preview, delivery log, opt-outs, dashboard, accounts.

`app` builds it (`create_admin_app`, `mount_admin`). Nothing is imported here: the preview's forkserver
imports `isolated` and `preview` of this package, and importing the whole page with them would cost it a
second and about 70 MB (the web stack), in every preview child too.
"""
