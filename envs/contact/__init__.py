"""Contact-rich tasks on the differentiable solver ``rljax.contact``.

    env = envs.make("contact/push")          # box to a goal against friction
    env = envs.make("contact/hop")           # box with a leg hops forward (intermittent contact)
    env = envs.make("contact/arm_push")      # two-link arm on revolute joints pushes a box to a goal
    env = envs.make("contact/hopper")        # planar one-legged hopper (planar joint + 3 hinges) hops forward

All follow brax's ``Env``/``State`` protocol with float32 observations,
rewards and state, are differentiable end to end (``jax.grad`` of a rollout's
return w.r.t. actions or policy parameters), and run the float64 solver from
float32 programs through the solver's bridge (:mod:`rljax.contact.bridge`).
"""

from envs.contact.arm_push import ArmPush
from envs.contact.hop import Hop
from envs.contact.hopper import Hopper
from envs.contact.push import Push

TASKS = {"contact/push": Push, "contact/hop": Hop, "contact/arm_push": ArmPush,
         "contact/hopper": Hopper}


def register_all(register) -> None:
    """Register every contact task with ``envs.registry.register``."""
    for name, factory in TASKS.items():
        register(name, factory)


__all__ = ["Push", "Hop", "ArmPush", "Hopper", "TASKS", "register_all"]
