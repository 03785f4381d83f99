"""``fborn.scipy``: scipy-like functions built on fborn.numpy."""
