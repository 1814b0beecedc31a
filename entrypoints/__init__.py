"""Entrypoints: the CLI, the webhook and the dashboard, each wiring adapters to ports."""
