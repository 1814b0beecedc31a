"""Walk-forward validation: window schemes, overfitting statistics and aggregation."""
