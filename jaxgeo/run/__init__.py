"""The spine every training stage shares: state, checkpoints, sharding, optimizers, metrics,
multi-host set-up, host memory, and restoring a finished run."""
