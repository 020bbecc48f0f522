"""Floor 5, outbox: the pipeline from dossier state to a sent message: scans queue rows, dispatch renders
and sends them, receipts and inbound messages come back, retention erases what is no longer needed."""
