"""torch.distributed's availability checks: fibril has no process groups, so
distributed training is not available, and code that asks first takes its single-process
path."""


def is_available():
    return False


def is_initialized():
    return False
