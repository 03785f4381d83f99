"""fborn.transforms (see DESIGN.md)."""
