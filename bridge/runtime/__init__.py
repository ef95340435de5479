"""lapor-bridge's core, the service runtime: the daemon, HTTP, health,
settings and logs (docs/architecture.md)."""
