"""lapor-bridge's core, reporting: reconciliation, SLA and HTML reports,
status and trace (docs/architecture.md)."""
