"""The gradient penalty against closed forms, and the losses' signs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from previz_plugin.train.wgan_gp import critic_loss, generator_loss, gradient_penalty  # noqa: E402


def test_linear_critic_penalty_equals_formula_and_trains_the_critic() -> None:
    torch.manual_seed(0)
    weight = torch.randn(3, 4, 5, requires_grad=True)

    def critic(x: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        # Its input gradient is `weight` for every sample, wherever the interpolate falls.
        return (x * weight).flatten(1).sum(1)

    real, fake = torch.randn(6, 3, 4, 5), torch.randn(6, 3, 4, 5)
    penalty = gradient_penalty(critic, real, fake, torch.zeros(6, dtype=torch.long), weight=10.0)
    norm = weight.detach().norm()
    assert penalty.item() == pytest.approx(10.0 * (norm.item() - 1.0) ** 2, rel=1e-5)
    penalty.backward()  # needs create_graph=True: the penalty must reach the critic's weights
    expected_grad = 2 * 10.0 * (norm - 1.0) * weight.detach() / norm
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad, expected_grad, rtol=1e-4, atol=1e-5)


def test_quadratic_critic_penalty_uses_per_sample_interpolates_and_norms() -> None:
    def critic(x: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x**2).flatten(1).sum(1)  # gradient = x itself

    real, fake = torch.randn(8, 2, 3, 4, 4), torch.randn(8, 2, 3, 4, 4)
    torch.manual_seed(123)
    penalty = gradient_penalty(critic, real, fake, torch.zeros(8, dtype=torch.long), weight=10.0)
    torch.manual_seed(123)
    mix = torch.rand(8, 1, 1, 1, 1)
    interpolates = mix * real + (1 - mix) * fake
    norms = interpolates.flatten(1).norm(dim=1)
    assert penalty.item() == pytest.approx(10.0 * ((norms - 1) ** 2).mean().item(), rel=1e-5)
    assert len(set(mix.flatten().tolist())) == 8  # one mixing weight per sample, not per batch


def test_losses_have_wasserstein_signs() -> None:
    def critic(x: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).mean(1)

    real, fake = torch.ones(4, 3) * 2, torch.zeros(4, 3)
    loss = critic_loss(critic, real, fake, torch.zeros(4, dtype=torch.long), weight=0.0)
    assert loss.wasserstein == pytest.approx(2.0)
    assert loss.total.item() == pytest.approx(-2.0)
    assert generator_loss(critic, fake, torch.zeros(4, dtype=torch.long)).item() == pytest.approx(0.0)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        gradient_penalty(lambda x, c: x.sum(1), torch.zeros(2, 3), torch.zeros(3, 3), torch.zeros(2, dtype=torch.long))
