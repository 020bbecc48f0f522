"""The citizen chatbot on Telegram (aiogram 3): status lookup, linking, subscriptions and feedback.

Only `runner`, `routers/`, `keyboards` and `deps` import aiogram; the tables (`models`), the lookup rules
(`lookup`), the chat links used by the dispatcher (`links`) and the texts (`texts`) stay importable without
it, so the core runs without the `providers` extra.
"""
