"""Reinforcement-learning adapters: the trading environment, simple agents, evaluation."""
