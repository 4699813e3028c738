"""Widgets of sq-console."""
