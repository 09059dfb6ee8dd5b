"""Where a job runs: its own module, so that the BCNN's scripts need not import the LSTM training code (an
edit there would rerun every BCNN fit, as each rule's code inputs are its script's import closure)."""

from __future__ import annotations

import logging
import os

import torch


def resolve_device(name: str, log: logging.Logger | None = None, key: str = "models.device") -> torch.device:
    """The configured device; asking for CUDA without a visible GPU is an error, never a silent CPU run.

    With `log`, one line says the device used and the GPUs the scheduler gave the job (CUDA_VISIBLE_DEVICES,
    set by SLURM for a job submitted with --gpus), so a job log shows both.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"{key} is 'cuda' but PyTorch sees no GPU (CUDA_VISIBLE_DEVICES={visible}, "
            f"torch {torch.__version__}); run on a GPU node or set {key}: cpu")
    if log is not None:
        log.info("device %s; CUDA_VISIBLE_DEVICES=%s; GPUs seen by PyTorch: %d", name, visible,
                 torch.cuda.device_count())
    return torch.device(name)
