"""The installer's tools: `pole-agent status`, `watch`, `selftest` (docs/installer.md)."""
