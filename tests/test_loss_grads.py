"""Each world-model loss term's gradient on its own (agent/analysis/loss_grads.py), on real
run folders: the terms add up to an update's gradient, each reaches the parts the model is
built to let it reach, and nothing is trained by looking."""

from functools import partial

import numpy as np
import pytest
import torch

from agent.analysis.loss_grads import PARTS, TOTAL, term_gradients
from agent.analysis.reward_check import load_run, seeded_posterior
from tests.helpers import run_module, smoke_run

command = partial(run_module, "agent.analysis.loss_grads")


@pytest.fixture(scope="module")
def categorical_run(tmp_path_factory):
    """Sampled codes (seeding matters) and the overshoot term."""
    tmp_path = tmp_path_factory.mktemp("loss_grads")
    smoke_run(tmp_path, "quantizer=categorical", "model.overshoot=2")
    return tmp_path / "run"


def drawn(folder):
    agent, replay, _ = load_run(folder)
    return agent, replay.sample(4, 16, np.random.default_rng(0))


SHARE = "encoder: share of sum"


def shown_table(stdout: str) -> dict[str, dict[str, float | None]]:
    """The printed table: term -> column (each part, SHARE) -> value."""
    rows = [line.strip("|").split("|") for line in stdout.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in rows[0]]

    def number(cell):
        return None if cell.strip() == "-" else float(cell)
    return {cells[0].strip(): {column: number(cells[header.index(column)])
                               for column in (*PARTS, SHARE)}
            for cells in rows[1:]}


@pytest.mark.parametrize("quantizer", ["fsq", "categorical"])
def test_the_terms_gradients_add_up_to_the_gradient_an_update_takes(quantizer, tmp_path,
                                                                     categorical_run):
    if quantizer == "fsq":
        smoke_run(tmp_path)
        folder = tmp_path / "run"
    else:
        folder = categorical_run
    agent, batch = drawn(folder)
    _, grads = term_gradients(agent, batch, seed=3)
    agent.zero_grad(set_to_none=True)
    with seeded_posterior(3):
        agent.world_model_gradients(batch)
    terms = [name for name in grads if name != TOTAL]
    for name, param in agent.world_model.named_parameters():
        update = torch.zeros_like(param) if param.grad is None else param.grad
        torch.testing.assert_close(grads[TOTAL][name], update, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(sum(grads[t][name] for t in terms), update,
                                   rtol=1e-4, atol=1e-5)


def test_each_term_reaches_the_parts_the_model_lets_it_reach(categorical_run):
    shown = command(str(categorical_run), "--windows", "4", "--seq-len", "16")
    assert shown.returncode == 0, shown.stderr
    assert "on 4 replayed windows of 16 steps" in shown.stdout and "(categorical)" in shown.stdout
    norms = shown_table(shown.stdout)
    assert set(norms) == {"recon", "reward", "cont", "dyn", "rep", "overshoot", TOTAL}
    # The terms' shares of the encoder's gradient add up to the whole (2 decimals each).
    assert norms[TOTAL][SHARE] == 1.0
    assert sum(norms[t][SHARE] for t in norms if t != TOTAL) == pytest.approx(1.0, abs=0.03)
    heads = {"decoder", "reward head", "continue head"}

    def reached(term):
        return {part for part in PARTS if norms[term][part] > 0}

    # Every head's loss reaches its own head, the code (encoder, quantizer) and h.
    for term, head in [("recon", "decoder"), ("reward", "reward head"),
                       ("cont", "continue head")]:
        assert reached(term) == {head, "encoder", "quantizer", "sequence"}
    # dyn trains the prior and, through h, the earlier codes; rep pulls the code only.
    assert reached("dyn") == {"prior", "sequence", "encoder", "quantizer"}
    assert reached("rep") == {"encoder", "quantizer"}
    # Overshooting starts from a detached h on detached samples: no encoder, no code.
    assert reached("overshoot") == {"prior", "sequence"}
    assert not reached("dyn") & heads


def test_looking_trains_nothing_not_even_a_codebook(tmp_path):
    smoke_run(tmp_path, "quantizer=vq")
    agent, batch = drawn(tmp_path / "run")
    def tensors():
        return {**dict(agent.named_parameters()), **dict(agent.named_buffers())}
    before = {k: v.clone() for k, v in tensors().items()}
    assert {"world_model.quantizer.codebook", "world_model.quantizer.ema_sum"} <= before.keys()
    term_gradients(agent, batch)
    assert all(torch.equal(before[k], v) for k, v in tensors().items())
    assert all(p.grad is None for p in agent.parameters())


def test_windows_that_draw_nothing_are_refused(categorical_run):
    shown = command(str(categorical_run), "--windows", "0")
    assert shown.returncode != 0
    assert "--windows 0" in shown.stderr and "use 1 or more" in shown.stderr
    shown = command(str(categorical_run), "--seed", "-1")
    assert shown.returncode != 0 and "use a seed of 0 or more" in shown.stderr
    shown = command(str(categorical_run), "--seq-len", "100000")
    assert shown.returncode != 0 and "use shorter windows (--seq-len)" in shown.stderr
