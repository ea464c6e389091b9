"""Rahat."""
