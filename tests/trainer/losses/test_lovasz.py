import torch

from spot.trainer.losses import CrossEntropyLovasz, lovasz_softmax


def _one_hot(pred, num_classes):
    return torch.nn.functional.one_hot(torch.tensor(pred), num_classes).double()


def test_hard_predictions_give_one_minus_mean_iou():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = [0, 1, 1, 1, 2, 0]
    # IoU: class 0 = 1/3, class 1 = 2/3, class 2 = 1/2
    expected = 1 - (1 / 3 + 2 / 3 + 1 / 2) / 3
    loss = lovasz_softmax(_one_hot(pred, 3), labels)
    assert abs(loss.item() - expected) < 1e-12


def test_perfect_prediction_is_zero_and_ignore_is_honoured():
    labels = torch.tensor([0, 1, 2, -1])
    probs = _one_hot([0, 1, 2, 0], 3)
    assert lovasz_softmax(probs, labels).item() == 0.0
    assert lovasz_softmax(probs, torch.full((4,), -1)).item() == 0.0


def test_absent_classes_are_skipped():
    labels = torch.tensor([0, 0])
    probs = torch.tensor([[0.75, 0.25, 0.0], [0.5, 0.5, 0.0]], dtype=torch.float64)
    # One present class: errors 0.25, 0.5 sorted desc -> grads (1/2, 1/2) -> 0.375.
    assert abs(lovasz_softmax(probs, labels).item() - 0.375) < 1e-12


def test_cross_entropy_lovasz_weights_and_gradients():
    torch.manual_seed(0)
    logits = torch.randn(50, 4, requires_grad=True)
    labels = torch.randint(0, 4, (50,))
    loss_fn = CrossEntropyLovasz(4, class_weights=[2.0, 1.0, 1.0, 0.01], lovasz_weight=0.5)
    parts = loss_fn(logits, labels)
    ce = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor([2.0, 1.0, 1.0, 0.01]))
    assert torch.allclose(parts["loss_ce"], ce)
    assert torch.allclose(parts["loss"], ce + 0.5 * parts["loss_lovasz"])
    parts["loss"].backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_all_ignored_gives_zero_not_nan():
    loss_fn = CrossEntropyLovasz(3)
    logits = torch.randn(5, 3, requires_grad=True)
    parts = loss_fn(logits, torch.full((5,), -1))
    assert parts["loss"].item() == 0.0
    parts["loss"].backward()


def test_the_cpu_sort_gives_torch_sorts_loss_and_gradient(monkeypatch):
    import spot.trainer.losses.lovasz as lovasz

    torch.manual_seed(0)
    logits = torch.randn(5000, 6, requires_grad=True)
    labels = torch.randint(-1, 6, (5000,))
    values = torch.rand(5000)
    assert torch.equal(values[lovasz.descending_order(values)], torch.sort(values, descending=True).values)

    def loss_and_gradient():
        loss = lovasz.lovasz_softmax(torch.softmax(logits, 1), labels)
        return loss, torch.autograd.grad(loss, logits)[0]

    loss, gradient = loss_and_gradient()
    monkeypatch.setattr(lovasz, "descending_order", lambda v: torch.sort(v, descending=True).indices)
    reference, reference_gradient = loss_and_gradient()
    assert torch.allclose(loss, reference, rtol=1e-6) and torch.allclose(gradient, reference_gradient, atol=1e-7)
