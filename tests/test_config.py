"""Every PPO config validation error, raised before anything compiles."""

import jax
import pytest

import envs
from rljax import agents

Config = agents.ppo.Config


@pytest.mark.parametrize("field,value,message", [
    ("learning_rate", 0.0, "learning_rate.*must be > 0"),
    ("learning_rate", -1e-3, "learning_rate.*must be > 0"),
    ("gamma", 1.5, "gamma.*must be in \\[0, 1\\]"),
    ("gae_lambda", -0.1, "gae_lambda.*must be in \\[0, 1\\]"),
    ("clip_epsilon", 0.0, "clip_epsilon.*must be > 0"),
    ("value_coef", -1.0, "value_coef.*must be >= 0"),
    ("entropy_coef", -1.0, "entropy_coef.*must be >= 0"),
    ("max_grad_norm", 0.0, "max_grad_norm.*must be > 0"),
    ("reward_scale", 0.0, "reward_scale.*must be > 0"),
    ("total_steps", 0, "total_steps.*must be > 0"),
    ("num_envs", 0, "num_envs.*must be > 0"),
    ("unroll_length", -5, "unroll_length.*must be > 0"),
    ("num_epochs", 0, "num_epochs.*must be > 0"),
    ("num_minibatches", 0, "num_minibatches.*must be > 0"),
    ("policy_hidden_sizes", (64, 0), "policy_hidden_sizes.*positive ints"),
    ("value_hidden_sizes", [64], "value_hidden_sizes.*positive ints"),
    ("activation", "sigmoidish", "activation.*must be one of"),
    ("episode_length", 0, "episode_length.*positive int"),
])
def test_field_errors(field, value, message):
    with pytest.raises(ValueError, match=message):
        Config(**{field: value})
    with pytest.raises(ValueError, match=message):
        Config().replace(**{field: value})


def test_batch_must_divide_into_minibatches():
    with pytest.raises(ValueError, match="not divisible by num_minibatches = 3"):
        Config(num_envs=4, unroll_length=8, num_minibatches=3)


def test_total_steps_must_cover_one_update():
    with pytest.raises(ValueError, match="total_steps=100: must be >= num_envs \\* unroll_length = 1024"):
        Config(total_steps=100)


def test_stack_rejects_differing_static_fields():
    with pytest.raises(ValueError, match="static field 'num_envs' differs"):
        Config.stack([Config(num_envs=32), Config(num_envs=64)])
    with pytest.raises(ValueError, match="at least one"):
        Config.stack([])


def test_stack_makes_leaves_with_a_leading_axis():
    stacked = Config.stack([Config(learning_rate=lr) for lr in (1e-4, 3e-4, 1e-3)])
    assert stacked.learning_rate.shape == (3,)
    assert stacked.num_envs == 32


def test_wrong_config_type_is_rejected_before_compiling():
    with pytest.raises(ValueError, match="cfg must be rljax.agents.ppo.Config"):
        agents.ppo.init(envs.make("cartpole"), {"learning_rate": 1e-3}, jax.random.key(0))


def test_head_settings_are_groups_named_after_the_head():
    from rljax.policies import GaussianSettings

    cfg = Config(gaussian=GaussianSettings(init_log_std=-1.0))
    assert cfg.get("gaussian.init_log_std") == -1.0
    assert "gaussian.init_log_std" in cfg.leaf_names() and "num_envs" not in cfg.leaf_names()
    assert cfg.replace_path("gaussian.init_log_std", -0.5).gaussian.init_log_std == -0.5
    assert cfg.to_dict()["gaussian"] == {"init_log_std": -1.0}
    stacked = Config.stack([cfg, cfg.replace_path("gaussian.init_log_std", 0.0)])
    assert stacked.gaussian.init_log_std.shape == (2,)


def test_stack_names_a_differing_static_field_inside_a_group():
    from rljax.agents import sac
    from rljax.critics import QuantileCriticSettings

    a = sac.Config(critic="quantile")
    b = a.replace(quantile=QuantileCriticSettings(num_quantiles=10))
    with pytest.raises(ValueError, match="static field 'quantile.num_quantiles' differs"):
        sac.Config.stack([a, b])
    with pytest.raises(ValueError, match="drop_per_critic=25: must be < num_quantiles"):
        QuantileCriticSettings(drop_per_critic=25)


def test_policy_head_must_fit_the_env_before_compiling():
    with pytest.raises(ValueError, match="policy='flowish': must be 'auto' or a registered policy head"):
        Config(policy="flowish")
    with pytest.raises(ValueError, match="has discrete actions but the 'gaussian' head serves continuous"):
        agents.ppo.init(envs.make("cartpole"), Config(policy="gaussian"), jax.random.key(0))
    with pytest.raises(ValueError, match="has continuous actions but the 'categorical' head serves discrete"):
        agents.ppo.init(envs.make("pendulum"), Config(policy="categorical"), jax.random.key(0))
