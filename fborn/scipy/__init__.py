"""``fborn.scipy``: scipy-like functions built on fborn.numpy."""

from fborn.scipy import special

__all__ = ["special"]
