"""Screens of sq-console: the main view and its modal dialogs."""
