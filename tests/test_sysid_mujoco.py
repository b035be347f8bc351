"""experiments/sysid.py --source mujoco: state conventions, gradient direction, the whole fit.

The default tests check that MuJoCo's free-joint state and applied wrench map
onto contact.State / step exactly (free flight at the same time step agrees to
round-off) and that the loss's gradient through the solver at the initial guess
points towards MuJoCo's friction and mass. The slow test runs the script's
whole mujoco path on a short trajectory.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tyro

from scripts import experiment

pytest.importorskip("mujoco")
sysid = experiment("sysid")


def test_free_flight_matches_mujoco_step_for_step():
    """A box spinning in the air under a world-frame force and torque, far from the ground.

    With MuJoCo at rljax's step (substeps 1) both integrate linear motion the same
    way (semi-implicit Euler: the velocity of a step moves the position), so
    positions agree to round-off; orientations differ only by MuJoCo's exponential
    map vs Dojo's [sqrt(1 - |h w / 2|^2), h w / 2], third order in the step angle.
    A wrong convention (world vs body angular velocity, quaternion order, torque
    frame) would show up as errors of order 1 rad. kappa is small because the
    relaxed complementarity leaves a force kappa / gap per corner even 5 m up.
    """
    args = sysid.Args(source="mujoco", steps=40, mujoco_substeps=1, kappa=1e-10)
    t = np.arange(args.steps) * args.dt
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    flight = sysid.Scenario(
        "flight", pos=np.array([0.1, -0.2, 5.0]), quat=np.concatenate([[np.cos(0.4)], np.sin(0.4) * axis]),
        vel=np.array([0.5, 0.2, 1.0]), ang_vel=np.array([3.0, -2.0, 5.0]),
        force=np.stack([np.sin(3 * t), np.cos(2 * t), 2 + 0 * t], -1),
        torque=np.stack([0.05 * np.cos(4 * t), 0.08 + 0 * t, -0.03 * np.sin(t)], -1))
    obs = sysid.record_mujoco(args, [flight])
    assert obs["max_penetration"] == 0.0
    with jax.enable_x64(True):
        params = jnp.log(jnp.array([args.true_friction, args.true_mass]))
        pos, quat, ok = sysid.simulate_scenarios(params, [flight], args)
        assert bool(jnp.all(ok))
        err = sysid.trajectory_errors(pos, quat, obs)
    assert err["pos_rms_mm"] < 1e-5
    assert err["angle_max_deg"] < 0.05
    # The torque matters: without it the orientations drift apart by degrees.
    drift = sysid.record_mujoco(args, [flight._replace(torque=0 * flight.torque)])
    assert np.degrees(np.max(np.asarray(sysid.quat_angle(jnp.asarray(drift["quat"]),
                                                         jnp.asarray(obs["quat"]))))) > 5.0


def test_loss_gradient_points_to_mujoco_values_and_a_step_lowers_the_error():
    args = sysid.Args(source="mujoco", steps=30)
    scenarios = sysid.mujoco_scenarios(args.steps, args.dt)
    obs = sysid.record_mujoco(args, scenarios)
    pushes = jnp.array([float(s.name.startswith("slide")) for s in scenarios])
    with jax.enable_x64(True):
        loss = jax.jit(jax.value_and_grad(lambda p: sysid.mujoco_loss(
            p, scenarios, args, jnp.asarray(obs["pos"]), jnp.asarray(obs["quat"]), pushes)))
        init = jnp.log(jnp.array([args.init_friction, args.init_mass]))
        value, grad = loss(init)
        # init (0.2, 0.8) is below MuJoCo's (0.4, 1.3) in both: descent raises both.
        assert bool(jnp.all(grad < 0)), grad
        step = init - 0.05 * grad / jnp.linalg.norm(grad)
        smaller, _ = loss(step)
        assert float(smaller) < 0.9 * float(value)


def test_bad_source_is_a_clear_error(capsys):
    with pytest.raises(ValueError, match="Args.source must be one of"):
        sysid.check_args(sysid.Args(source="bullet"))
    with pytest.raises(SystemExit):
        tyro.cli(sysid.Args, args=["--source", "bullet"])
    err = capsys.readouterr().err
    assert "bullet" in err and "mujoco" in err and "rljax" in err
    with pytest.raises(ValueError, match="Args.mujoco_substeps"):
        sysid.check_args(sysid.Args(source="mujoco", mujoco_substeps=0))
    with pytest.raises(ValueError, match="Args.noise_mm"):
        sysid.check_args(sysid.Args(noise_mm=(1.0, -1.0)))


@pytest.mark.slow
def test_mujoco_fit_moves_towards_mujoco_values_and_lowers_the_error(tmp_path):
    args = sysid.Args(source="mujoco", steps=30, iters=8, noise_mm=(0.0,), mismatch_study=False,
                      out_dir=str(tmp_path))
    summary = sysid.main(args)
    result, before = summary["results"][0], summary["before"]
    for name, init, true in (("friction", args.init_friction, args.true_friction),
                             ("mass", args.init_mass, args.true_mass)):
        assert abs(result[name] - true) < 0.5 * abs(init - true), (name, result[name])
    assert result["after"]["pos_rms_mm"] < 0.2 * before["pos_rms_mm"]
    assert result["after"]["angle_rms_deg"] < 0.5 * before["angle_rms_deg"]
    # The fit reaches the error rljax has at MuJoCo's own values (the model-mismatch floor).
    assert result["after"]["pos_rms_mm"] < 1.2 * summary["at_mujoco_values"]["pos_rms_mm"]
