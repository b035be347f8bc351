"""Training over several devices with JAX's own sharding: a mesh of ``seeds`` x ``data``.

- ``seeds``: the runs (seeds x swept values) are the leading axis of every
  leaf of the runner's state; that axis is split over the ``seeds`` devices.
  Runs never talk to each other, so this is free of communication and works
  for every agent.
- ``data``: within one run, the envs (and an off-policy agent's replay) are
  split over the ``data`` devices. Each device steps ``num_envs / data``
  envs, collects its share of the batch, and keeps the same copy of
  everything else (parameters, optimiser state, normaliser and critic
  statistics). Whatever depends on the whole batch is reduced across the
  ``data`` axis: gradients (the mean of per-device gradients of per-device
  means is the gradient of the whole batch's mean), observation statistics,
  batch statistics inside losses (PPO's advantage normalisation, DSAC-T's
  running std) and metrics.

Agents take the axis as a static ``axis_name`` (``None``: one device, and the
program is exactly today's) and call :func:`reduce_mean` (and
:func:`reduce_nanmean`, :func:`reduce_all`) and :func:`shard_key`; parts that
keep batch statistics (a critic head, an entropy regulator) declare an
``axis_name`` field that :func:`bind_axis` sets. Which fields of each
``TrainState`` are per device lives here (:data:`PER_SHARD_FIELDS`); so does
the mesh. A run's programs:

    layout = parallel.Layout(seeds=2, data=2)                 # 4 devices
    state = parallel.init_program(agents.ppo, env, cfg, runs, layout)(cfg, keys)
    state, metrics = parallel.train_program(agents.ppo, env, cfg, runs, 10, layout)(cfg, state)

Per-device leaves get an axis of size ``data`` after the runs axis
(``[runs, data, ...]``); with ``data == 1`` the state is laid out as on one
device. ``emulate=True`` builds the same program on one device, the ``data``
axis a ``jax.vmap`` with the same axis name: the reference the mesh is tested
against, and a static check that every replicated leaf was reduced (``vmap``
refuses to return a leaf that still differs between shards as replicated).

The mesh programs use ``shard_map(check_vma=False)``: gradients of the
replicated parameters are then per device, as under ``vmap``, and the agent
averages them itself (with ``check_vma=True`` JAX would sum them implicitly
and an explicit mean would count them ``data`` times).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

SEEDS = "seeds"
DATA = "data"

# Fields of each TrainState that hold one shard per data device (everything else is replicated over
# ``data``), by the class's qualified name; subclasses inherit their base's rule (DSRL's state is SAC's).
PER_SHARD_FIELDS: dict[str, tuple[str, ...]] = {
    "rljax.agents.ppo.train.TrainState": ("env_state",),
    "rljax.agents.sac.train.TrainState": ("env_state", "replay"),
    "rljax.agents.apg.train.TrainState": ("env_state",),
    "rljax.agents.shac.train.TrainState": ("env_state",),
}

# Config sizes that each data device takes an equal share of, when a Config has them.
_SPLIT_SIZES = ("num_envs", "minibatch_size", "batch_size", "buffer_size")


# ---- the helpers agents call (identities when axis_name is None) ----

def axis_size(axis_name: str | None) -> int:
    """Devices along ``axis_name`` (static); 1 when it is None."""
    return 1 if axis_name is None else jax.lax.axis_size(axis_name)


def local_size(n: int, axis_name: str | None, what: str = "size") -> int:
    """This device's equal share of ``n`` items split over ``axis_name``."""
    shards = axis_size(axis_name)
    if n % shards:
        raise ValueError(f"{what}={n} does not split evenly over {shards} {axis_name!r} devices")
    return n // shards


def shard_key(key: jax.Array, axis_name: str | None) -> jax.Array:
    """A key of this device's own along ``axis_name`` (``fold_in`` of its index); ``key`` itself when None.

    For the randomness of a device's share of the batch (its envs' actions and resets, its minibatch
    shuffles, its replay samples); keys the replicated state draws from stay unsharded."""
    return key if axis_name is None else jax.random.fold_in(key, jax.lax.axis_index(axis_name))


def reduce_mean(tree: Any, axis_name: str | None) -> Any:
    """Mean over the devices of ``axis_name`` of every leaf (gradients, batch means, metrics); identity when None.

    Per-device means of equal-sized shards average to the whole batch's mean, and so do their gradients."""
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def reduce_nanmean(x: jax.Array, axis_name: str | None) -> jax.Array:
    """``nanmean`` of ``x`` over every device's shard (NaN when all are NaN); ``jnp.nanmean(x)`` when None."""
    if axis_name is None:
        return jnp.nanmean(x)
    valid = ~jnp.isnan(x)
    total = jax.lax.psum(jnp.sum(jnp.where(valid, x, 0.0)), axis_name)
    return total / jax.lax.psum(jnp.sum(valid), axis_name)


def reduce_all(flag: jax.Array, axis_name: str | None) -> jax.Array:
    """A scalar bool true on every device when it is true on all of them; ``flag`` when None."""
    return flag if axis_name is None else jax.lax.pmin(flag.astype(jnp.int32), axis_name) > 0


def bind_axis(part: Any, axis_name: str | None) -> Any:
    """``part`` with its ``axis_name`` field set, for parts (critic heads, entropy regulators) that keep batch
    statistics and declare one; other parts are returned as they are."""
    if axis_name is None or not dataclasses.is_dataclass(part):
        return part
    if "axis_name" not in {f.name for f in dataclasses.fields(part)}:
        return part
    return dataclasses.replace(part, axis_name=axis_name)


# ---- layouts and meshes ----

@dataclasses.dataclass(frozen=True)
class Layout:
    """How a run's devices are used: ``seeds`` devices over the runs, ``data`` devices within each run."""

    seeds: int = 1
    data: int = 1

    def __post_init__(self) -> None:
        for name in ("seeds", "data"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Layout.{name}={value!r}: must be an int >= 1")

    @classmethod
    def parse(cls, text: str) -> "Layout":
        """``"SEEDSxDATA"``, e.g. ``"2x4"``."""
        parts = str(text).lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"mesh {text!r}: expected SEEDSxDATA, e.g. 2x2")
        return cls(int(parts[0]), int(parts[1]))

    @property
    def devices(self) -> int:
        return self.seeds * self.data

    @property
    def axis_name(self) -> str | None:
        """The data axis the agents reduce over; None without data parallelism."""
        return DATA if self.data > 1 else None

    def mesh(self, devices: Sequence[Any] | None = None) -> Mesh:
        """A ``(seeds, data)`` mesh over the first ``self.devices`` of ``devices`` (default ``jax.devices()``)."""
        devices = list(jax.devices() if devices is None else devices)
        if len(devices) < self.devices:
            raise ValueError(f"mesh {self.seeds}x{self.data} needs {self.devices} devices; "
                             f"{len(devices)} are available")
        return jax.make_mesh((self.seeds, self.data), (SEEDS, DATA), axis_types=(AxisType.Auto,) * 2,
                             devices=devices[:self.devices])

    def __str__(self) -> str:
        return f"{self.seeds}x{self.data}"


def layout_for(devices: int | str | None, mesh: str | None, runs: int) -> Layout | None:
    """The layout of a run option pair ``--devices N|all`` and ``--mesh SEEDSxDATA``; None when neither is given.

    ``mesh`` alone uses that many devices; ``devices`` alone puts as many as
    divide ``runs`` on the seeds axis (no communication) and the rest on data."""
    if devices is None and mesh is None:
        return None
    available = len(jax.devices())
    count = available if devices in ("all", None) and mesh is None else None
    if devices not in (None, "all"):
        if not str(devices).isdigit():
            raise ValueError(f"devices={devices!r}: expected a number of devices or 'all'")
        count = int(devices)
        if not 1 <= count <= available:
            raise ValueError(f"devices={devices}: {available} device(s) available")
    if mesh is not None:
        layout = Layout.parse(mesh)
        wanted = available if devices == "all" else count
        if wanted is not None and layout.devices != wanted:
            raise ValueError(f"mesh {mesh} uses {layout.devices} devices but devices={devices} asks for {wanted}")
        if layout.devices > available:
            raise ValueError(f"mesh {mesh} needs {layout.devices} devices; {available} device(s) available")
        return layout
    seeds = math.gcd(count, runs)
    return Layout(seeds, count // seeds)


def supports_data(agent: Any) -> bool:
    """Whether ``agent``'s ``init`` and ``update`` take an ``axis_name`` (the data axis)."""
    return all("axis_name" in inspect.signature(getattr(agent, name)).parameters for name in ("init", "update"))


def check(agent: Any, cfg: Any, runs: int, layout: Layout) -> None:
    """Raise ``ValueError`` before anything compiles when ``layout`` cannot run ``runs`` runs of ``agent``."""
    if runs % layout.seeds:
        raise ValueError(f"mesh {layout}: {runs} runs do not split over {layout.seeds} seeds devices")
    if layout.data == 1:
        return
    if not supports_data(agent):
        raise ValueError(f"mesh {layout}: {getattr(agent, '__name__', agent)} does not support data parallelism "
                         f"(its init/update take no axis_name); use a mesh of {layout.devices}x1")
    for name in _SPLIT_SIZES:
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value % layout.data:
            raise ValueError(f"mesh {layout}: {type(cfg).__qualname__}.{name}={value} does not split evenly over "
                             f"{layout.data} data devices")


def per_shard_fields(state: Any) -> tuple[str, ...]:
    """The fields of ``state`` (a TrainState) that hold one shard per data device (:data:`PER_SHARD_FIELDS`)."""
    for cls in type(state).__mro__:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in PER_SHARD_FIELDS:
            return PER_SHARD_FIELDS[name]
    raise TypeError(f"rljax.parallel has no sharding rule for {type(state).__module__}.{type(state).__qualname__}; "
                    f"add the fields that hold one shard per device (envs, replay) to PER_SHARD_FIELDS")


def _has_rule(tree: Any) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" in PER_SHARD_FIELDS for c in type(tree).__mro__)


def _by_field(state: Any, sharded: Any, replicated: Any) -> Any:
    """A tree shaped like ``state`` with ``sharded`` at the leaves of its per-shard fields, else ``replicated``."""
    fields = per_shard_fields(state)
    spec = {f.name: sharded if f.name in fields else replicated for f in dataclasses.fields(state)}
    return state.replace(**{name: jax.tree.map(lambda _, s=s: s, getattr(state, name)) for name, s in spec.items()})


def state_specs(state: Any, layout: Layout) -> Any:
    """The ``PartitionSpec`` of every leaf of a runs-leading state under ``layout``."""
    if layout.data == 1:
        return jax.tree.map(lambda _: P(SEEDS), state)
    return _by_field(state, P(SEEDS, DATA), P(SEEDS))


def shard_runs(tree: Any, layout: Layout, mesh: Mesh | None = None) -> Any:
    """Place a runs-leading tree (a restored state, keys, a stacked Config) on the mesh: runs over ``seeds``,
    per-shard fields of a TrainState also over ``data``."""
    mesh = mesh or layout.mesh()
    specs = state_specs(tree, layout) if layout.data > 1 and _has_rule(tree) else jax.tree.map(lambda _: P(SEEDS), tree)
    return jax.device_put(tree, jax.tree.map(lambda s: NamedSharding(mesh, s), specs))


# ---- programs ----

def config_axis(cfg: Any, runs: int) -> int | None:
    """``0`` when ``cfg`` is stacked with one entry per run, ``None`` when every run shares it."""
    leaves = jax.tree.leaves(cfg)
    if leaves and np.ndim(leaves[0]) == 1:
        if np.shape(leaves[0])[0] != runs:
            raise ValueError(f"stacked config has {np.shape(leaves[0])[0]} entries for {runs} runs")
        return 0
    return None


def _over_runs(fn: Callable[[Any, Any], Any], cfg_axis: int | None, runs: int) -> Callable[[Any, Any], Any]:
    """``fn(cfg, x)`` of one run over the leading run axis (unbatched for a single run, as the runner does)."""
    if runs > 1:
        return jax.vmap(fn, in_axes=(cfg_axis, 0))

    def single(c: Any, x: Any) -> Any:
        c = jax.tree.map(lambda v: v[0], c) if cfg_axis == 0 else c
        return jax.tree.map(lambda v: jnp.asarray(v)[None], fn(c, jax.tree.map(lambda v: v[0], x)))

    return single


def _split(state: Any) -> tuple[Any, dict[str, Any]]:
    """``state`` -> (the state with its per-shard fields set to None, ``{field: per-shard subtree}``)."""
    fields = per_shard_fields(state)
    return state.replace(**{f: None for f in fields}), {f: getattr(state, f) for f in fields}


def _join(replicated: Any, sharded: dict[str, Any]) -> Any:
    return replicated.replace(**sharded)


def _emulated(fn: Callable[[Any, Any], Any], layout: Layout, state_in: bool) -> Callable[[Any, Any], Any]:
    """``fn(cfg, x)`` of one shard as a function of one run: a ``vmap`` named ``data`` over the per-shard leaves
    (a leading ``[data]`` axis); ``x`` is a state (``state_in``) or a key that every shard gets.
    ``fn`` returns a state (init) or ``(state, metrics)`` (updates, ``state_in``)."""

    def shard(c: Any, replicated: Any, sharded: Any) -> Any:
        out = fn(c, _join(replicated, sharded) if state_in else replicated)
        state, rest = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
        return (*_split(state), *rest)

    def run(c: Any, x: Any) -> Any:
        replicated, sharded = _split(x) if state_in else (x, None)
        try:
            out = jax.vmap(shard, in_axes=(None, None, 0), out_axes=(None, 0, None) if state_in else (None, 0),
                           axis_name=DATA, axis_size=layout.data)(c, replicated, sharded)
        except ValueError as e:
            if "out_axes is None" not in str(e):
                raise
            raise ValueError(f"{e}: a replicated TrainState field or a metric differs between the data shards "
                             f"(a gradient, statistic or metric that the agent does not reduce with "
                             f"rljax.parallel.reduce_mean)") from None
        state = _join(out[0], out[1])
        return (state, *out[2:]) if len(out) > 2 else state

    return run


def _mesh_program(body: Callable[[Any, Any], Any], cfg: Any, runs: int, mesh: Mesh, in_specs: Any,
                  out_specs: Any) -> Callable[[Any, Any], Any]:
    """``jit`` of ``shard_map`` of ``body(cfg_block, x_block)`` over ``mesh``."""
    cfg_spec = P(SEEDS) if config_axis(cfg, runs) == 0 else P()
    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=(cfg_spec, in_specs), out_specs=out_specs,
                                 check_vma=False))


def init_program(agent: Any, env: Any, cfg: Any, runs: int, layout: Layout, mesh: Mesh | None = None, *,
                 emulate: bool = False) -> Callable[[Any, jax.Array], Any]:
    """``(cfg, keys [runs]) -> state``: ``agent.init`` of every run under ``layout``, jitted (compiled on first call).

    The mirror of ``rljax.runner.chunks.init_runs``. The state comes back sharded over the mesh: runs over
    ``seeds``; with ``data > 1``, per-shard fields ``[runs, data, ...]`` also over ``data``. ``emulate``: the
    same program on one device, the data axis a ``vmap``."""
    check(agent, cfg, runs, layout)
    cfg_axis = config_axis(cfg, runs)
    axis = layout.axis_name

    def one_shard(c: Any, key: jax.Array) -> Any:
        return agent.init(env, c, key, axis_name=axis) if axis else agent.init(env, c, key)

    if emulate or layout.devices == 1:
        one_run = _emulated(one_shard, layout, state_in=False) if axis else one_shard
        return jax.jit(_over_runs(one_run, cfg_axis, runs))
    mesh = mesh or layout.mesh()
    local_runs = runs // layout.seeds
    if not axis:
        return _mesh_program(_over_runs(one_shard, cfg_axis, local_runs), cfg, runs, mesh, P(SEEDS), P(SEEDS))

    def one_device(c: Any, key: jax.Array) -> Any:
        replicated, sharded = _split(one_shard(c, key))
        return replicated, jax.tree.map(lambda v: v[None], sharded)

    program = _mesh_program(_over_runs(one_device, cfg_axis, local_runs), cfg, runs, mesh, P(SEEDS),
                            (P(SEEDS), P(SEEDS, DATA)))
    return jax.jit(lambda c, keys: _join(*program(c, keys)))


def train_program(agent: Any, env: Any, cfg: Any, runs: int, size: int, layout: Layout, mesh: Mesh | None = None,
                  *, emulate: bool = False) -> Callable[[Any, Any], Any]:
    """``(cfg, state) -> (state, metrics [runs, size])``: ``size`` updates of every run under ``layout``, jitted.

    The mirror of ``rljax.runner.chunks.chunk_program`` (``.lower(cfg, state).compile()`` works the same);
    ``state`` as :func:`init_program` returns it."""
    from rljax.training import run_updates

    check(agent, cfg, runs, layout)
    cfg_axis = config_axis(cfg, runs)
    axis = layout.axis_name

    def one_shard(c: Any, state: Any) -> Any:
        if axis:
            return run_updates(lambda s: agent.update(env, c, s, axis_name=axis), state, size)
        return run_updates(lambda s: agent.update(env, c, s), state, size)

    if emulate or layout.devices == 1:
        one_run = _emulated(one_shard, layout, state_in=True) if axis else one_shard
        return jax.jit(_over_runs(one_run, cfg_axis, runs))
    mesh = mesh or layout.mesh()
    local_runs = runs // layout.seeds
    if not axis:
        return _mesh_program(_over_runs(one_shard, cfg_axis, local_runs), cfg, runs, mesh, P(SEEDS),
                             (P(SEEDS), P(SEEDS)))

    def one_device(c: Any, parts: Any) -> Any:
        replicated, sharded = parts
        state, metrics = one_shard(c, _join(replicated, jax.tree.map(lambda v: v[0], sharded)))
        replicated, sharded = _split(state)
        return replicated, jax.tree.map(lambda v: v[None], sharded), metrics

    program = _mesh_program(_over_runs(one_device, cfg_axis, local_runs), cfg, runs, mesh,
                            (P(SEEDS), P(SEEDS, DATA)), (P(SEEDS), P(SEEDS, DATA), P(SEEDS)))

    def split_program(c: Any, state: Any) -> Any:
        replicated, sharded, metrics = program(c, _split(state))
        return _join(replicated, sharded), metrics

    return jax.jit(split_program)
