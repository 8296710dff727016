"""The `badges` command (commands.py) and its `status` view of the workers."""
