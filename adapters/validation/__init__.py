"""Walk-forward adapters: window executors (in-process, process pool, Ray) and stores."""
