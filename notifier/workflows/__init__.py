"""Floor 6, workflows: one service per use case (ingest, apology, steps, feedback, officer actions,
reports, accounts, demo), each owning its transaction, settings, lookups and audit."""
