"""fborn.io (see DESIGN.md)."""
