import pytest
import torch

import agent.quantizers  # noqa: F401  (registers every quantizer)
import tests.example_quantizer  # noqa: F401  (the README's example, in every contract test)
from agent.config import Config


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(1)


def small_config(quantizer: str = "fsq") -> Config:
    """The schema's defaults with the debug preset's sizes, for unit tests."""
    cfg = Config()
    cfg.quantizer = agent.quantizers.registry.quantizer_class(quantizer).Options()
    cfg.model.deter = cfg.model.units = 32
    cfg.model.layers = 1
    cfg.model.reward_bins = 31
    cfg.train.batch_size, cfg.train.seq_len = 4, 16
    cfg.ac.horizon = 5
    return cfg
