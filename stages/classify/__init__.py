"""Classifiers: language identification and the user's own fastText classifiers."""
