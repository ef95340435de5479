"""lapor-bridge's core, the domain: the canonical model, the planners,
the ports and the pure rules (docs/architecture.md)."""
