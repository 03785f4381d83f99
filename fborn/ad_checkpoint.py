"""``fborn.ad_checkpoint``: checkpoint policies, ``checkpoint_name`` and residual inspection."""

from fborn.transforms.checkpoint import (
    checkpoint,
    checkpoint_dots,
    checkpoint_name,
    dots_saveable,
    everything_saveable,
    nothing_saveable,
    print_saved_residuals,
    remat,
    save_any_names_but_these,
    save_only_these_names,
    saved_residuals,
)

__all__ = [
    "checkpoint", "checkpoint_dots", "checkpoint_name", "dots_saveable", "everything_saveable",
    "nothing_saveable", "print_saved_residuals", "remat", "save_any_names_but_these",
    "save_only_these_names", "saved_residuals",
]
