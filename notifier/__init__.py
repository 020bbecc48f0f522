"""notifier: reminders and citizen notifications beside a province's one-stop procedure system."""

__version__ = "0.1.0"
