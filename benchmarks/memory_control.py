"""A control for the memory probe: the same random cue-recall data, a plain model (an MLP
encoder, a GRU, a reward head on [h, embedding]) trained on the reward alone. It tells
whether a failure of the world model's reward head is the task's or the model's.

    python benchmarks/memory_control.py --delay 1 --head mse|twohot --init default|zeros

Prints the reward loss and the sign accuracy at held-out answer steps every 250 updates.
"""

import argparse

import torch
from torch import nn

from agent.analysis.memory_probe import random_replay, whole_streams
from agent.data import Batch
from agent.distributions import TwoHot

H = 32


class PlainRewardModel(nn.Module):
    def __init__(self, bins: int, zero_output: bool):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, H), nn.LayerNorm(H), nn.SiLU())
        self.step_input = nn.Sequential(nn.Linear(H + 2, H), nn.LayerNorm(H), nn.SiLU())
        self.gru = nn.GRUCell(H, H)
        self.head = nn.Sequential(nn.Linear(2 * H, H), nn.LayerNorm(H), nn.SiLU(),
                                  nn.Linear(H, bins))
        if zero_output:
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Reward outputs [B, T, bins], with the world model's time alignment."""
        e = self.encoder(batch.obs["obs"])
        keep = (1 - batch.is_first).unsqueeze(-1)
        keep[:, 0] = 0
        prev_e = torch.cat([torch.zeros_like(e[:, :1]), e[:, :-1]], 1)
        prev_a = torch.cat([torch.zeros_like(batch.action[:, :1]), batch.action[:, :-1]], 1)
        x = self.step_input(torch.cat([prev_e, prev_a], -1) * keep)
        h, hs = torch.zeros(e.shape[0], H), []
        for t in range(e.shape[1]):
            h = self.gru(x[:, t], h * keep[:, t])
            hs.append(h)
        return self.head(torch.cat([torch.stack(hs, 1), e], -1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=int, default=1)
    parser.add_argument("--head", choices=["mse", "twohot"], default="mse")
    parser.add_argument("--init", choices=["default", "zeros"], default="default")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    twohot = TwoHot(255)
    model = PlainRewardModel(255 if args.head == "twohot" else 1, args.init == "zeros")
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    train = random_replay(1000, args.delay, seed=0)
    test = whole_streams(random_replay(250, args.delay, seed=7))

    def predict(out: torch.Tensor) -> torch.Tensor:
        return twohot.mean(out) if args.head == "twohot" else out.squeeze(-1)

    print("| updates | reward loss | accuracy |\n|---|---|---|")
    for update in range(1, args.updates + 1):
        batch = train.sample(16, 16)
        out = model(batch)
        loss = (twohot.loss(out, batch.reward).mean() if args.head == "twohot"
                else (out.squeeze(-1) - batch.reward).pow(2).mean())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if update % 250 == 0:
            with torch.no_grad():
                pred = predict(model(test))
            answer = test.reward != 0
            answer[:, 0] = False
            accuracy = (pred[answer].sign() == test.reward[answer]).float().mean().item()
            print(f"| {update} | {loss.item():.3f} | {accuracy:.3f} |", flush=True)


if __name__ == "__main__":
    main()
