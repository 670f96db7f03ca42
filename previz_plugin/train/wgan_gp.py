"""The WGAN-GP step rule (Gulrajani et al. 2017): critic and generator losses and the gradient penalty.

The loop owns the optimizers and the order of steps; this module only says what each loss is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Scorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def gradient_penalty(critic: Scorer, real: torch.Tensor, fake: torch.Tensor, class_id: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
    """Return weight * mean over samples of (||grad_x critic(x_hat)||_2 - 1)^2.

    x_hat is a per-sample random interpolate between a real and a fake sample; the norm is taken per
    sample over every non-batch dimension. create_graph=True so the penalty's own gradient reaches the
    critic's weights (the double backward that makes the penalty train the critic).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    mix = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    interpolates = (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)
    scores = critic(interpolates, class_id)
    (gradients,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    norms = gradients.float().flatten(start_dim=1).norm(2, dim=1)  # float32 even under bf16 autocast
    return weight * ((norms - 1.0) ** 2).mean()


@dataclass(frozen=True)
class CriticLoss:
    total: torch.Tensor
    wasserstein: float  # E[critic(real)] - E[critic(fake)]: the critic's estimate of the distance
    penalty: float


def critic_loss(critic: Scorer, real: torch.Tensor, fake: torch.Tensor, class_id: torch.Tensor, weight: float) -> CriticLoss:
    """Return the critic's loss E[D(fake)] - E[D(real)] + penalty, to be minimised."""
    real_score = critic(real, class_id).float().mean()
    fake_score = critic(fake.detach(), class_id).float().mean()
    penalty = gradient_penalty(critic, real, fake, class_id, weight)
    total = fake_score - real_score + penalty
    return CriticLoss(total, float((real_score - fake_score).detach()), float(penalty.detach()))


def generator_loss(critic: Scorer, fake: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
    """Return the generator's loss -E[D(G(z))], to be minimised."""
    return -critic(fake, class_id).float().mean()
