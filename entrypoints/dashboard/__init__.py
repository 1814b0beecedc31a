"""The Streamlit dashboard: portfolio, risk, agents and runs over the read models."""
