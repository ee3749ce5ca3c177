"""compile=true: the compiled world-model loss and imagination step compute what eager
does, and a compiler failure falls back to eager with a warning."""

import pytest
import torch

from agent.agent import Agent
from agent.behavior.imagination import imagine
from agent.compiling import MaybeCompiled
from tests.conftest import small_config
from tests.helpers import cartpole_replay


@pytest.fixture(autouse=True)
def _inductor_uses_torch_rng():
    # Inductor draws random numbers with its own generator unless told otherwise; with
    # torch's, eager and compiled sample the same codes and actions.
    torch._dynamo.reset()
    with torch._inductor.config.patch(fallback_random=True):
        yield


@pytest.mark.parametrize("quantizer", ["fsq", "vq"])
def test_compiled_step_gives_the_eager_losses(quantizer):
    cfg = small_config(quantizer)
    cfg.train.seq_len = 8
    eager = Agent(4, 2, cfg)
    cfg.compile = True
    compiled = Agent(4, 2, cfg)
    compiled.load_state_dict(eager.state_dict())
    batch = cartpole_replay(100).sample(cfg.train.batch_size, cfg.train.seq_len)

    torch.manual_seed(1)
    want, want_states = eager.world_model.loss(batch)
    torch.manual_seed(1)
    got, got_states = compiled.world_model_loss(batch)
    assert compiled.world_model_loss.compiled is not None  # it did compile
    assert want.keys() == got.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5, msg=name)
    torch.testing.assert_close(got_states.h, want_states.h, rtol=1e-4, atol=1e-5)

    # Gradients through the compiled graph match eager's.
    sum(want.values()).backward()
    sum(got.values()).backward()
    for (name, p), q in zip(eager.world_model.named_parameters(),
                            compiled.world_model.parameters(), strict=True):
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-5, msg=name)

    h = want_states.h.detach().flatten(0, 1)
    code = want_states.quantized.code.detach().flatten(0, 1)
    ac = eager.actor_critic
    torch.manual_seed(2)
    want_traj = imagine(eager.world_model, ac.act, h, code, cfg.ac.horizon)
    torch.manual_seed(2)
    got_traj = imagine(compiled.world_model, compiled.actor_critic.act, h, code,
                       cfg.ac.horizon, compiled.dream)
    assert compiled.dream.compiled is not None
    torch.testing.assert_close(got_traj.action, want_traj.action)
    torch.testing.assert_close(got_traj.feat, want_traj.feat, rtol=1e-4, atol=1e-5)


def _broken_backend(graph, example_inputs):
    raise RuntimeError("this backend cannot compile anything")


def test_a_compiler_failure_falls_back_to_eager_with_a_warning():
    calls = []

    def double(x):
        calls.append(1)
        return 2 * x

    fn = MaybeCompiled(double, enabled=True, backend=_broken_backend)
    with pytest.warns(RuntimeWarning, match="torch.compile failed for .*double.*compile=false"):
        assert fn(torch.ones(3)).tolist() == [2, 2, 2]
    assert fn.compiled is None  # eager from now on, without another warning
    assert fn(torch.ones(2)).tolist() == [2, 2]
    # The body ran eagerly twice: the fallback and the next call (tracing it applies none
    # of its side effects when the backend then fails).
    assert calls == [1, 1]


def test_a_failed_compile_draws_no_extra_random_numbers():
    fn = MaybeCompiled(lambda x: x + torch.rand(3), enabled=True, backend=_broken_backend)
    torch.manual_seed(5)
    with pytest.warns(RuntimeWarning):
        got = fn(torch.zeros(3))
    torch.manual_seed(5)
    assert torch.equal(got, torch.rand(3))


def test_an_error_of_the_function_itself_is_raised_not_hidden():
    def bad(x):
        return x @ torch.ones(5, 5)  # shape mismatch for a 3-vector

    fn = MaybeCompiled(bad, enabled=True)
    with pytest.raises(RuntimeError, match="shape"):
        fn(torch.ones(3))
    assert fn.compiled is not None  # compiling was not blamed
