"""Report writers: HTML, CSV and plots from the application's results."""
