"""Knowledge distillation (``train.teacher``): the soft term is the temperature-scaled KL divergence and its
gradient the known closed form, a training step mixes it into the recipe's loss with the teacher frozen,
the card records it, and misuses are one line."""
import pytest
import torch
import torch.nn.functional as F

from zoo.errors import RecipeError
from zoo.hub.publish import publish
from zoo.hub.report import training_summary
from zoo.train.config import load_recipe
from zoo.train.distillation import describe, distillation_loss, recipe_keys
from zoo.train.trainer import Trainer

TEACHER = "ann_resnet20.cifar10_qcfs_leg1"  # a shipped CIFAR-10 ANN (width 16)


def _logits(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3


@pytest.mark.parametrize("tau", [1.0, 4.0])
def test_soft_term_is_tau_squared_times_the_kl_divergence_per_sample(tau):
    steps, teacher = _logits(0, 3, 5, 10), _logits(1, 5, 10)
    p_teacher = torch.softmax(teacher / tau, 1)
    p_student = torch.softmax(steps.mean(0) / tau, 1)
    by_hand = tau ** 2 * (p_teacher * (p_teacher.log() - p_student.log())).sum(1).mean()
    torch.testing.assert_close(distillation_loss(steps, teacher, "soft", tau), by_hand, rtol=1e-12, atol=1e-12)
    assert distillation_loss(teacher.expand(3, 5, 10), teacher, "soft", tau).abs() < 1e-12  # equal logits


@pytest.mark.parametrize("tau", [1.0, 3.0])
def test_soft_gradient_is_tau_times_the_difference_of_the_distributions(tau):
    """d/d rates of tau^2 KL(p_t || softmax(rates / tau)) = tau (softmax(rates / tau) - p_t), over the batch;
    each of the T steps gets 1/T of it through the mean."""
    T, batch = 4, 6
    steps, teacher = _logits(2, T, batch, 10).requires_grad_(), _logits(3, batch, 10)
    distillation_loss(steps, teacher, "soft", tau).backward()
    rates = steps.detach().mean(0)
    closed_form = tau * (torch.softmax(rates / tau, 1) - torch.softmax(teacher / tau, 1)) / batch
    torch.testing.assert_close(steps.grad, closed_form.expand(T, batch, 10) / T, rtol=1e-10, atol=1e-12)


def test_hard_term_is_the_cross_entropy_against_the_teachers_class():
    steps, teacher = _logits(4, 2, 7, 10), _logits(5, 7, 10)
    torch.testing.assert_close(distillation_loss(steps, teacher, "hard"),
                               F.cross_entropy(steps.mean(0), teacher.argmax(1)))


def _config(root, **train):
    return load_recipe({"model": {"name": "ann_resnet20", "kwargs": {"width": 8}},
                        "data": {"name": "cifar10", "root": str(root), "val_fraction": 0.25},
                        "train": {"steps": 1, "batch_size": 6, "eval_batch_size": 10, "channels_last": False,
                                  "teacher": TEACHER, **train}})


def test_a_step_trains_on_the_mixed_loss_with_the_teacher_frozen(cifar_root, tmp_path):
    trainer = Trainer(_config(cifar_root, distillation_alpha=0.3, distillation_tau=2.0), tmp_path / "run",
                      progress=False)
    images, labels = torch.rand(6, 3, 32, 32), torch.arange(6) % 10
    with torch.no_grad():
        steps = trainer.model.train().forward_steps(images)
        teacher_logits = trainer.teacher.model(images)
    expected = 0.7 * F.cross_entropy(steps.mean(0), labels) + 0.3 * distillation_loss(steps, teacher_logits, "soft", 2.0)
    teacher_before = {k: v.clone() for k, v in trainer.teacher.model.state_dict().items()}
    student_before = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    loss, _ = trainer._train_step(images, labels)

    assert loss == pytest.approx(float(expected), rel=1e-5)
    assert not trainer.teacher.model.training
    assert all(p.grad is None for p in trainer.teacher.model.parameters())
    assert all(torch.equal(v, teacher_before[k]) for k, v in trainer.teacher.model.state_dict().items())
    assert any(not torch.equal(v, student_before[k]) for k, v in trainer.model.state_dict().items())


def test_the_card_names_the_teacher(cifar_root, tmp_path):
    trainer = Trainer(_config(cifar_root, distillation_type="hard"), tmp_path / "run", progress=False)
    trainer.fit()
    card = publish(tmp_path / "run" / "checkpoints" / "last.pt", tag="distilled", out_dir=tmp_path / "w", batch_size=10)
    assert card["train"]["distillation"] == {"teacher": TEACHER, "type": "hard", "alpha": 0.5, "tau": 1.0}
    assert training_summary(card).endswith(f"distilled from `{TEACHER}` (hard, alpha 0.5)")
    # a conversion of the published weight reads its card's `train` back as the run's: the record carries over
    assert describe(recipe_keys(card["train"])) == {"distillation": card["train"]["distillation"]}


@pytest.mark.parametrize("train, message", [
    ({"teacher": "ann_resnet20"}, r"train.teacher must name a published weight \(arch.tag\), got 'ann_resnet20'"),
    ({"distillation_type": "sfot"}, r"train.distillation_type must be one of soft, hard, got 'sfot'; did you mean soft\?"),
    ({"distillation_alpha": 0}, r"train.distillation_alpha must be in \(0, 1\], got 0"),
    ({"distillation_tau": -1.0}, r"train.distillation_tau must be positive, got -1.0"),
    ({"gradient": "sltt"}, r"train.teacher distils through the whole read-out: it needs train.gradient: bptt, not 'sltt'"),
])
def test_recipe_misuses_are_one_line(cifar_root, train, message):
    with pytest.raises(RecipeError, match=message):
        _config(cifar_root, **train)


def test_a_teacher_that_is_no_weight_or_does_not_fit_the_data_is_one_line(cifar_root, fmnist_root, tmp_path):
    with pytest.raises(RecipeError, match=r"train.teacher ann_resnet20.cifar10_qcfs_legl: .*did you mean "
                                          r".*ann_resnet20.cifar10_qcfs_leg1"):
        Trainer(_config(cifar_root, teacher="ann_resnet20.cifar10_qcfs_legl"), tmp_path / "a", progress=False)
    config = load_recipe({"model": {"name": "stbp_cnn", "kwargs": {"T": 2}}, "data": {"name": "fashion_mnist", "root": str(fmnist_root)},
                          "train": {"steps": 1, "teacher": TEACHER}})
    with pytest.raises(RecipeError, match=rf"train.teacher {TEACHER} does not take this data's samples "
                                          r"\(a batch of shape \(2, 1, 28, 28\)\): "):
        Trainer(config, tmp_path / "b", progress=False)
