"""Replays you can watch: one deterministic episode as a self-contained HTML page.

    policy = agents.ppo.make_policy(env, cfg, params, deterministic=True)
    write_replay(env, policy, jax.random.key(0), "runs/ppo/replay.html", title="ppo on cartpole")

The episode runs inside one ``jax.jit`` (a ``lax.scan`` of fixed length; the
state freezes once the env terminates), then only what drawing needs (body
poses, a few numbers) comes to the host. The page draws every body as a
sphere, capsule or convex polygon rotated by its pose, in an orthographic
side view (x-z) and, for 3D scenes, a top view (x-y), with play/pause, a frame
slider and a frame counter. Everything is inline (data, script, style: no
network), so it opens offline. ``replay.html#frame=40`` shows frame 40 at
load, paused, so a headless screenshot of a frame is deterministic.

What is drawn comes from a renderer registered for the env's class (looked
up along the unwrapped env's MRO, by class or by ``"module.QualName"`` so
that this module never imports the env suite): brax physics envs
(``brax/<name>``, any backend, and MuJoCo models in general), MuJoCo
Playground envs, the contact suite (``contact/*``), ``cartpole`` and
``pendulum``. Other envs register one with :func:`register`; envs with nothing
to draw (``bandit/*``) raise ``ValueError``.

For brax envs, :func:`write_replay` also writes brax's own three.js viewer
next to the replay (``<name>.brax.html``). That page loads three.js, lil-gui
and pako from CDNs, so it needs internet; the self-contained replay does not.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rljax.env import Env, episode_length

Policy = Callable[[jax.Array, jax.Array], jax.Array]

__all__ = ["Geom", "Replay", "Renderer", "register", "renderer_for", "rollout", "replay_html", "write_replay",
           "companion_path"]


# -- what a replay is -----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Geom:
    """One drawable shape, in its own frame (its world pose is in :class:`Replay` per frame).

    ``kind``: ``"sphere"`` (``size = (radius,)``), ``"capsule"`` (``size = (radius,
    half_length)``, axis along local z) or ``"hull"`` (the convex hull of
    ``points [K, 3]``: boxes, cylinders, meshes). ``rgba`` in ``[0, 1]``.
    """

    kind: str
    size: tuple[float, ...] = ()
    points: tuple[tuple[float, float, float], ...] = ()
    rgba: tuple[float, float, float, float] = (0.4, 0.33, 0.26, 1.0)
    name: str = ""

    def radius(self) -> float:
        """Radius of a ball around the frame origin that holds the shape (for camera framing)."""
        if self.kind == "sphere":
            return float(self.size[0])
        if self.kind == "capsule":
            return float(self.size[0] + self.size[1])
        return float(np.max(np.linalg.norm(np.asarray(self.points, np.float64), axis=-1))) if self.points else 0.0


@dataclasses.dataclass(frozen=True)
class Replay:
    """An episode on the host, ready to draw.

    ``pos [T, G, 3]`` and ``quat [T, G, 4]`` (scalar-first, local -> world)
    place each of the ``G`` geoms in each of the ``T`` frames (frame 0: after
    reset). ``returns [T]``: return accumulated up to each frame. ``dt``:
    seconds per frame. ``ground``: height ``z`` of a ground plane, or ``None``.
    ``views``: ``"side"`` (x-z, seen from -y) and/or ``"top"`` (x-y, seen from +z).
    """

    geoms: tuple[Geom, ...]
    pos: np.ndarray
    quat: np.ndarray
    returns: np.ndarray
    dt: float
    ground: float | None = 0.0
    views: tuple[str, ...] = ("side", "top")

    @property
    def num_frames(self) -> int:
        return int(self.pos.shape[0])


class Renderer(NamedTuple):
    """How to draw one kind of env.

    ``extract(env, pipeline_state) -> pytree``: the few arrays drawing needs,
    jit-able (it runs inside the rollout's ``scan``). ``replay(env, frames,
    returns [T]) -> Replay``: host-side, with ``frames`` the extracted pytree
    stacked over ``T`` frames (numpy). ``companion(env, frames) -> html``:
    optional second page written next to the replay (brax's own viewer).
    """

    extract: Callable[[Any, Any], Any]
    replay: Callable[[Any, Any, np.ndarray], Replay]
    companion: Callable[[Any, Any], str] | None = None


_RENDERERS: dict[str, Renderer] = {}


def _type_key(env_type: type | str) -> str:
    return env_type if isinstance(env_type, str) else f"{env_type.__module__}.{env_type.__qualname__}"


def register(env_type: type | str, renderer: Renderer) -> None:
    """Draw envs of ``env_type`` (a class, or its ``"module.QualName"``; subclasses too) with ``renderer``."""
    _RENDERERS[_type_key(env_type)] = renderer


def _unwrapped(env: Env) -> Any:
    return getattr(env, "unwrapped", env)


def renderer_for(env: Env) -> Renderer:
    """The renderer registered for ``env`` (its unwrapped class or the nearest base); ``ValueError`` if none."""
    inner = _unwrapped(env)
    for cls in type(inner).__mro__:
        found = _RENDERERS.get(_type_key(cls))
        if found is not None:
            return found
    raise ValueError(
        f"nothing to render for {type(inner).__name__}: no renderer is registered for it or its base classes "
        f"(bandits have no bodies to draw); register one with rljax.render.register")


# -- rollout ----------------------------------------------------------------------------------------------------------


def rollout(env: Env, policy: Policy, key: jax.Array, length: int,
            extract: Callable[[Any], Any]) -> tuple[Any, np.ndarray, int]:
    """One episode of at most ``length`` steps in one compiled program.

    ``policy(obs [1, obs_size], key) -> action [1, ...]`` (batched, as
    :func:`rljax.evaluate.evaluate` calls it). Returns the host copies of
    ``extract(pipeline_state)`` stacked over the ``length + 1`` frames (frame
    0: after reset) and of the accumulated return ``[length + 1]``, and the
    number of steps taken (the step on which the env terminated counts; after
    it the state is frozen, so frames past ``steps + 1`` repeat the last one).
    """
    if length <= 0:
        raise ValueError(f"episode length {length}: must be > 0")

    def program(key: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
        reset_key, run_key = jax.random.split(key)
        state = env.reset(reset_key)

        def one_step(carry, step_key):
            state, ret, alive = carry
            action = policy(state.obs[None], step_key)[0]
            # ``done`` describes the previous transition; clear it so envs that
            # return ``state.replace(...)`` decide termination afresh.
            nstate = env.step(state.replace(done=jnp.zeros_like(state.done)), action)
            # Past the end the state is frozen (and a terminated brax env may go NaN).
            # (``cond``, not ``where``: states may hold typed PRNG keys.)
            state = jax.lax.cond(alive, lambda: nstate, lambda: state)
            ret = ret + jnp.where(alive, nstate.reward, 0.0)
            steps_inc = alive.astype(jnp.int32)
            alive = alive & (nstate.done <= 0)
            return (state, ret, alive), (extract(state.pipeline_state), ret, steps_inc)

        init = (state, jnp.zeros((), jnp.float32), jnp.ones((), bool))
        _, (frames, rets, incs) = jax.lax.scan(one_step, init, jax.random.split(run_key, length))
        first = extract(state.pipeline_state)
        frames = jax.tree.map(lambda f, x: jnp.concatenate([f[None], x]), first, frames)
        return frames, jnp.concatenate([jnp.zeros((1,), jnp.float32), rets]), incs.sum()

    frames, returns, steps = jax.device_get(jax.jit(program)(key))
    return jax.tree.map(np.asarray, frames), np.asarray(returns), int(steps)


def companion_path(path: str) -> str:
    """Where brax's own viewer goes next to a replay: ``x/replay.html`` -> ``x/replay.brax.html``."""
    root, ext = os.path.splitext(path)
    return f"{root}.brax{ext or '.html'}"


def write_replay(env: Env, policy: Policy, key: jax.Array, path: str, *, max_steps: int | None = None,
                 title: str = "") -> str:
    """Roll out one episode of ``policy`` on ``env`` and write it as a self-contained HTML replay at ``path``.

    ``policy`` is what ``agent.make_policy(env, cfg, params, deterministic=True)``
    returns: ``policy(obs [n, obs_size], key) -> action [n, ...]``. The episode
    lasts ``max_steps`` steps (default: the env's time limit,
    :func:`rljax.env.episode_length`) or until the env terminates; the page
    shows its ``steps + 1`` frames. For brax envs brax's own viewer is also
    written to :func:`companion_path` (it needs internet: CDN scripts).
    Raises ``ValueError`` before compiling anything for envs with nothing to
    draw. Returns ``path``.
    """
    renderer = renderer_for(env)
    inner = _unwrapped(env)
    length = episode_length(env) if max_steps is None else int(max_steps)
    frames, returns, steps = rollout(env, policy, key, length, lambda ps: renderer.extract(inner, ps))
    frames = jax.tree.map(lambda x: x[:steps + 1], frames)
    replay = renderer.replay(inner, frames, returns[:steps + 1])
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(replay_html(replay, title))
    if renderer.companion is not None:
        with open(companion_path(path), "w", encoding="utf-8") as f:
            f.write(renderer.companion(inner, frames))
    return path


# -- host-side geometry ---------------------------------------------------------------------------------------------


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of scalar-first quaternions ``[..., 4]`` (broadcasting)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def _qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v [..., 3]`` by unit quaternions ``q [..., 4]`` (broadcasting)."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def _compose(body_pos: np.ndarray, body_quat: np.ndarray, local_pos: np.ndarray,
             local_quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World poses of geoms: bodies ``[T, G, 3|4]`` (each geom's body) times local offsets ``[G, 3|4]``."""
    return body_pos + _qrot(body_quat, local_pos[None]), _qmul(body_quat, local_quat[None])


def _box_points(half: Any) -> tuple[tuple[float, float, float], ...]:
    hx, hy, hz = (float(h) for h in half)
    return tuple((sx * hx, sy * hy, sz * hz) for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1))


def _cylinder_points(radius: float, half_length: float, n: int = 16) -> tuple[tuple[float, float, float], ...]:
    a = 2 * np.pi * np.arange(n) / n
    return tuple((radius * float(np.cos(t)), radius * float(np.sin(t)), s * half_length)
                 for s in (-1.0, 1.0) for t in a)


def _ellipsoid_points(radii: Any, n: int = 16) -> tuple[tuple[float, float, float], ...]:
    # Points on the three principal ellipses: their hull is the exact outline
    # in any axis-aligned view and close to it in others.
    rx, ry, rz = (float(r) for r in radii)
    a = 2 * np.pi * np.arange(n) / n
    c, s = np.cos(a), np.sin(a)
    pts = [(rx * ci, ry * si, 0.0) for ci, si in zip(c, s)] + [(rx * ci, 0.0, rz * si) for ci, si in zip(c, s)]
    pts += [(0.0, ry * ci, rz * si) for ci, si in zip(c, s)]
    return tuple((float(x), float(y), float(z)) for x, y, z in pts)


def _mesh_points(vert: np.ndarray, limit: int = 96) -> tuple[tuple[float, float, float], ...]:
    """A few points whose convex hull is the mesh's (its 3D hull's vertices, thinned to ``limit``)."""
    vert = np.asarray(vert, np.float64)
    try:
        from scipy.spatial import ConvexHull

        vert = vert[ConvexHull(vert).vertices]
    except Exception:  # noqa: BLE001 - degenerate (flat) meshes or no scipy: keep the raw vertices
        pass
    if len(vert) > limit:
        vert = vert[np.linspace(0, len(vert) - 1, limit).astype(int)]
    return tuple(tuple(float(c) for c in v) for v in vert)


# -- MuJoCo models: brax and MuJoCo Playground -----------------------------------------------------------------------

_MJ_PLANE, _MJ_HFIELD, _MJ_SPHERE, _MJ_CAPSULE, _MJ_ELLIPSOID, _MJ_CYLINDER, _MJ_BOX, _MJ_MESH = range(8)
_MJ_DEFAULT_RGBA = (0.5, 0.5, 0.5, 1.0)
_BRAX_RGBA = (0.4, 0.33, 0.26, 1.0)  # brax's viewer colour for geoms left at MuJoCo's default grey


def _mujoco_geoms(mj_model: Any, geom_pos: np.ndarray, geom_quat: np.ndarray, geom_size: np.ndarray,
                  geom_bodyid: np.ndarray) -> tuple[list[Geom], np.ndarray, np.ndarray, np.ndarray, float | None]:
    """Drawable geoms of a MuJoCo model: ``(geoms, body index [G], local pos [G, 3], local quat [G, 4], ground)``.

    Skips planes (the first horizontal plane on the world body becomes the
    ground), height fields, invisible geoms (alpha 0) and MuJoCo's hidden
    groups (3 and up, as its viewer does).
    """
    geoms, bodies, pos, quat, ground = [], [], [], [], None
    for i in range(int(mj_model.ngeom)):
        kind, size = int(mj_model.geom_type[i]), np.asarray(geom_size[i], np.float64)
        rgba = tuple(float(c) for c in mj_model.geom_rgba[i])
        matid = int(mj_model.geom_matid[i])
        if matid >= 0 and rgba == _MJ_DEFAULT_RGBA:
            rgba = tuple(float(c) for c in mj_model.mat_rgba[matid])
        elif rgba == _MJ_DEFAULT_RGBA:
            rgba = _BRAX_RGBA
        if kind == _MJ_PLANE:
            up = _qrot(np.asarray(geom_quat[i], np.float64), np.array([0.0, 0.0, 1.0]))
            if ground is None and int(geom_bodyid[i]) == 0 and up[2] > 0.999:
                ground = float(geom_pos[i][2])
            continue
        if kind == _MJ_HFIELD or rgba[3] <= 0 or int(mj_model.geom_group[i]) >= 3:
            continue
        name = mj_model.geom(i).name
        if kind == _MJ_SPHERE:
            geom = Geom("sphere", (float(size[0]),), rgba=rgba, name=name)
        elif kind == _MJ_CAPSULE:
            geom = Geom("capsule", (float(size[0]), float(size[1])), rgba=rgba, name=name)
        elif kind == _MJ_ELLIPSOID:
            geom = Geom("hull", points=_ellipsoid_points(size[:3]), rgba=rgba, name=name)
        elif kind == _MJ_CYLINDER:
            geom = Geom("hull", points=_cylinder_points(float(size[0]), float(size[1])), rgba=rgba, name=name)
        elif kind == _MJ_BOX:
            geom = Geom("hull", points=_box_points(size[:3]), rgba=rgba, name=name)
        elif kind == _MJ_MESH:
            mesh = int(mj_model.geom_dataid[i])
            start, count = int(mj_model.mesh_vertadr[mesh]), int(mj_model.mesh_vertnum[mesh])
            geom = Geom("hull", points=_mesh_points(mj_model.mesh_vert[start:start + count]), rgba=rgba, name=name)
        else:
            continue
        geoms.append(geom)
        bodies.append(int(geom_bodyid[i]))
        pos.append(np.asarray(geom_pos[i], np.float64))
        quat.append(np.asarray(geom_quat[i], np.float64))
    return (geoms, np.asarray(bodies, int), np.asarray(pos).reshape(-1, 3), np.asarray(quat).reshape(-1, 4), ground)


def _mujoco_replay(mj_model: Any, geom_arrays: tuple[Any, Any, Any, Any], body_pos: np.ndarray,
                   body_quat: np.ndarray, returns: np.ndarray, dt: float) -> Replay:
    """``body_pos [T, nbody, 3]``, ``body_quat [T, nbody, 4]`` (body 0: the world) -> Replay."""
    geoms, bodies, local_pos, local_quat, ground = _mujoco_geoms(mj_model, *geom_arrays)
    if not geoms:
        raise ValueError("nothing to render: the model has no visible geoms")
    pos, quat = _compose(body_pos[:, bodies], body_quat[:, bodies], local_pos, local_quat)
    return Replay(tuple(geoms), pos, quat, returns, dt, ground, ("side", "top"))


def _brax_extract(env: Any, pipeline_state: Any) -> tuple[jax.Array, jax.Array]:
    return pipeline_state.x.pos, pipeline_state.x.rot  # links [L, 3], [L, 4]; the world body is not a link


def _brax_replay(env: Any, frames: tuple[np.ndarray, np.ndarray], returns: np.ndarray) -> Replay:
    link_pos, link_rot = (np.asarray(a, np.float64) for a in frames)
    t = link_pos.shape[0]
    world_pos = np.zeros((t, 1, 3))
    world_quat = np.broadcast_to(np.array([1.0, 0.0, 0.0, 0.0]), (t, 1, 4))
    # Body i of the MuJoCo model is link i - 1 (as in brax.io.json).
    body_pos = np.concatenate([world_pos, link_pos], axis=1)
    body_quat = np.concatenate([world_quat, link_rot], axis=1)
    sys = env.sys
    arrays = tuple(np.asarray(getattr(sys, f)) for f in ("geom_pos", "geom_quat", "geom_size", "geom_bodyid"))
    return _mujoco_replay(sys.mj_model, arrays, body_pos, body_quat, returns, float(env.dt))


def _brax_companion(env: Any, frames: tuple[np.ndarray, np.ndarray]) -> str:
    """brax's own viewer (three.js from CDNs: needs internet) for the same frames."""
    from types import SimpleNamespace

    from brax.base import Transform
    from brax.io import html as brax_html

    link_pos, link_rot = frames
    states = [SimpleNamespace(x=Transform(pos=jnp.asarray(p), rot=jnp.asarray(r))) for p, r in zip(link_pos, link_rot)]
    return brax_html.render(env.sys, states, height="100vh", colab=False)


def _playground_extract(env: Any, data: Any) -> tuple[jax.Array, jax.Array]:
    return data.xpos, data.xquat  # MJX Data: every body, the world included


def _playground_replay(env: Any, frames: tuple[np.ndarray, np.ndarray], returns: np.ndarray) -> Replay:
    model = env.unwrapped_playground.mj_model
    arrays = (model.geom_pos, model.geom_quat, model.geom_size, model.geom_bodyid)
    body_pos, body_quat = (np.asarray(a, np.float64) for a in frames)
    return _mujoco_replay(model, arrays, body_pos, body_quat, returns, float(env.dt))


# -- rljax's own envs (registered by name: this module does not import the env suite) --------------------------------

_BODY_RGBA = ((0.85, 0.45, 0.15, 1.0), (0.2, 0.45, 0.8, 1.0), (0.3, 0.65, 0.3, 1.0), (0.6, 0.3, 0.7, 1.0))
_GOAL_RGBA = (0.15, 0.7, 0.25, 0.6)
_DARK_RGBA = (0.25, 0.25, 0.25, 1.0)
_IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


def _about_y(angle: np.ndarray) -> np.ndarray:
    """Quaternions ``[..., 4]`` of rotations by ``angle [...]`` about +y (they take +z to ``(sin a, 0, cos a)``)."""
    half = 0.5 * np.asarray(angle, np.float64)
    zero = np.zeros_like(half)
    return np.stack([np.cos(half), zero, np.sin(half), zero], axis=-1)


def _static(value: np.ndarray, t: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float64), (t,) + np.shape(value))


def _contact_extract(env: Any, pipeline: dict[str, Any]) -> dict[str, jax.Array]:
    out = {"pos": pipeline["bodies"].pos, "quat": pipeline["bodies"].quat}
    if "goal" in pipeline:
        out["goal"] = pipeline["goal"]
    return out


def _contact_replay(env: Any, frames: dict[str, np.ndarray], returns: np.ndarray) -> Replay:
    """Bodies of ``env.world`` (a ``WorldSpec``) on the ground ``z = 0``; a planar ``goal`` as a disc."""
    geoms = []
    for i, (kind, size, _mass) in enumerate(env.world.bodies):
        rgba = _BODY_RGBA[i % len(_BODY_RGBA)]
        if kind == "box":
            geoms.append(Geom("hull", points=_box_points(size), rgba=rgba, name=f"{kind} {i}"))
        elif kind == "sphere":
            geoms.append(Geom("sphere", (float(size),), rgba=rgba, name=f"{kind} {i}"))
        elif kind == "capsule":
            geoms.append(Geom("capsule", (float(size[0]), float(size[1])), rgba=rgba, name=f"{kind} {i}"))
        else:
            raise ValueError(f"nothing to render for body kind {kind!r}")
    pos, quat = np.asarray(frames["pos"], np.float64), np.asarray(frames["quat"], np.float64)
    t = pos.shape[0]
    if "goal" in frames:
        goal = np.asarray(frames["goal"], np.float64)
        # A flat disc on the ground, drawn under the bodies in the top view.
        radius = 0.05
        geoms.append(Geom("hull", points=_cylinder_points(radius, 0.001), rgba=_GOAL_RGBA, name="goal"))
        goal_pos = np.concatenate([goal, np.zeros((t, 1))], axis=-1)[:, None]
        pos = np.concatenate([pos, goal_pos], axis=1)
        quat = np.concatenate([quat, _static(_IDENTITY, t)[:, None]], axis=1)
    return Replay(tuple(geoms), pos, quat, returns, float(env.dt), 0.0, ("side", "top"))


def _cartpole_replay(env: Any, frames: np.ndarray, returns: np.ndarray) -> Replay:
    """Track (its ends at the termination bounds x = +-2.4), cart and pole, seen from the side."""
    x, theta = frames[:, 0].astype(np.float64), frames[:, 2].astype(np.float64)
    t, length = x.shape[0], 2.0 * float(env.pole_half_length)
    cart_half = (0.2, 0.15, 0.12)
    pole_radius = 0.04
    track = Geom("hull", points=_box_points((2.4 + cart_half[0], 0.05, 0.01)), rgba=(0.55, 0.55, 0.55, 1.0),
                 name="track")
    cart = Geom("hull", points=_box_points(cart_half), rgba=(0.2, 0.2, 0.25, 1.0), name="cart")
    pole = Geom("capsule", (pole_radius, 0.5 * length - pole_radius), rgba=(0.8, 0.6, 0.4, 1.0), name="pole")
    axle = Geom("sphere", (0.035,), rgba=(0.5, 0.5, 0.8, 1.0), name="axle")
    cart_z = cart_half[2] + 0.01
    pivot = np.stack([x, np.zeros(t), np.full(t, cart_z + cart_half[2] * 0.5)], axis=-1)
    # theta > 0 leans the pole towards +x (CartPole-v1's convention).
    axis = np.stack([np.sin(theta), np.zeros(t), np.cos(theta)], axis=-1)
    pos = np.stack([_static(np.zeros(3), t), np.stack([x, np.zeros(t), np.full(t, cart_z)], axis=-1),
                    pivot + 0.5 * length * axis, pivot], axis=1)
    quat = np.stack([_static(_IDENTITY, t), _static(_IDENTITY, t), _about_y(theta), _static(_IDENTITY, t)], axis=1)
    return Replay((track, cart, pole, axle), pos, quat, returns, float(env.dt), None, ("side",))


def _pendulum_replay(env: Any, frames: np.ndarray, returns: np.ndarray) -> Replay:
    """A rod about a pivot at the origin; ``th = 0`` is upright (Pendulum-v1's convention)."""
    th = frames[:, 0].astype(np.float64)
    t, length = th.shape[0], float(env.length)
    radius = 0.08 * length
    # Pendulum-v1 draws the tip at (-l sin th, l cos th): a rotation by -th about +y.
    axis = np.stack([-np.sin(th), np.zeros(t), np.cos(th)], axis=-1)
    rod = Geom("capsule", (radius, 0.5 * length), rgba=(0.8, 0.3, 0.3, 1.0), name="rod")
    pivot = Geom("sphere", (0.5 * radius,), rgba=_DARK_RGBA, name="pivot")
    # An invisible cross the size of the swing keeps the camera still whatever the angle.
    reach = length + radius
    frame = Geom("hull", points=((-reach, 0.0, 0.0), (reach, 0.0, 0.0), (0.0, 0.0, -reach), (0.0, 0.0, reach)),
                 rgba=(0.0, 0.0, 0.0, 0.0), name="")
    pos = np.stack([0.5 * length * axis, _static(np.zeros(3), t), _static(np.zeros(3), t)], axis=1)
    quat = np.stack([_about_y(-th), _static(_IDENTITY, t), _static(_IDENTITY, t)], axis=1)
    return Replay((rod, pivot, frame), pos, quat, returns, float(env.dt), None, ("side",))


def _identity_extract(env: Any, pipeline_state: Any) -> Any:
    return pipeline_state


register("brax.envs.base.PipelineEnv", Renderer(_brax_extract, _brax_replay, _brax_companion))
register("envs.playground.PlaygroundEnv", Renderer(_playground_extract, _playground_replay))
register("envs.contact.base.ContactEnv", Renderer(_contact_extract, _contact_replay))
register("envs.classic.cartpole.CartPole", Renderer(_identity_extract, _cartpole_replay))
register("envs.classic.pendulum.Pendulum", Renderer(_identity_extract, _pendulum_replay))


# -- camera ------------------------------------------------------------------------------------------------------------

_VIEW_AXES = {"side": (0, 2), "top": (0, 1)}


def _camera(replay: Replay, view: str) -> dict[str, Any]:
    """Per-frame centre ``[T, 2]`` and half extents ``[2]`` (metres) of one view.

    Along each screen axis the camera stays still when the whole episode fits
    in about twice the scene's own size, and otherwise follows the scene's
    centre (a runner leaves the frame; the ground's tick marks show the motion).
    """
    a, b = _VIEW_AXES[view]
    radius = np.array([g.radius() for g in replay.geoms])
    centres = replay.pos[:, :, (a, b)]  # [T, G, 2]
    # Fully transparent geoms still count: they frame the scene on purpose.
    lo = (centres - radius[None, :, None]).min(axis=1)  # [T, 2]
    hi = (centres + radius[None, :, None]).max(axis=1)
    if view == "side" and replay.ground is not None:
        lo[:, 1] = np.minimum(lo[:, 1], replay.ground - 0.05 * (hi[:, 1] - lo[:, 1]).max())
    span = hi - lo  # [T, 2]
    total_lo, total_hi = lo.min(axis=0), hi.max(axis=0)
    total = total_hi - total_lo
    biggest = span.max(axis=0)
    still = total <= 2.0 * biggest + 1e-9
    half = np.where(still, total, biggest) / 2.0 * 1.15
    # At least a few typical part sizes across: a lone box should not fill the view.
    half = np.maximum(half, max(0.05, 3.0 * float(np.median(radius))))
    centre = np.where(still[None], (total_lo + total_hi)[None] / 2.0, (lo + hi) / 2.0)
    return {"centre": np.round(centre, 4).tolist(), "half": np.round(half, 4).tolist()}


# -- the page --------------------------------------------------------------------------------------------------------


def _payload(replay: Replay, title: str) -> dict[str, Any]:
    t, g = replay.pos.shape[:2]
    if replay.quat.shape != (t, g, 4) or replay.pos.shape != (t, g, 3) or len(replay.geoms) != g:
        raise ValueError(f"Replay: pos {replay.pos.shape}, quat {replay.quat.shape} and {len(replay.geoms)} geoms "
                         f"do not match (expected [T, G, 3], [T, G, 4] and G geoms)")
    if t == 0:
        raise ValueError("Replay: no frames")
    bad = [v for v in replay.views if v not in _VIEW_AXES]
    if bad:
        raise ValueError(f"Replay.views: unknown {bad}; use {sorted(_VIEW_AXES)}")
    if not (np.all(np.isfinite(replay.pos)) and np.all(np.isfinite(replay.quat))):
        raise ValueError("Replay: non-finite poses (did the episode diverge?)")
    return {
        "title": title,
        "num_frames": int(t),
        "dt": float(replay.dt),
        "ground": replay.ground,
        "views": list(replay.views),
        "geoms": [{"kind": x.kind, "size": [round(float(s), 5) for s in x.size],
                   "points": [[round(float(c), 5) for c in p] for p in x.points],
                   "rgba": [round(float(c), 4) for c in x.rgba], "name": x.name} for x in replay.geoms],
        # Flat per frame: G * 7 numbers (x, y, z, qw, qx, qy, qz), rounded to keep the page small.
        "poses": np.round(np.concatenate([replay.pos, replay.quat], axis=-1).reshape(t, g * 7), 4).tolist(),
        "returns": np.round(np.asarray(replay.returns, np.float64), 4).tolist(),
        "cameras": {v: _camera(replay, v) for v in replay.views},
    }


def replay_html(replay: Replay, title: str = "") -> str:
    """The self-contained HTML page (inline data, script and style; no network) that plays ``replay``.

    The data is the JSON in ``<script type="application/json" id="replay-data">``
    (``num_frames``, ``geoms``, ``poses [T][G * 7]``, ``returns [T]``, ``cameras``).
    ``#frame=K`` in the URL shows frame ``K`` at load, paused; without it the page plays.
    """
    data = json.dumps(_payload(replay, title), separators=(",", ":"), allow_nan=False)
    # Inside <script>, "</" could close the element early; "<\/" is the same JSON string.
    data = data.replace("</", "<\\/")
    return (_PAGE.replace("__TITLE__", html.escape(title or "rljax replay"))
            .replace("__DATA__", data))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
  html, body { margin: 0; height: 100%; background: #fafafa; font: 13px system-ui, sans-serif; color: #222; }
  #wrap { display: flex; flex-direction: column; height: 100%; }
  #stage { flex: 1; min-height: 0; position: relative; }
  canvas { display: block; width: 100%; height: 100%; }
  #bar { display: flex; gap: 8px; align-items: center; padding: 6px 8px; border-top: 1px solid #ddd;
         background: #fff; }
  #slider { flex: 1; }
  #counter { font-variant-numeric: tabular-nums; white-space: nowrap; }
  button, select { font: inherit; }
</style>
</head>
<body>
<div id="wrap">
  <div id="stage"><canvas id="canvas"></canvas></div>
  <div id="bar">
    <button id="play" type="button">Pause</button>
    <input id="slider" type="range" min="0" max="0" value="0" step="1">
    <span id="counter"></span>
    <select id="speed" title="playback speed">
      <option value="0.25">0.25x</option><option value="0.5">0.5x</option>
      <option value="1" selected>1x</option><option value="2">2x</option><option value="4">4x</option>
    </select>
  </div>
</div>
<script type="application/json" id="replay-data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("replay-data").textContent);
const N = D.num_frames, G = D.geoms.length;
const canvas = document.getElementById("canvas"), ctx = canvas.getContext("2d");
const slider = document.getElementById("slider"), counter = document.getElementById("counter");
const playBtn = document.getElementById("play"), speedSel = document.getElementById("speed");
const AXES = {side: [0, 2, 1, 1], top: [0, 1, 2, -1]};  // screen x, screen y, depth axis, depth order
slider.max = String(N - 1);
let frame = 0, playing = false, last = null, clock = 0;

function rotate(q, v) {  // q = [w, x, y, z] (unit), v = [x, y, z]
  const w = q[0], x = q[1], y = q[2], z = q[3];
  const tx = 2 * (y * v[2] - z * v[1]), ty = 2 * (z * v[0] - x * v[2]), tz = 2 * (x * v[1] - y * v[0]);
  return [v[0] + w * tx + (y * tz - z * ty), v[1] + w * ty + (z * tx - x * tz), v[2] + w * tz + (x * ty - y * tx)];
}
function hull(pts) {  // monotone chain, [[x, y], ...] -> counter-clockwise hull
  pts = pts.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return pts;
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower = [], upper = [];
  for (const p of pts) { while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop(); lower.push(p); }
  for (let i = pts.length - 1; i >= 0; i--) { const p = pts[i]; while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop(); upper.push(p); }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}
function css(rgba, k) {  // k < 1 darkens (outlines)
  const c = rgba.slice(0, 3).map(v => Math.round(255 * Math.min(1, Math.max(0, v * k))));
  return "rgba(" + c[0] + "," + c[1] + "," + c[2] + "," + rgba[3] + ")";
}
function niceStep(span) {  // about 8 ticks across
  const raw = span / 8, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
  return p * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
}

function drawView(view, x0, y0, w, h, k) {
  const [ia, ib, id, order] = AXES[view], cam = D.cameras[view];
  const hx = cam.half[0], hy = cam.half[1], c = cam.centre[k].slice();
  const s = Math.min(w / (2 * hx), h / (2 * hy));
  if (view === "side" && D.ground !== null) {
    // Spare height goes above the scene: ground about a fifth up from the bottom
    // edge, as long as the camera's box [c - half, c + half] stays in view.
    const spare = h / (2 * s), want = D.ground + 0.6 * spare;
    c[1] = Math.min(Math.max(want, c[1] + hy - spare), c[1] - hy + spare);
  }
  const X = u => x0 + w / 2 + (u - c[0]) * s, Y = v => y0 + h / 2 - (v - c[1]) * s;
  const left = c[0] - w / (2 * s), right = c[0] + w / (2 * s);
  ctx.save();
  ctx.beginPath(); ctx.rect(x0, y0, w, h); ctx.clip();
  ctx.fillStyle = "#ffffff"; ctx.fillRect(x0, y0, w, h);
  const step = niceStep(right - left);
  if (view === "side" && D.ground !== null) {  // ground: filled below, tick marks show motion
    const gy = Y(D.ground);
    ctx.fillStyle = "#e4e1da"; ctx.fillRect(x0, gy, w, y0 + h - gy);
    ctx.strokeStyle = "#8a8478"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(x0, gy); ctx.lineTo(x0 + w, gy); ctx.stroke();
    ctx.lineWidth = 1;
    for (let u = Math.ceil(left / step) * step; u <= right; u += step) {
      ctx.beginPath(); ctx.moveTo(X(u), gy); ctx.lineTo(X(u), gy + 6); ctx.stroke();
    }
  } else if (view === "top") {  // grid on the ground plane
    const bottom = c[1] - h / (2 * s), topv = c[1] + h / (2 * s);
    ctx.strokeStyle = "#e6e6e6"; ctx.lineWidth = 1;
    for (let u = Math.ceil(left / step) * step; u <= right; u += step) { ctx.beginPath(); ctx.moveTo(X(u), y0); ctx.lineTo(X(u), y0 + h); ctx.stroke(); }
    for (let v = Math.ceil(bottom / step) * step; v <= topv; v += step) { ctx.beginPath(); ctx.moveTo(x0, Y(v)); ctx.lineTo(x0 + w, Y(v)); ctx.stroke(); }
  }
  const pose = D.poses[k], idx = [];
  for (let g = 0; g < G; g++) idx.push(g);
  idx.sort((a, b) => order * (pose[7 * b + id] - pose[7 * a + id]));  // far to near
  for (const g of idx) {
    const geom = D.geoms[g];
    if (geom.rgba[3] <= 0) continue;
    const p = [pose[7 * g], pose[7 * g + 1], pose[7 * g + 2]];
    const q = [pose[7 * g + 3], pose[7 * g + 4], pose[7 * g + 5], pose[7 * g + 6]];
    ctx.fillStyle = css(geom.rgba, 1); ctx.strokeStyle = css(geom.rgba, 0.55); ctx.lineWidth = 1;
    if (geom.kind === "sphere") {
      ctx.beginPath(); ctx.arc(X(p[ia]), Y(p[ib]), Math.max(1, geom.size[0] * s), 0, 2 * Math.PI);
      ctx.fill(); ctx.stroke();
    } else if (geom.kind === "capsule") {
      const a = rotate(q, [0, 0, geom.size[1]]);
      const r = geom.size[0] * s;
      ctx.lineCap = "round";
      ctx.beginPath(); ctx.moveTo(X(p[ia] - a[ia]), Y(p[ib] - a[ib])); ctx.lineTo(X(p[ia] + a[ia]), Y(p[ib] + a[ib]));
      ctx.strokeStyle = css(geom.rgba, 0.55); ctx.lineWidth = 2 * r + 2; ctx.stroke();
      ctx.strokeStyle = css(geom.rgba, 1); ctx.lineWidth = Math.max(1, 2 * r); ctx.stroke();
    } else {
      const pts = hull(geom.points.map(l => { const v = rotate(q, l); return [X(p[ia] + v[ia]), Y(p[ib] + v[ib])]; }));
      ctx.beginPath(); pts.forEach((pt, i) => i ? ctx.lineTo(pt[0], pt[1]) : ctx.moveTo(pt[0], pt[1]));
      ctx.closePath(); ctx.fill(); ctx.stroke();
    }
  }
  ctx.fillStyle = "#666"; ctx.font = "12px system-ui, sans-serif";
  ctx.fillText(view === "side" ? "side (x-z)" : "top (x-y)", x0 + 8, y0 + 16);
  ctx.restore();
  ctx.strokeStyle = "#ccc"; ctx.strokeRect(x0 + 0.5, y0 + 0.5, w - 1, h - 1);
}

function draw() {
  const dpr = window.devicePixelRatio || 1, rect = canvas.getBoundingClientRect();
  const W = Math.max(1, Math.round(rect.width * dpr)), H = Math.max(1, Math.round(rect.height * dpr));
  if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const w = rect.width, h = rect.height, views = D.views, head = D.title ? 22 : 0;
  ctx.fillStyle = "#fafafa"; ctx.fillRect(0, 0, w, h);
  if (head) { ctx.fillStyle = "#222"; ctx.font = "bold 14px system-ui, sans-serif"; ctx.fillText(D.title, 8, 16); }
  const pw = w / views.length;
  views.forEach((v, i) => drawView(v, i * pw + 2, head + 2, pw - 4, h - head - 4, frame));
  slider.value = String(frame);
  counter.textContent = "frame " + frame + " / " + (N - 1) + "   t = " + (frame * D.dt).toFixed(2) +
    " s   return " + D.returns[frame].toFixed(2);
  playBtn.textContent = playing ? "Pause" : "Play";
}

function show(k) { frame = Math.min(N - 1, Math.max(0, k | 0)); draw(); }
function setPlaying(on) {
  playing = on; last = null; clock = 0;
  if (on && frame >= N - 1) frame = 0;
  draw();
  if (on) requestAnimationFrame(tick);
}
function tick(now) {
  if (!playing) return;
  if (last !== null) clock += (now - last) / 1000 * Number(speedSel.value);
  last = now;
  const adv = Math.floor(clock / Math.max(D.dt, 1e-3));
  if (adv > 0) { clock -= adv * Math.max(D.dt, 1e-3); frame = frame + adv >= N ? 0 : frame + adv; draw(); }
  requestAnimationFrame(tick);
}
function hashFrame() {  // "#frame=40" -> 40, else null
  const m = /(?:^#|&)frame=(-?\\d+)/.exec(window.location.hash);
  return m ? parseInt(m[1], 10) : null;
}

playBtn.addEventListener("click", () => setPlaying(!playing));
slider.addEventListener("input", () => { playing = false; show(Number(slider.value));
  history.replaceState(null, "", "#frame=" + frame); });
window.addEventListener("resize", draw);
window.addEventListener("hashchange", () => { const k = hashFrame(); if (k !== null) { playing = false; show(k); } });
window.addEventListener("keydown", e => {
  if (e.key === " ") { e.preventDefault(); setPlaying(!playing); }
  else if (e.key === "ArrowRight") { playing = false; show(frame + 1); }
  else if (e.key === "ArrowLeft") { playing = false; show(frame - 1); }
});

const start = hashFrame();
if (start !== null) { show(start); } else { show(0); setPlaying(N > 1); }
</script>
</body>
</html>
"""
