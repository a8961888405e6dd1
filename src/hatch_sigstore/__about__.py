"""The version of hatch-sigstore (read by hatchling for the build and by the CLI)."""

__version__ = "0.1.0"
