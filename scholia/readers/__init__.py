"""Readers: input files → scholia.model objects."""
