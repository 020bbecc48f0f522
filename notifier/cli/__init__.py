"""Interfaces, command line: the `notifier` commands that parse arguments and print results."""
