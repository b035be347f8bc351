"""benchmarks/contact_vs_mjx.py --scene arm: the MJCF arm is contact/arm_push's model (no rollout compiled here)."""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from scripts import load_script

bench = load_script("benchmarks/contact_vs_mjx.py")


def _arm():
    args = bench.Args(scene="arm", dt=bench.DEFAULT_DT["arm"])
    env = bench.arm_env(args)
    return args, env, env.world()


def test_arm_mjcf_matches_the_env_world():
    from envs.contact.arm_push import BOX, LINK1, LINK2, TIP

    with jax.enable_x64(True):
        args, env, world = _arm()
        model = bench.arm_mjcf(args, env, world)
        data = mujoco.MjData(model)
        for angles in (bench.START_ANGLES, (0.3, -1.1), (-2.0, 2.5)):
            data.qpos[:2] = angles
            mujoco.mj_kinematics(model, data)
            pos, _ = env.arm_bodies(jnp.array(angles))
            # Link centres of mass and the fingertip centre in the world frame.
            np.testing.assert_allclose(data.xipos[1:4], np.asarray(pos), atol=1e-12)
        ours = [world.bodies[i] for i in (LINK1, LINK2, TIP, BOX)]
        np.testing.assert_allclose(model.body_mass[1:], [float(b.mass) for b in ours])
        # Same principal moments (the capsules' axis is body x in the MJCF, body z in ours).
        for mj_inertia, body in zip(model.body_inertia[1:], ours):
            np.testing.assert_allclose(np.sort(mj_inertia), np.sort(np.asarray(body.principal_inertia())), rtol=1e-12)
        np.testing.assert_allclose(model.dof_damping[:2], [float(j.damping) for j in world.joints[:2]])
        assert model.opt.timestep == world.dt == 0.03 and model.nv == 2 + 6


def test_arm_torques_start_at_rest_within_the_env_limit():
    with jax.enable_x64(True):
        _, env, _ = _arm()
        tau = np.asarray(bench.arm_torques(1.0, 50, 0.03))
    assert tau.shape == (50, 2) and np.all(tau[0] == 0.0)
    assert np.abs(tau).max() <= env.max_torque
    assert np.all(tau[1:, 0] < 0.0)  # the shoulder turns the arm clockwise, towards the box


def test_tip_box_gap_is_a_signed_distance():
    with jax.enable_x64(True):
        eye = jnp.eye(3)
        box = jnp.zeros(3)
        gap = lambda p: float(bench.tip_box_gap(jnp.array(p, jnp.float64), box, eye, 0.05, 0.03))  # noqa: E731
        np.testing.assert_allclose(gap([0.2, 0.0, 0.0]), 0.2 - 0.05 - 0.03)
        np.testing.assert_allclose(gap([0.08, 0.08, 0.0]), np.hypot(0.03, 0.03) - 0.03)
        np.testing.assert_allclose(gap([0.04, 0.0, 0.0]), -0.01 - 0.03)  # centre inside the box
