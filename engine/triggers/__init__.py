"""Anticipatory action: trigger files, their evaluation on forecasts and alerts, and backtests."""
