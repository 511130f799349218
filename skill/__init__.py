"""The Claude Code skill shipped with the package."""
