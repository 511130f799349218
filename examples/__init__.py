"""Bundled example projects."""
