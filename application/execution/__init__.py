"""Order execution, one module per job.

* :mod:`.results`: ``ExecutionResult`` and its ``ExecutionStatus``.
* :mod:`.submit`: the shared core: configuration, persist-then-send, broker answers, recovery
  after a restart, and the typed plan stored with every order.
* :mod:`.intake`: a signal to an entry order (validate, size, plan, risk, place).
* :mod:`.exits`: the closing order of a position whose exit fired.
* :mod:`.booking`: broker events to orders, fills to positions (the domain's booking rule).
* :mod:`.housekeeping`: polling, fill timeouts, re-sending orders the broker never saw.

:class:`application.executor.OrderExecutor` composes them.
"""
