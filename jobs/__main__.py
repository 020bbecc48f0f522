"""`python -m jobs`: the same as the `notifier` console script."""

from jobs.cli import app

app()
