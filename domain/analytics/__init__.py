"""Analytics on arrays and closed trades: performance metrics, the sizing backtest."""
