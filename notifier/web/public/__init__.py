"""The public dossier page (/tra-cuu): look-up, QR links, the dossier's view and the citizen's actions."""
