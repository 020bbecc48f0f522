"""APScheduler jobs: the scans, the dispatcher and the replay of stuck rows."""
