"""The spine every training stage shares: the config base (every key and its default), state,
checkpoints, sharding, optimizers, metrics, multi-host set-up, host memory, and restoring a
finished run."""
