"""Definitions: what a council's framework says, loaded from plugins as data."""
