"""Third-party notices a selfspec user can do nothing about, silenced in this one place.

Each entry names the exact message *and* the module (or logger) that emits it, so the same words
from anywhere else, and every other warning, still reach the user. Causes that are selfspec's own
(an empty validation loader, a shared checkpoint folder) are fixed where they arise, not listed
here. ``tests/test_quiet_run.py`` runs the main job's steps and fails on any warning not listed.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class Notice:
    """One known notice.

    Args:
        message: Regular expression matched against the start of the message.
        source: The module a ``warnings.warn`` is attributed to, or the logger that logs it.
        why: Why the user can ignore it (kept here, next to the filter, for the next reader).
        category: The warning class (``warnings`` notices only; None: a log record).
    """

    message: str
    source: str
    why: str
    category: type[Warning] | None = None


WARNINGS = (
    Notice(
        r"`is_gradient_checkpointing` is deprecated",
        "transformers.modeling_utils",
        "peft's prepare_model_for_kbit_training reads the old attribute; transformers renames it in v6",
        FutureWarning,
    ),
    Notice(
        r"'set_vital' is deprecated",
        "torchdata.stateful_dataloader.stateful_dataloader",
        "torchdata's StatefulDataLoader calls a torch function torch deprecated",
        UserWarning,
    ),
    Notice(
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        "lightning.pytorch.utilities._pytree",
        "Lightning's own use of a torch pytree API; nothing selfspec passes",
        FutureWarning,
    ),
    Notice(
        r"Experiment logs directory .* exists and is not empty",
        "lightning.fabric.loggers.csv_logs",
        "selfspec puts a run's config and its TensorBoard and CSV logs in one folder on purpose "
        "(cli._share_log_version, the rounds driver's step folders); the CSV logger only replaces its own metrics.csv",
        UserWarning,
    ),
    Notice(
        r"The dirpath has changed from",
        "lightning.pytorch.callbacks.model_checkpoint",
        "a run resumed from another run's checkpoint file writes its checkpoints in its own folder "
        "(one folder per run); Lightning only drops the earlier folder's top-k bookkeeping",
        UserWarning,
    ),
    *(
        Notice(
            r"bitsandbytes::gemv_4bit: an autograd kernel was not registered",
            module,  # a C++ warning: attributed to the Python frame that called the op (not reproduced here)
            "bitsandbytes' 4-bit inference kernel; the base weights are frozen and LoRA's gradients flow "
            "around it (the QLoRA training tests check that the adapter learns and the base does not change)",
            UserWarning,
        )
        for module in ("torch._ops", "bitsandbytes.functional")
    ),
)

LOG_RECORDS = (
    Notice(
        r"Failed to load CPU gemm_4bit_forward from kernels-community",
        "bitsandbytes.backends.cpu.ops",
        "an optional faster CPU kernel fetched from the Hub; bitsandbytes uses its built-in one, "
        "results are the same (it is not a missing dependency of selfspec)",
    ),
    Notice(
        r"`past_key_values`/`cache_params` are deprecated",
        "transformers.utils.generic",
        "transformers 5 renamed the cache field; the old name still works until v6",
    ),
    Notice(r"💡 Tip", "lightning.pytorch.utilities.rank_zero", "Lightning advertises its cloud products"),
    # Lightning's hardware census, once per trainer (8 times in the rounds driver's log). A GPU that is
    # there (used or not) is still reported; "none" is not news: selfspec names its device and dtype.
    Notice(r"GPU available: False, used: False", "lightning.pytorch.utilities.rank_zero", "no GPU, none used"),
    Notice(r"TPU available: False", "lightning.pytorch.utilities.rank_zero", "no TPU, none used"),
    Notice(
        r"`Trainer\(limit_val_batches=1\)` was configured",
        "lightning.pytorch.utilities.rank_zero",
        "the rounds driver sets it for its evaluation steps (the held-out seed loss needs one batch), not the user",
    ),
)


class _DropNotice(logging.Filter):
    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(str(record.msg))  # the unformatted message: no %-formatting for a drop


def silence_known_noise() -> None:
    """Install the filters above (idempotent); console scripts call it before importing libraries."""
    for notice in WARNINGS:
        assert notice.category is not None
        module = re.escape(notice.source) + "$"  # warnings matches from the start; "$" keeps submodules out
        warnings.filterwarnings("ignore", message=notice.message, category=notice.category, module=module)
    for notice in LOG_RECORDS:
        logger = logging.getLogger(notice.source)  # filters apply to records logged on this very logger
        if not any(isinstance(f, _DropNotice) and f.pattern.pattern == notice.message for f in logger.filters):
            logger.addFilter(_DropNotice(notice.message))


def is_known(message: str, source: str) -> bool:
    """Whether a warning (by its module) or a log record (by its logger) is one of the notices above."""
    return any(n.source == source and re.match(n.message, message) for n in (*WARNINGS, *LOG_RECORDS))
