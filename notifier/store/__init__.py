"""Floor 3, store: the engine and sessions, every table (`models`), migrations, and the queries and small
repositories the floors above share (audit, API keys, contacts, templates, tokens)."""
