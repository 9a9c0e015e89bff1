"""vmap's (and jacfwd's) randomness argument. fibril's random ops draw from the default
generator, whose state advances with every draw: 'error' is checked by comparing it after
func with before."""

from ..random import get_rng_state

RANDOMNESS = ("error", "different", "same")


def check_randomness_arg(randomness):
    if randomness not in RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. "
                           f"Got {randomness}")


def rng_state():
    """The default generator's state, as a list of its bytes."""
    return get_rng_state().tolist()


def check_no_randomness(state):
    """randomness='error': func must have left the default generator at state (rng_state()'s)."""
    if rng_state() != state:
        raise RuntimeError("vmap: called random operation while in randomness error mode. Please either use the "
                           "'same' or 'different' randomness flags on vmap or perform the randomness operation out "
                           "of vmap")
