"""Reinforcement-learning rules that need no simulator: model versions and their life cycle."""
