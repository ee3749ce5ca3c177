"""Evaluation, greedy (the default) or sampled as in training (`eval.greedy=false`)."""

import torch

from agent.agent import Agent
from agent.loop.evaluate import Evaluator
from agent.seeds import Seeds
from envs import ActionCodec, ObservationSpec, make_vector_env
from tests.helpers import compose_config


def evaluator_and_agent(greedy: bool, *overrides: str) -> tuple[Evaluator, Agent]:
    cfg = compose_config("preset=debug", *overrides)
    env = cfg.env
    probe = make_vector_env(env.id, 1, env.kwargs, **env.wrappers())
    codec = ActionCodec(probe.single_action_space)
    spec = ObservationSpec(probe.single_observation_space, env.image_size)
    probe.close()
    torch.manual_seed(0)
    agent = Agent(spec, codec, cfg)
    with torch.no_grad():  # a uniform policy: its mode always pushes one way
        for p in agent.actor_critic.actor.parameters():
            p.zero_()
    return Evaluator(env, 6, codec, spec, Seeds(0), greedy), agent


def test_a_sampled_evaluation_repeats_and_leaves_trainings_random_stream_alone():
    runs = []
    for _ in range(2):
        evaluator, agent = evaluator_and_agent(greedy=False)
        torch.manual_seed(123)
        before = torch.get_rng_state()
        runs.append(evaluator(agent))
        assert torch.equal(torch.get_rng_state(), before)  # training's stream untouched
        evaluator.close()
    assert runs[0] == runs[1]  # seeded per evaluation: the same episodes again


def test_a_greedy_evaluation_takes_the_mode_and_a_sampled_one_does_not():
    lengths = {}
    for greedy in (True, False):
        evaluator, agent = evaluator_and_agent(greedy)
        lengths[greedy] = evaluator(agent)["eval/length"]
        evaluator.close()
    # CartPole pushed one way falls within about ten steps; random pushes last about twenty.
    assert lengths[True] < 12 and lengths[False] > lengths[True] + 5


def test_filming_an_episode_leaves_trainings_random_stream_alone(tmp_path):
    """The categorical code samples while acting, greedy or not: a video's episode draws
    from a stream of its own, so `eval.video_every` changes nothing about training."""
    from agent.loop.video import record_episode

    evaluator, agent = evaluator_and_agent(True, "quantizer=categorical")
    evaluator.close()
    env = compose_config("preset=debug").env
    torch.manual_seed(123)
    before = torch.get_rng_state()
    paths = [record_episode(agent, env, evaluator.codec, evaluator.spec,
                            tmp_path / f"{i}.mp4", seed=7) for i in range(2)]
    assert all(p is not None and p.stat().st_size > 0 for p in paths)
    assert torch.equal(torch.get_rng_state(), before)
