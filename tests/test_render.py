"""Replays: one episode as a self-contained HTML page (rljax.render), checked as data and, where
Chromium is installed, as headless screenshots of chosen frames."""

import base64
import json
import os
import re
import shutil
import subprocess
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from rljax import agents, checkpoint, render
from rljax.runner import init_runs
from scripts import experiment

CHROMIUM = shutil.which("chromium")


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _payload(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="replay-data">(.*?)</script>', page, re.S)
    assert match, "no replay data in the page"
    return json.loads(match.group(1))


def _assert_self_contained(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link\b", page, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?//""", page, re.I)  # protocol-relative URLs


def _untrained_ppo_policy(env):
    cfg = agents.ppo.Config(total_steps=256, num_envs=4, unroll_length=16, num_minibatches=1,
                            policy_hidden_sizes=(16,), value_hidden_sizes=(16,))
    state = jax.jit(lambda key: agents.ppo.init(env, cfg, key))(jax.random.key(0))  # compiled: faster than eager
    return agents.ppo.make_policy(env, cfg, agents.ppo.policy_params(state), deterministic=True)


def _push_towards_plus_x(obs, key):
    # The untrained policy's mean action is below the friction limit, so the box would
    # stay put; a constant push makes it slide and the frames differ.
    return jnp.tile(jnp.array([1.0, 0.3], jnp.float32), (obs.shape[0], 1))


@pytest.fixture(scope="module")
def replays(tmp_path_factory):
    """name -> (env, path, max_steps): the replays, written once for the module."""
    out = tmp_path_factory.mktemp("replays")
    made = {}
    for name, kwargs, make_policy, steps in [
            ("contact/push", {}, lambda env: _push_towards_plus_x, 30),
            ("brax/inverted_pendulum", {"backend": "spring"}, _untrained_ppo_policy, 40)]:
        env = envs.make(name, **kwargs)
        path = str(out / f"{name.replace('/', '_')}.html")
        assert render.write_replay(env, make_policy(env), jax.random.key(1), path, max_steps=steps,
                                   title=name) == path
        made[name] = (env, path, steps)
    return made


def _episode_steps(env, policy, key, limit):
    """Steps until the env terminates (at most ``limit``), stepping on the host: an independent count."""
    reset_key, run_key = jax.random.split(key)
    state = jax.jit(env.reset)(reset_key)
    step, act = jax.jit(env.step), jax.jit(policy)
    for i, k in enumerate(jax.random.split(run_key, limit)):
        state = step(state, act(state.obs[None], k)[0])
        if float(state.done) > 0:
            return i + 1
    return limit


def test_contact_and_brax_replays_are_self_contained_with_the_asked_frames(replays):
    for name in ("contact/push", "brax/inverted_pendulum"):
        _, path, steps = replays[name]
        page = _read(path)
        _assert_self_contained(page)
        data = _payload(page)
        assert data["title"] == name and data["views"] == ["side", "top"]
        assert 2 <= data["num_frames"] <= steps + 1 and len(data["poses"]) == data["num_frames"]
        assert np.isfinite(np.asarray(data["poses"])).all()
    # contact/push never terminates: every step is a frame; the box slides towards +x.
    data = _payload(_read(replays["contact/push"][1]))
    assert data["num_frames"] == 31 and data["ground"] == 0.0
    assert data["poses"][-1][0] > data["poses"][0][0] + 0.1
    # brax: its own (online) viewer is written next to ours with the same frames.
    path = replays["brax/inverted_pendulum"][1]
    companion = _read(render.companion_path(path))
    assert path.endswith(".html") and render.companion_path(path).endswith(".brax.html")
    system = json.loads(zlib.decompress(base64.b64decode(re.search(r'var system = "([^"]+)"', companion).group(1))))
    assert len(system["states"]["x"]) == _payload(_read(path))["num_frames"]


def test_bandit_has_nothing_to_render(tmp_path):
    env = envs.make("bandit/bimodal")
    with pytest.raises(ValueError, match="nothing to render"):
        render.write_replay(env, lambda obs, key: jnp.zeros((obs.shape[0], 1)), jax.random.key(0),
                            str(tmp_path / "x.html"))
    assert not os.path.exists(tmp_path / "x.html")


def test_replay_html_escapes_the_title_and_script_end():
    replay = render.Replay(geoms=(render.Geom("sphere", (0.1,)),), pos=np.zeros((2, 1, 3)),
                           quat=np.tile([1.0, 0, 0, 0], (2, 1, 1)), returns=np.zeros(2), dt=0.1)
    page = render.replay_html(replay, title="</script><b>x</b>")
    assert "<b>x</b>" not in page
    assert _payload(page)["title"] == "</script><b>x</b>"


def _screenshot(page: str, frame: int, png: str, user_dir: str) -> np.ndarray:
    import matplotlib.image

    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={user_dir}", "--window-size=640,480", f"--screenshot={png}",
           f"file://{os.path.abspath(page)}#frame={frame}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and os.path.exists(png), done.stderr[-2000:]
    image = matplotlib.image.imread(png)[..., :3]
    assert image.shape[:2] == (480, 640)
    return image


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)")
def test_frames_from_the_url_render_in_headless_chromium(replays, tmp_path):
    for name in ("brax/inverted_pendulum", "contact/push"):
        path = replays[name][1]
        last = _payload(_read(path))["num_frames"] - 1
        shots = []
        for frame in (0, last):
            png = str(tmp_path / f"{name.replace('/', '_')}_{frame}.png")
            shots.append(_screenshot(path, frame, png, str(tmp_path / "chromium-profile")))
        for shot in shots:
            assert shot.std() > 0.02, f"{name}: blank screenshot"
        # The drawing itself (not just the frame counter in the bar below it) differs.
        scene = slice(0, 480 - 60)
        changed = (np.abs(shots[0][scene] - shots[1][scene]).max(axis=-1) > 0.1).sum()
        assert changed >= 100, f"{name}: frames 0 and {last} look the same ({changed} pixels differ)"




def test_render_script_errors_before_compiling(tmp_path):
    script = experiment("render")
    with pytest.raises(ValueError, match="^RUN_DIR .*missing: no such folder"):
        script.main(script.parse_args([str(tmp_path / "missing")]))
    with pytest.raises(ValueError, match="has no config.json"):
        script.main(script.parse_args([str(tmp_path)]))
    cfg = agents.ppo.presets.preset("brax/inverted_pendulum")
    (tmp_path / "config.json").write_text(json.dumps(
        {"agent": "rljax.agents.ppo", "env": "cartpole", "config": cfg.to_dict(), "options": {"seeds": 2}}))
    with pytest.raises(ValueError, match="no checkpoint"):
        script.main(script.parse_args([str(tmp_path)]))
    # Config.to_dict round trip: nested groups and tuples come back as they were.
    assert agents.ppo.Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_render_script_replays_run_0_of_the_newest_checkpoint(tmp_path):
    """A run folder as the runner leaves it (config.json, checkpoints/step_*) -> RUN_DIR/replay.html of cartpole."""
    env = envs.make("cartpole")
    cfg = agents.ppo.Config(total_steps=256, num_envs=4, unroll_length=16, num_minibatches=1,
                            policy_hidden_sizes=(16,), value_hidden_sizes=(16,))
    (tmp_path / "config.json").write_text(json.dumps(
        {"agent": "rljax.agents.ppo", "env": "cartpole", "config": cfg.to_dict(), "sweep": {},
         "options": {"seeds": 2, "seed": 3}}))
    state = init_runs(agents.ppo, env, cfg, jax.random.split(jax.random.key(3), 2))
    checkpoint.save(str(tmp_path / "checkpoints"), 1, state)
    # The newest checkpoint's policy is the opposite one (negated logits).
    newest = state.replace(params=jax.tree.map(lambda x: -x, state.params))
    checkpoint.save(str(tmp_path / "checkpoints"), 2, newest)
    script = experiment("render")
    path = script.main(script.parse_args([str(tmp_path), "--seed", "1"]))
    assert path == str(tmp_path / "replay.html")
    page = _read(path)
    _assert_self_contained(page)
    data = _payload(page)
    assert "step_000000000002" in data["title"] and data["views"] == ["side"]
    run0 = jax.tree.map(lambda x: x[0], newest)
    policy = agents.ppo.make_policy(env, cfg, agents.ppo.policy_params(run0), deterministic=True)
    steps = _episode_steps(env, policy, jax.random.key(1), 500)
    assert data["num_frames"] == steps + 1 == len(data["poses"]) == len(data["returns"])
    assert all(len(p) == 7 * len(data["geoms"]) for p in data["poses"])
    assert data["returns"][-1] == pytest.approx(steps)  # CartPole pays 1 per step
