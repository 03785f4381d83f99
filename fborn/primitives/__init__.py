"""Every primitive, grouped by family; each defines its rules side by side (DESIGN.md)."""
