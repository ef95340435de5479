"""lapor-bridge: the sync core, knowing nothing of any particular app."""

__version__ = "0.1.0"
