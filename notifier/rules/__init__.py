"""Floor 1, rules: pure functions and value types, no I/O: clock, working days, hours, phones, SMS text,
statuses, template rendering, rate-limit arithmetic. Imports nothing of notifier outside this floor."""
