"""The world model: o_t -> e_t -> quantizer -> c_t, h_t = f(h_{t-1}, c_{t-1}, a_{t-1}),
a prior over c_t from h_t, and decoder / reward / continue heads on s_t = [h_t, c_t].

Time alignment inside a replayed sequence (h is reset where is_first is set, and at t=0):

    index      t=0    t=1    t=2 ...
    obs        o_0    o_1    o_2
    action     a_0    a_1    a_2      a_t taken after seeing o_t
    reward     r_0    r_1    r_2      r_t received on arriving at o_t
    h          h_0 = f(0, 0, 0)   h_1 = f(h_0, c_0, a_0)   ...
"""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from agent.config import Config
from agent.distributions import TwoHot, symlog
from agent.networks import mlp
from agent.priors import make_prior
from agent.quantizers import QuantizerOutput, build
from agent.replay import Batch


class Posterior(NamedTuple):
    h: Tensor     # [B, T, deter]
    post: QuantizerOutput  # code [B, T, code_dim], probs [B, T, G, K]


class WorldModel(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, cfg: Config):
        super().__init__()
        m = cfg.model
        self.free_bits = cfg.train.free_bits
        self.encoder = mlp(obs_dim, m.units, m.layers)
        self.quantizer = build(cfg.quantizer, m.units)
        q = self.quantizer
        self.code_dim, self.deter = q.code_dim, m.deter
        self.img_in = nn.Sequential(nn.Linear(q.code_dim + act_dim, m.units, bias=False),
                                    nn.LayerNorm(m.units), nn.SiLU())
        self.gru = nn.GRUCell(m.units, m.deter)
        self.prior_dist = make_prior(q, m.prior_unimix)
        self.prior = mlp(m.deter, m.units, 1, out=self.prior_dist.size)
        self.feat_dim = m.deter + q.code_dim
        self.decoder = mlp(self.feat_dim, m.units, m.layers, out=obs_dim)
        self.reward = mlp(self.feat_dim, m.units, m.layers, out=m.reward_bins,
                          zero_init_output=True)
        self.cont = mlp(self.feat_dim, m.units, m.layers, out=1)
        self.twohot = TwoHot(m.reward_bins)

    # -- pieces used by acting and imagination --------------------------------------------
    def encode(self, obs: Tensor) -> QuantizerOutput:
        """obs [..., obs_dim] -> the quantizer's output for c = f(e(o)). The quantizer runs
        in fp32 under bf16 autocast too: rounding and codebook distances need the precision."""
        embedding = self.encoder(symlog(obs))
        with torch.autocast(embedding.device.type, enabled=False):
            return self.quantizer(embedding.float())

    def step(self, h: Tensor, code: Tensor, action: Tensor) -> Tensor:
        """One step of the sequence model: h' = f(h, c, a)."""
        return self.gru(self.img_in(torch.cat([code, action], -1)), h)

    def sample_code(self, h: Tensor) -> Tensor:
        """A code drawn from the prior given h: for discrete quantizers, indices sampled from
        G x K classes and turned into a code by `quantizer.embed`."""
        return self.prior_dist.sample(self.prior(h))

    def feat(self, h: Tensor, code: Tensor) -> Tensor:
        return torch.cat([h, code], -1)

    def reward_mean(self, feat: Tensor) -> Tensor:
        return self.twohot.mean(self.reward(feat).float())

    def cont_prob(self, feat: Tensor) -> Tensor:
        return torch.sigmoid(self.cont(feat).squeeze(-1).float())

    # -- training ----------------------------------------------------------------------------
    def observe(self, obs: Tensor, action: Tensor, is_first: Tensor) -> Posterior:
        """Encode all B*T observations at once; only the GRU runs step by step."""
        post = self.encode(obs)
        keep = (1.0 - is_first.float()).unsqueeze(-1)  # [B, T, 1]
        keep[:, 0] = 0.0  # a replayed sequence starts from a reset state
        prev_code = torch.cat([torch.zeros_like(post.code[:, :1]), post.code[:, :-1]], 1)
        prev_act = torch.cat([torch.zeros_like(action[:, :1]), action[:, :-1]], 1)
        inputs = self.img_in(torch.cat([prev_code, prev_act], -1) * keep)  # [B, T, units]
        h = inputs.new_zeros(obs.shape[0], self.deter)
        hs = []
        for t in range(obs.shape[1]):
            h = self.gru(inputs[:, t], h * keep[:, t])
            hs.append(h)
        return Posterior(torch.stack(hs, 1), post)

    def dynamics_losses(self, post: QuantizerOutput, prior_params: Tensor
                        ) -> tuple[Tensor, Tensor]:
        """dyn = KL(sg(posterior) || prior) trains the prior toward the codes;
        rep = KL(posterior || sg(prior)) pulls stochastic posteriors toward what is
        predictable. Summed over groups, then free bits: no gradient below `free_bits` nats
        (for divergences only; see agent/priors.py)."""
        dyn, rep = self.prior_dist.losses(post, prior_params)
        if self.prior_dist.free_bits:
            dyn, rep = dyn.clamp(min=self.free_bits), rep.clamp(min=self.free_bits)
        return dyn.mean(), rep.mean()

    def loss(self, batch: Batch) -> tuple[dict[str, Tensor], Posterior]:
        """The named loss terms (means over B, T) and the posterior states."""
        states = self.observe(batch.obs, batch.action, batch.is_first)
        post = states.post
        feat = self.feat(states.h, post.code)
        dyn, rep = self.dynamics_losses(post, self.prior(states.h))
        recon = (self.decoder(feat) - symlog(batch.obs)).pow(2).sum(-1)
        cont_logit = self.cont(feat).squeeze(-1)
        losses = {
            "recon": recon.mean(),
            "reward": self.twohot.loss(self.reward(feat).float(), batch.reward).mean(),
            "cont": nn.functional.binary_cross_entropy_with_logits(
                cont_logit.float(), batch.cont).mean(),
            "dyn": dyn,
            "rep": rep,
        }
        losses.update({f"quant_{k}": v for k, v in post.losses.items()})
        return losses, states
