"""The world model: o_t -> e_t -> quantizer -> c_t, h_t = f(h_{t-1}, c_{t-1}, a_{t-1}),
a prior over c_t from h_t, and decoder / reward / continue heads on s_t = [h_t, c_t].

Time alignment inside a replayed sequence (h is reset where is_first is set, and at t=0):

    index      t=0    t=1    t=2 ...
    obs        o_0    o_1    o_2
    action     a_0    a_1    a_2      a_t taken after seeing o_t
    reward     r_0    r_1    r_2      r_t received on arriving at o_t
    h          h_0 = f(0, 0, 0)   h_1 = f(h_0, c_0, a_0)   ...
"""

from collections.abc import Iterable, Iterator
from typing import NamedTuple

import torch
from torch import Tensor, nn

from agent.config import STEP_INPUTS, Config
from agent.data import Batch, Obs
from agent.distributions import TwoHot, symexp, symlog
from agent.errors import ConfigError
from agent.model.convnets import LIKELIHOODS, ConvDecoder, ConvEncoder
from agent.model.networks import dense_block, mlp, scale_gradient
from agent.model.priors import make_prior
from agent.quantizers import QuantizerOutput, build
from envs.observations import ObservationSpec


class ObservedStates(NamedTuple):
    h: Tensor                   # [B, T, deter]
    quantized: QuantizerOutput  # the posterior: code [B, T, code_dim], probs [B, T, G, K]


class WorldModel(nn.Module):
    """`spec` says which observation keys are vectors (an MLP on their symlog, concatenated)
    and which are images (a CNN each); with images, one linear layer merges the embeddings."""

    LOSSES = ("recon", "reward", "cont", "dyn", "rep", "overshoot")
    """The terms `loss` returns besides the quantizer's own (as quant_<name>; `overshoot`
    only with model.overshoot > 0); each has a scale of the same name in the config's
    loss_scales, the quantizer's terms `quant`."""

    def __init__(self, spec: ObservationSpec, act_dim: int, cfg: Config):
        super().__init__()
        m = cfg.model
        self.free_bits = cfg.train.free_bits
        self.prior_grad_into_h = m.prior_grad_into_h
        self.dyn_grad_into_code = m.dyn_grad_into_code
        self.terminal_weight = m.terminal_weight
        self.overshoot = m.overshoot
        self.vector_keys, self.image_keys = spec.vector_keys, spec.image_keys
        self.spec_sizes = {k: spec.keys[k].shape[0] for k in self.vector_keys}
        vector_dim = sum(self.spec_sizes.values())
        self.encoder = mlp(vector_dim, m.units, m.layers) if self.vector_keys else None
        self.image_encoders = nn.ModuleDict({k: ConvEncoder(spec.keys[k].shape, m.cnn_depth,
                                                             m.cnn_min_res)
                                             for k in self.image_keys})
        if self.image_keys:
            width = (m.units if self.vector_keys else 0) + sum(
                e.out_dim for e in self.image_encoders.values())
            self.merge = dense_block(width, m.units)
        self.quantizer = build(cfg.quantizer, m.units)
        q = self.quantizer
        self.code_dim, self.deter = q.code_dim, m.deter
        if m.step_input not in STEP_INPUTS:
            raise ConfigError(f"model.step_input={m.step_input!r}: use "
                              f"{' or '.join(STEP_INPUTS)}")
        # joint: one block reads the code and the action together (the action is act_dim of
        # code_dim + act_dim inputs); separate: each its own block, as wide as the other.
        # The code's block keeps the name step_input, so joint runs saved before
        # model.step_input existed load under the same parameter names.
        separate = m.step_input == "separate"
        self.step_input = dense_block(q.code_dim + (0 if separate else act_dim), m.units)
        self.action_input = dense_block(act_dim, m.units) if separate else None
        self.gru = nn.GRUCell(m.units * (2 if separate else 1), m.deter)
        self.prior_dist = make_prior(q, m.prior_unimix)
        self.prior = mlp(m.deter, m.units, 1, out=self.prior_dist.size)
        self.feat_dim = m.deter + q.code_dim
        self.decoder = (mlp(self.feat_dim, m.units, m.layers, out=vector_dim)
                        if self.vector_keys else None)
        if m.image_likelihood not in LIKELIHOODS:
            raise ConfigError(f"model.image_likelihood={m.image_likelihood!r}: use "
                              f"{' or '.join(LIKELIHOODS)}")
        if m.image_decoder_start not in ("random", "mean_frame"):
            raise ConfigError(f"model.image_decoder_start={m.image_decoder_start!r}: use "
                              f"random or mean_frame")
        self.image_decoders = nn.ModuleDict({
            k: ConvDecoder(self.feat_dim, spec.keys[k].shape, m.cnn_depth,
                           mean_frame=m.image_decoder_start == "mean_frame",
                           min_res=m.cnn_min_res, likelihood=m.image_likelihood)
            for k in self.image_keys})
        # Whether start_from has run (saved with the weights, so a resumed run keeps its).
        self.register_buffer("started", torch.tensor(False))
        self._known_started = False
        self.reward = mlp(self.feat_dim, m.units, m.layers, out=m.reward_bins,
                          outscale=m.reward_outscale)
        self.cont = mlp(self.feat_dim, m.units, m.layers, out=1)
        self.twohot = TwoHot(m.reward_bins)

    # -- pieces used by acting and imagination --------------------------------------------
    def embedding(self, obs: Obs) -> Tensor:
        """{key: [..., *shape]} -> e(o) [..., units]."""
        parts = [self.encoder(symlog(self.vectors(obs)))] if self.vector_keys else []
        parts += [self.image_encoders[k](obs[k]) for k in self.image_keys]
        return self.merge(torch.cat(parts, -1)) if self.image_keys else parts[0]

    def vectors(self, obs: Obs) -> Tensor:
        """The vector keys, concatenated in the spec's order."""
        return torch.cat([obs[k].float() for k in self.vector_keys], -1)

    def encode(self, obs: Obs) -> QuantizerOutput:
        """obs -> the quantizer's output for c = f(e(o)). The quantizer runs in fp32 under
        bf16 autocast too: rounding and codebook distances need the precision."""
        embedding = self.embedding(obs)
        with torch.autocast(embedding.device.type, enabled=False):
            return self.quantizer(embedding.float())

    def decode(self, feat: Tensor) -> Obs:
        """Features -> the predicted observation: vector keys on their own scale (the
        decoder predicts symlog), images as uint8 pixels."""
        out: Obs = {}
        if self.vector_keys:
            sizes = [self.spec_sizes[k] for k in self.vector_keys]
            out |= dict(zip(self.vector_keys, symexp(self.decoder(feat)).split(sizes, -1),
                            strict=True))
        for k in self.image_keys:
            decoder = self.image_decoders[k]
            out[k] = decoder.pixels(decoder(feat))
        return out

    def reconstruction_loss(self, feat: Tensor, obs: Obs) -> Tensor:
        """The reconstruction's negative log-likelihood summed over every dimension of every
        key: vectors' squared error on the symlog scale, images' by model.image_likelihood
        (squared error on pixel / 255 - 0.5, or Bernoulli cross-entropy)."""
        loss = 0.0
        if self.vector_keys:
            loss = (self.decoder(feat) - symlog(self.vectors(obs))).pow(2).sum(-1)
        for k in self.image_keys:
            decoder = self.image_decoders[k]
            loss = loss + decoder.loss(decoder(feat), obs[k])
        return loss

    def sequence_input(self, code: Tensor, action: Tensor) -> Tensor:
        """What the GRU reads from the code and action it is fed (model.step_input)."""
        if self.action_input is None:
            return self.step_input(torch.cat([code, action], -1))
        return torch.cat([self.step_input(code), self.action_input(action)], -1)

    def step(self, h: Tensor, code: Tensor, action: Tensor) -> Tensor:
        """One step of the sequence model: h' = f(h, c, a)."""
        return self.gru(self.sequence_input(code, action), h)

    def sample_code(self, h: Tensor) -> Tensor:
        """A code drawn from the prior given h: for discrete quantizers, indices sampled from
        G x K classes and turned into a code by `quantizer.indices_to_code`."""
        return self.prior_dist.sample(self.prior(h))

    def likeliest_code(self, h: Tensor) -> Tensor:
        """The prior's most probable code given h (its mean, for a continuous prior)."""
        return self.prior_dist.likeliest(self.prior(h))

    def dream(self, h: Tensor, code: Tensor, actions: Iterable[Tensor], likeliest: bool = False
              ) -> Iterator[tuple[Tensor, Tensor]]:
        """The prior alone from (h, code), fed `actions` one per step (actions known in
        advance, as in the open-loop diagnostics; imagination's come from the actor): the
        (h, code) of each step reached, its code sampled, or with `likeliest` the prior's
        most probable one (no sampling noise)."""
        for action in actions:
            h = self.step(h, code, action)
            code = self.likeliest_code(h) if likeliest else self.sample_code(h)
            yield h, code

    def feat(self, h: Tensor, code: Tensor) -> Tensor:
        return torch.cat([h, code], -1)

    def reward_mean(self, feat: Tensor) -> Tensor:
        return self.twohot.mean(self.reward(feat).float())

    def cont_prob(self, feat: Tensor) -> Tensor:
        return torch.sigmoid(self.cont(feat).squeeze(-1).float())

    # -- training ----------------------------------------------------------------------------
    @torch.no_grad()
    def start_from(self, obs: Obs) -> None:
        """Once, before the first update: what starts from data (the image decoders' mean
        frames) takes it from this replayed batch."""
        if self._known_started:  # a Python flag: reading the buffer each update would sync
            return
        if not self.started:
            for k in self.image_keys:
                self.image_decoders[k].start_from(obs[k])
            self.started.fill_(True)
        self._known_started = True

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A checkpoint from before `started` existed has trained: nothing is to start.
        state_dict.setdefault(prefix + "started", torch.tensor(True))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._known_started = False  # read the loaded buffer at the next update

    def observe(self, obs: Obs, action: Tensor, is_first: Tensor) -> ObservedStates:
        """Encode all B*T observations at once; only the GRU runs step by step."""
        quantized = self.encode(obs)
        return ObservedStates(self.unroll(quantized.code, action, is_first), quantized)

    def unroll(self, code: Tensor, action: Tensor, is_first: Tensor) -> Tensor:
        """h at every step of replayed sequences [B, T] fed these codes and actions."""
        keep = (1.0 - is_first.float()).unsqueeze(-1)  # [B, T, 1]
        keep[:, 0] = 0.0  # a replayed sequence starts from a reset state
        prev_code = torch.cat([torch.zeros_like(code[:, :1]), code[:, :-1]], 1)
        prev_act = torch.cat([torch.zeros_like(action[:, :1]), action[:, :-1]], 1)
        inputs = self.sequence_input(prev_code * keep, prev_act * keep)  # [B, T, GRU input]
        h = inputs.new_zeros(action.shape[0], self.deter)
        hs = []
        for t in range(action.shape[1]):
            h = self.gru(inputs[:, t], h * keep[:, t])
            hs.append(h)
        return torch.stack(hs, 1)

    def prior_input(self, states: ObservedStates, action: Tensor, is_first: Tensor) -> Tensor:
        """The h the prior reads in the dynamics loss: the observed h, with its gradient
        into the codes it was fed scaled by `dyn_grad_into_code` and its whole gradient by
        `prior_grad_into_h`. A share other than 1 costs a second unroll of the GRU (the
        same values, forward and backward) each update, unless no gradient reaches h."""
        h = states.h
        if self.dyn_grad_into_code != 1 and self.prior_grad_into_h != 0:
            code = scale_gradient(states.quantized.code, self.dyn_grad_into_code)
            h = self.unroll(code, action, is_first)
        return scale_gradient(h, self.prior_grad_into_h)

    def dynamics_losses(self, posterior: QuantizerOutput, prior_params: Tensor
                        ) -> tuple[Tensor, Tensor]:
        """dyn = KL(sg(posterior) || prior) trains the prior toward the codes;
        rep = KL(posterior || sg(prior)) pulls the posterior toward what is predictable
        (a one-hot posterior only through a surrogate gradient, e.g. fsq's rep_temperature).
        Summed over groups, then free bits: no gradient below `free_bits` nats (for
        divergences only; see agent/model/priors.py)."""
        dyn, rep = self.prior_dist.losses(posterior, prior_params)
        if self.prior_dist.is_divergence:
            dyn, rep = dyn.clamp(min=self.free_bits), rep.clamp(min=self.free_bits)
        return dyn.mean(), rep.mean()

    def overshoot_loss(self, states: ObservedStates, prior_params: Tensor, action: Tensor,
                       is_first: Tensor) -> Tensor:
        """The dynamics loss k = 2 .. overshoot + 1 steps ahead (the one-step loss is `dyn`):
        from each replayed h_t the prior is rolled on its own sampled codes, fed the actions
        taken, and each step's prediction is scored against the posterior code there, as
        imagination rolls it (PlaNet's latent overshooting, on sampled codes). Trains the
        step and action inputs, the GRU and the prior head: the start h and the samples are
        detached, so the encoder gets none of it; `prior_grad_into_h` scales what reaches the
        rolled h as it does for `dyn` (at 0 only the prior head learns from it). Free bits apply per
        step as in `dyn`; steps past the window or across an episode's start are left out.
        One mean over every scored (start, step): a larger K adds terms, not weight.
        `prior_params`: the prior's output on the observed h, which the one-step loss has
        already computed."""
        posterior = states.quantized
        keep = 1.0 - is_first.float()  # [B, T]
        h, valid = states.h.detach(), torch.ones_like(keep)
        total = count = 0.0
        params = prior_params.detach()
        for k in range(1, self.overshoot + 1):
            h, params = h[:, :-1], params[:, :-1]  # starts whose t + k is in the window
            code = self.prior_dist.sample(params).detach()
            taken = action[:, k - 1:k - 1 + h.shape[1]]
            h = self.step(h.flatten(0, 1), code.flatten(0, 1), taken.flatten(0, 1)
                          ).unflatten(0, h.shape[:2])  # a GRU cell takes one batch dim
            valid = valid[:, :-1] * keep[:, k:]  # no episode start in (t, t + k]
            target = QuantizerOutput(posterior.code[:, k:], posterior.indices[:, k:],
                                     posterior.probs[:, k:], {}, {})
            params = self.prior(scale_gradient(h, self.prior_grad_into_h))
            dyn, _ = self.prior_dist.losses(target, params)
            if self.prior_dist.is_divergence:
                dyn = dyn.clamp(min=self.free_bits)
            total = total + (dyn * valid).sum()
            count = count + valid.sum()
        return total / count.clamp(min=1.0)

    def continue_weights(self, cont: Tensor) -> Tensor | None:
        """Per-step weights of the continue loss: terminal_weight where an episode ended, 1
        elsewhere (None, unweighted, at the default 1)."""
        if self.terminal_weight == 1:
            return None
        return 1 + (self.terminal_weight - 1) * (1 - cont)

    def loss(self, batch: Batch) -> tuple[dict[str, Tensor], ObservedStates]:
        """The named loss terms (means over B, T) and the posterior states."""
        states = self.observe(batch.obs, batch.action, batch.is_first)
        posterior = states.quantized
        feat = self.feat(states.h, posterior.code)
        prior_params = self.prior(self.prior_input(states, batch.action, batch.is_first))
        dyn, rep = self.dynamics_losses(posterior, prior_params)
        recon = self.reconstruction_loss(feat, batch.obs)
        cont_logit = self.cont(feat).squeeze(-1)
        losses = {
            "recon": recon.mean(),
            "reward": self.twohot.loss(self.reward(feat).float(), batch.reward).mean(),
            "cont": nn.functional.binary_cross_entropy_with_logits(
                cont_logit.float(), batch.cont, weight=self.continue_weights(batch.cont)).mean(),
            "dyn": dyn,
            "rep": rep,
        }
        if self.overshoot:
            losses["overshoot"] = self.overshoot_loss(states, prior_params, batch.action,
                                                      batch.is_first)
        losses.update({f"quant_{k}": v for k, v in posterior.losses.items()})
        return losses, states
