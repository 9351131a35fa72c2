"""Implementations of the ports in ``pipeline.ports``: real services and embedded stand-ins."""
