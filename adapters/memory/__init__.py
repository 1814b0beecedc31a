"""In-memory implementations of every port: the fakes tests use, and a no-database mode."""

from adapters.memory.broker import FakeBroker
from adapters.memory.feed import InMemoryPriceFeed
from adapters.memory.notifier import RecordingNotifier
from adapters.memory.signals import ListSignalSource
from adapters.memory.uow import InMemoryUnitOfWork

__all__ = [
    "FakeBroker",
    "InMemoryPriceFeed",
    "InMemoryUnitOfWork",
    "ListSignalSource",
    "RecordingNotifier",
]
