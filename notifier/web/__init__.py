"""Interfaces, web: the REST API, provider webhooks, metrics and the admin page. Handlers parse and format;
the work is done by the floors below."""
