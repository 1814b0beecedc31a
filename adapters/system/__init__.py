"""Adapters to the local system: files, signals, the process."""
