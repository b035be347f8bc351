"""MuJoCo Playground's DM Control Suite tasks as rljax envs: ``envs.make("playground/<Name>")``.

    pip install -e ".[playground]"           # PyPI package ``playground`` (module ``mujoco_playground``)
    env = envs.make("playground/CartpoleBalance")
    env = envs.make("playground/PendulumSwingup", action_repeat=4)
    env = envs.make("playground/CheetahRun", config_overrides={"episode_length": 500})

Only the DM Control Suite tasks are offered: their MJCF models ship inside the
package, so they load offline. Playground's locomotion and manipulation tasks
clone MuJoCo Menagerie from GitHub when loaded; asking for one raises a
``ValueError`` (nothing here ever downloads). Physics is MJX's pure-JAX
implementation (``impl="jax"``), never Warp, whatever the package's default.

The adapter (:class:`PlaygroundEnv`) follows rljax's env protocol
(:mod:`rljax.env`):

- observations are flat float32 vectors (a dict observation would be
  concatenated in sorted key order; the DM Control tasks' are already flat);
- actions are float vectors in ``[-1, 1]``: they are clipped there and mapped
  affinely onto the actuators' ``ctrlrange`` (which is ``[-1, 1]`` for every
  DM Control task, so the map is the identity), so the reward sees the action
  the physics ran;
- the MJX ``Data`` is the ``pipeline_state``; playground's ``info`` (its
  ``rng``) and ``metrics`` (reward terms) pass through;
- ``done`` is playground's termination only (the DM Control tasks terminate
  only when the physics produces a NaN); the adapter never truncates: the
  time limit is rljax's ``EpisodeWrapper``'s, ``default_episode_length`` =
  the task config's ``episode_length`` (1000 control steps for every task)
  divided by ``action_repeat``, rounded up, as brax's ``EpisodeWrapper``
  counts it;
- ``fresh_reset``: a playground reset is one ``mjx.forward`` (about one
  physics substep), while a step is ``n_substeps * action_repeat`` substeps.
  With ``fresh_reset=True`` the auto-reset wrapper runs a reset for every env
  on every step, so the adapter asks for fresh resets only when that costs at
  most a quarter of a step (``n_substeps * action_repeat >= 4``, e.g.
  Walker, Finger, Hopper, BallInCup, Swimmer, Fish, Humanoid, Reacher) and
  otherwise reuses the first initial states, as playground's own training
  wrapper does by default (Cartpole, Acrobot, Cheetah, PointMass, Pendulum).
  Set ``env.fresh_reset`` to override it.

Importing this module does not import ``mujoco_playground``; building an env does.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rljax.env import Env, State

PREFIX = "playground/"
INSTALL_HINT = 'pip install -e ".[playground]"  (PyPI package playground==0.2.0)'

# ``mujoco_playground.dm_control_suite.ALL_ENVS`` of playground 0.2.0 (tests
# check it against the installed package). Listed statically so that
# ``envs.names()`` never imports playground.
DM_CONTROL_SUITE = (
    "AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance", "CartpoleBalanceSparse",
    "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun", "FingerSpin", "FingerTurnEasy", "FingerTurnHard",
    "FishSwim", "HopperHop", "HopperStand", "HumanoidStand", "HumanoidWalk", "HumanoidRun", "PendulumSwingup",
    "PointMass", "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun", "WalkerStand", "WalkerWalk",
)
# Playground 0.2.0's locomotion and manipulation tasks: their models come from
# MuJoCo Menagerie, which playground git-clones on first load. Not offered.
NEEDS_MENAGERIE = (
    "ApolloJoystickFlatTerrain", "BarkourJoystick", "BerkeleyHumanoidJoystickFlatTerrain",
    "BerkeleyHumanoidJoystickRoughTerrain", "G1JoystickFlatTerrain", "G1JoystickRoughTerrain",
    "Go1JoystickFlatTerrain", "Go1JoystickRoughTerrain", "Go1Getup", "Go1Handstand", "Go1Footstand",
    "H1InplaceGaitTracking", "H1JoystickGaitTracking", "Op3Joystick", "SpotFlatTerrainJoystick", "SpotGetup",
    "SpotJoystickGaitTracking", "T1JoystickFlatTerrain", "T1JoystickRoughTerrain",
    "AlohaHandOver", "AlohaSinglePegInsertion", "PandaPickCube", "PandaPickCubeOrientation",
    "PandaPickCubeCartesian", "PandaOpenCabinet", "PandaRobotiqPushCube", "LeapCubeReorient",
    "LeapCubeRotateZAxis", "AeroCubeRotateZAxis",
)
# Config keys the adapter owns: physics implementation and vision (pixels,
# Madrona/Warp rendering) are fixed; ``action_repeat`` in playground's config
# is read only by its training scripts, so it is this adapter's kwarg instead.
_FIXED_CONFIG = {"impl": "jax", "vision": False}
# A reset costs about one physics substep; fresh resets when that is at most
# a quarter of a step.
_FRESH_RESET_MIN_SUBSTEPS = 4


def offline_names() -> list[str]:
    """``playground/<Name>`` for every DM Control Suite task."""
    return [PREFIX + n for n in DM_CONTROL_SUITE]


def unknown_name_error(name: str) -> ValueError:
    """The error for a ``playground/...`` name that is not an offline DM Control Suite task."""
    short = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if short in NEEDS_MENAGERIE:
        return ValueError(
            f"env {name!r}: playground's {short} needs MuJoCo Menagerie assets, which playground downloads "
            f"(git clone) when the task is loaded; rljax offers only the offline DM Control Suite tasks: "
            f"{offline_names()}")
    return ValueError(f"unknown env {name!r}; the playground envs are the offline DM Control Suite tasks: "
                      f"{offline_names()}")


def _import_suite():
    try:
        from mujoco_playground._src import dm_control_suite
    except ImportError as e:
        raise ImportError(f"the playground/* envs need MuJoCo Playground: {INSTALL_HINT}") from e
    return dm_control_suite


def _flat_keys(tree: Mapping, prefix: str = "") -> list[str]:
    keys = []
    for k, v in tree.items():
        keys += _flat_keys(v, f"{prefix}{k}.") if isinstance(v, Mapping) else [prefix + k]
    return keys


def _flatten_obs(obs: Any) -> jax.Array:
    if isinstance(obs, Mapping):
        obs = jnp.concatenate([jnp.ravel(obs[k]) for k in sorted(obs)])
    return jnp.asarray(obs, jnp.float32)


class PlaygroundEnv(Env):
    """A MuJoCo Playground DM Control Suite task on rljax's env protocol (see the module docstring).

    Args:
      task: a DM Control Suite task name (``"CartpoleBalance"``, ...).
      action_repeat: control steps per env step (the action is held, rewards
        summed); the time limit shrinks accordingly.
      config_overrides: flattened keys of the task's playground config
        (``episode_length``, ``ctrl_dt``, ``sim_dt``, ``njmax``, ...), as
        playground's ``load(..., config_overrides=...)`` takes them; ``impl``,
        ``vision``, ``vision_config.*`` and ``action_repeat`` are not accepted.
    """

    discrete_actions = False

    def __init__(self, task: str, action_repeat: int = 1, config_overrides: Mapping[str, Any] | None = None):
        name = PREFIX + task
        if task not in DM_CONTROL_SUITE:
            raise unknown_name_error(name)
        if isinstance(action_repeat, bool) or not isinstance(action_repeat, (int, np.integer)) or action_repeat < 1:
            raise ValueError(f"env {name!r}: action_repeat={action_repeat!r}; must be an int >= 1")
        suite = _import_suite()
        config = suite.get_default_config(task)
        overrides = dict(config_overrides or {})
        valid = sorted(k for k in _flat_keys(config.to_dict())
                       if k not in _FIXED_CONFIG and k != "action_repeat" and not k.startswith("vision_config."))
        bad = sorted(set(overrides) - set(valid))
        if bad:
            raise ValueError(f"env {name!r}: config_overrides {bad} not accepted; valid keys: {valid} "
                             f"(impl='jax' and vision=False are fixed; use the action_repeat kwarg)")
        try:
            self._env = suite.load(task, config_overrides={**overrides, **_FIXED_CONFIG})
        except (TypeError, KeyError) as e:
            raise ValueError(f"env {name!r}: bad config_overrides {overrides}: {e}") from e
        self.task = task
        self.action_repeat = int(action_repeat)
        self.config = self._env._config  # the resolved playground config (locked)
        self.default_episode_length = -(-int(self.config.episode_length) // self.action_repeat)
        self.fresh_reset = self._env.n_substeps * self.action_repeat >= _FRESH_RESET_MIN_SUBSTEPS
        model = self._env.mj_model
        lo, hi = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
        limited = model.actuator_ctrllimited.astype(bool)
        # [-1, 1] -> ctrlrange (identity for [-1, 1]); unlimited actuators take the action as is.
        self._ctrl_scale = jnp.asarray(np.where(limited, (hi - lo) / 2, 1.0), jnp.float32)
        self._ctrl_shift = jnp.asarray(np.where(limited, (hi + lo) / 2, 0.0), jnp.float32)
        self._obs_size = int(np.prod(jax.eval_shape(self.reset, jax.random.key(0)).obs.shape))

    @property
    def unwrapped_playground(self):
        """The wrapped ``mujoco_playground`` env (for rendering: ``.render``, ``.mj_model``)."""
        return self._env

    @property
    def observation_size(self) -> int:
        return self._obs_size

    @property
    def action_size(self) -> int:
        return int(self._env.action_size)

    @property
    def backend(self) -> str:
        return "mjx"

    @property
    def dt(self) -> float:
        """Seconds of simulated time per env step."""
        return float(self._env.dt) * self.action_repeat

    def reset(self, rng: jax.Array) -> State:
        s = self._env.reset(rng)
        return State(pipeline_state=s.data, obs=_flatten_obs(s.obs), reward=jnp.asarray(s.reward, jnp.float32),
                     done=jnp.asarray(s.done, jnp.float32), metrics=dict(s.metrics), info=dict(s.info))

    def step(self, state: State, action: jax.Array) -> State:
        from mujoco_playground._src import mjx_env

        ctrl = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0) * self._ctrl_scale + self._ctrl_shift
        # Playground writes reward terms into the incoming metrics dict; hand it a copy.
        inner = mjx_env.State(data=state.pipeline_state, obs=state.obs, reward=state.reward, done=state.done,
                              metrics=dict(state.metrics), info=dict(state.info))
        if self.action_repeat == 1:
            out = self._env.step(inner, ctrl)
            reward = out.reward
        else:
            def one(s, _):
                s = self._env.step(s.replace(metrics=dict(s.metrics)), ctrl)
                return s, s.reward

            out, rewards = jax.lax.scan(one, inner, None, length=self.action_repeat)
            reward = rewards.sum()
        return State(pipeline_state=out.data, obs=_flatten_obs(out.obs), reward=jnp.asarray(reward, jnp.float32),
                     done=jnp.asarray(out.done, jnp.float32), metrics=dict(out.metrics), info=dict(out.info))


def make(task: str, action_repeat: int = 1, config_overrides: Mapping[str, Any] | None = None) -> PlaygroundEnv:
    """``PlaygroundEnv(task, ...)``; the factory behind ``envs.make("playground/<task>")``."""
    return PlaygroundEnv(task, action_repeat=action_repeat, config_overrides=config_overrides)


def register_all(register) -> None:
    """Register every offline DM Control Suite task with ``envs.registry.register`` (imports nothing)."""
    for task in DM_CONTROL_SUITE:
        register(PREFIX + task, functools.partial(make, task))
