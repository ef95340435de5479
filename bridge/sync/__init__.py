"""lapor-bridge's core, sync and state: the engine, two-way convergence,
the stores and dedupe (docs/architecture.md)."""
