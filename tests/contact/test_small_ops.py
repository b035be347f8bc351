"""The contact solver's small-op backends ("unrolled" for XLA:CPU, "xla" for GPU/TPU) agree.

Each backend is traced in its own ``small_ops.backend(...)`` block with fresh
``jax.jit`` closures: the choice is read at trace time, and jit reuses traces.
"""

import pathlib
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import contact
from rljax.contact import small_ops

CONTACT_SRC = pathlib.Path(small_ops.__file__).parent
SIZES = dict(c=7, n=3, k=2, t=2, i=3, j=4, l=5, m=6, q=2)  # distinct sizes catch transposed axes
TIGHT = dict(kappa=1e-6, tol=1e-13, comp_rtol=1e-9)


def solver_specs() -> list:
    """Every two-operand einsum spec written in rljax/contact (those small_ops.einsum gets, and a few more)."""
    specs = set()
    for path in CONTACT_SRC.glob("*.py"):
        specs.update(re.findall(r'"([a-z.]+,[a-z.]+->[a-z.]*)"', path.read_text()))
    return sorted(specs)


def operand_shape(term: str, ellipsis: tuple) -> tuple:
    head, _, tail = term.partition("...")
    shape = tuple(SIZES[ch] for ch in head)
    return shape + (ellipsis + tuple(SIZES[ch] for ch in tail) if "..." in term else ())


def cases(rng) -> list:
    out = []
    for spec in solver_specs():
        ta, tb = spec.split("->")[0].split(",")
        out.append((spec, rng.normal(size=operand_shape(ta, (3,))),
                    rng.normal(size=operand_shape(tb, (3,) if "..." in ta else (2, 3)))))
    # a contraction longer than the unrolled path's explicit adds (40 x 2 > 36)
    out.append(("ckn,cki->ni", rng.normal(size=(40, 2, 3)), rng.normal(size=(40, 2, 6))))
    return out


def count(fn, *args, prim: str) -> int:
    return str(jax.make_jaxpr(fn)(*args)).count(prim + "[")


def test_specs_cover_the_solver():
    specs = solver_specs()
    assert len(specs) >= 25, specs
    for spec in ("c...kt,cktj->c...kj", "ckim,cmqj->ckiqj", "kji,kj->ki", "...ij,...jk->...ik", "ji,j->i"):
        assert spec in specs


def test_einsum_agrees_between_backends_under_jit_and_vmap():
    rng = np.random.default_rng(0)
    cs = cases(rng)
    specs = [c[0] for c in cs]
    args = [(jnp.asarray(a), jnp.asarray(b)) for _, a, b in cs]
    batch = [(jnp.asarray(rng.normal(size=(2,) + a.shape)), jnp.asarray(rng.normal(size=(2,) + b.shape)))
             for _, a, b in cs]

    def products(ops):
        return [small_ops.einsum(spec, a, b) for spec, (a, b) in zip(specs, ops)]

    out = {}
    for name in small_ops.BACKENDS:
        with small_ops.backend(name) as active:
            assert active == name == small_ops.active_backend()
            out[name] = (jax.jit(lambda ops: products(ops))(args), jax.jit(jax.vmap(lambda ops: products(ops)))(batch))
            dots = count(lambda ops: products(ops), args, prim="dot_general")
            assert (dots == 0) if name == "unrolled" else (dots >= len(specs)), (name, dots)
    chex.assert_trees_all_close(out["unrolled"], out["xla"], rtol=1e-12, atol=1e-12)
    ref = [np.einsum(spec, np.asarray(a), np.asarray(b)) for spec, (a, b) in zip(specs, args)]
    ref_b = [np.stack([np.einsum(spec, np.asarray(a[i]), np.asarray(b[i])) for i in range(2)])
             for spec, (a, b) in zip(specs, batch)]
    chex.assert_trees_all_close(out["xla"], (ref, ref_b), rtol=1e-12, atol=1e-12)


def test_take_segment_sum_and_inv6_agree_between_backends():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(5, 3, 2)))
    lists = [np.array([3, 3, 0, 1, 1, 3, 4]), np.array([0, 0, 0, 0, 1, 1, 1, 1, 2]), np.array([4, 2]),
             np.array([], int)]
    v = [jnp.asarray(rng.normal(size=(len(idx), 3, 2))) for idx in lists]
    m = jnp.asarray(rng.normal(size=(4, 6, 6)) + 5.0 * np.eye(6))

    def ops(x, v, m):
        takes = [small_ops.take(x, idx) for idx in lists]
        sums = [small_ops.segment_sum(vi, idx, 4) for vi, idx in zip(v, lists)]  # rows >= 4 dropped
        return takes, sums, small_ops.inv6(m)

    out = {}
    for name in small_ops.BACKENDS:
        with small_ops.backend(name):
            single = jax.jit(lambda x, v, m: ops(x, v, m))(x, v, m)
            batched = jax.jit(jax.vmap(lambda x, v, m: ops(x, v, m)))(
                *jax.tree.map(lambda a: jnp.stack([a, 2.0 * a + 1.0]), (x, v, m)))
            out[name] = single, batched
            gathers = count(lambda x: [small_ops.take(x, idx) for idx in lists], x, prim="gather")
            scatters = count(lambda v: [small_ops.segment_sum(vi, idx, 4) for vi, idx in zip(v, lists)], v,
                             prim="scatter-add")
            assert (gathers, scatters) == (0, 0) if name == "unrolled" else (gathers > 0 and scatters > 0)
    chex.assert_trees_all_close(out["unrolled"], out["xla"], rtol=1e-12, atol=1e-12)
    takes, sums, inv = out["xla"][0]
    for idx, t, vi, s in zip(lists, takes, v, sums):
        np.testing.assert_array_equal(t, np.asarray(x)[idx])
        ref = np.zeros((4, 3, 2))
        np.add.at(ref, idx[idx < 4], np.asarray(vi)[idx < 4])
        np.testing.assert_allclose(s, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(inv, np.linalg.inv(np.asarray(m)), rtol=1e-12, atol=1e-14)


def _pair_scene():
    # Box and sphere with a box-sphere candidate: dense Schur complement, takes and
    # scatters through the ground row. The sphere hits the sliding, spinning box.
    world = contact.World(bodies=(contact.Box(mass=1.0), contact.Sphere(radius=0.1, mass=0.5)),
                          ground=contact.Plane(), friction=0.5, dt=0.01)
    state = world.init_state(pos=[[0.0, 0.0, 0.2504], [0.36, 0.0, 0.1]], vel=[[1.0, 0.0, 0.0], [-3.0, 0.0, 0.0]],
                             ang_vel=[[0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    return world, state


def _box_scene():
    # One tilted, spinning box on the ground only: block-diagonal Schur complement (inv6).
    world = contact.World(bodies=(contact.Box(half_extents=(0.2, 0.15, 0.1), mass=1.0),),
                          ground=contact.Plane(normal=(0.1, 0.0, 1.0)), friction=0.4, dt=0.01)
    state = world.init_state(pos=[[0.0, 0.0, 0.18]], quat=[[0.9, 0.1, 0.3, 0.2]], vel=[[0.5, 0.0, -1.0]],
                             ang_vel=[[1.0, -2.0, 0.5]])
    return world, state


@pytest.mark.parametrize("scene", [
    _pair_scene,
    pytest.param(_box_scene, marks=pytest.mark.slow),  # ~20 s more; the pair scene covers the ops
], ids=["box-sphere-pair", "box-ground-only"])
def test_step_and_ift_gradient_agree_between_backends(scene):
    # One solver step in contact, forward and IFT gradient in one program per
    # backend (a value_and_grad compiles in ~10 s on two CPU cores).
    world, state = scene()

    def loss(vel, force):
        st = contact.step(world, state.replace(vel=vel), force, **TIGHT)
        return jnp.sum(st.pos * jnp.arange(1.0, 4.0)) + jnp.sum(st.ang_vel), st

    force = jnp.ones((world.num_bodies, 3)) * jnp.array([0.5, -0.3, 0.2])
    out = {}
    for name in small_ops.BACKENDS:
        with small_ops.backend(name):
            fn = jax.jit(jax.value_and_grad(lambda v, f: loss(v, f), argnums=(0, 1), has_aux=True))
            (value, st), grads = fn(state.vel, force)
        assert bool(st.solver.converged), name
        assert int(st.solver.iterations) > 2  # in contact: more than the free-flight iterations
        out[name] = dict(value=value, pos=st.pos, quat=st.quat, vel=st.vel, ang_vel=st.ang_vel, grads=grads)
    assert all(np.all(np.isfinite(g)) and np.any(g != 0) for g in jax.tree.leaves(out["xla"]["grads"]))
    chex.assert_trees_all_close({k: v for k, v in out["unrolled"].items() if k != "grads"},
                                {k: v for k, v in out["xla"].items() if k != "grads"}, rtol=0, atol=1e-10)
    # The IFT solve's conditioning grows like 1 / kappa: round-off differences of
    # 1e-16 in the factors reach ~1e-8 (relative) in the gradient at kappa = 1e-6.
    chex.assert_trees_all_close(out["unrolled"]["grads"], out["xla"]["grads"], rtol=1e-6, atol=1e-9)


def test_choice_by_platform_env_var_and_scope(monkeypatch):
    assert small_ops.platform_default("cpu") == "unrolled"
    for platform in ("gpu", "cuda", "rocm", "tpu"):
        assert small_ops.platform_default(platform) == "xla"
    monkeypatch.delenv(small_ops.ENV_VAR, raising=False)
    assert small_ops.active_backend() == small_ops.platform_default(jax.default_backend())
    with jax.default_device(jax.devices("cpu")[0]):
        assert small_ops.active_backend() == "unrolled"
    monkeypatch.setenv(small_ops.ENV_VAR, "xla")
    assert small_ops.active_backend() == "xla"
    with small_ops.backend("unrolled"):  # the scope wins over the environment
        assert small_ops.active_backend() == "unrolled"
        with small_ops.backend("auto"):
            assert small_ops.active_backend() == small_ops.platform_default(jax.default_backend())
    assert small_ops.active_backend() == "xla"
    monkeypatch.setenv(small_ops.ENV_VAR, " Unrolled ")
    assert small_ops.active_backend() == "unrolled"
    monkeypatch.setenv(small_ops.ENV_VAR, "")
    assert small_ops.active_backend() == small_ops.platform_default(jax.default_backend())


def test_bad_choice_raises_naming_the_allowed_values(monkeypatch):
    with pytest.raises(ValueError, match="'auto', 'unrolled', 'xla'.*'fast'"):
        with small_ops.backend("fast"):
            pass
    monkeypatch.setenv(small_ops.ENV_VAR, "gpu")
    with pytest.raises(ValueError, match=r"\$RLJAX_CONTACT_SMALL_OPS must be one of 'auto', 'unrolled', 'xla'"):
        small_ops.active_backend()
    with pytest.raises(ValueError, match="RLJAX_CONTACT_SMALL_OPS"):  # raised when contact code is traced
        small_ops.einsum("ij,jk->ik", jnp.eye(2), jnp.eye(2))
    with small_ops.backend("xla"):  # a valid scope does not read the environment
        small_ops.einsum("ij,jk->ik", jnp.eye(2), jnp.eye(2))
