"""fborn.lowering (see DESIGN.md)."""
