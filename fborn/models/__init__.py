"""fborn.models (see DESIGN.md)."""
