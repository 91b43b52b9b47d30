"""The old name of `seed_demo` (demo/management/commands/seed_demo.py), kept so habits still work."""
from demo.management.commands.seed_demo import Command  # noqa: F401
