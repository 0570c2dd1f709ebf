import pytest
import torch

from segue.io.checkpoint import load_checkpoint
from segue.training.trainer import TrainerConfig
from segue.training.weight_average import WeightAverage
from tests.training import test_trainer

data = test_trainer.data  # the shared fixture


def _set(model, value):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_the_average_follows_the_written_rule():
    model = torch.nn.Linear(2, 1)
    _set(model, 1.0)
    average = WeightAverage(model, decay=0.5)
    expected = 1.0
    for step, value in enumerate([3.0, -2.0, 5.0, 7.0], start=1):
        _set(model, value)
        average.update(model)
        kept = min(0.5, (1 + step) / (10 + step))  # 2/11, 3/12, 4/13, 5/14: all below 0.5
        expected = kept * expected + (1 - kept) * value
        for shadow in average.shadow:
            assert torch.allclose(shadow, torch.full_like(shadow, expected)), step
    assert average.updates == 4


def test_the_rate_stops_rising_at_the_decay():
    average = WeightAverage(torch.nn.Linear(1, 1), decay=0.9)
    average.updates = 1000
    assert average.share_kept() == 0.9
    average.updates = 80  # 81 / 90 = 0.9 exactly: the rule and the cap meet
    assert average.share_kept() == pytest.approx(0.9)
    average.updates = 10
    assert average.share_kept() == pytest.approx(11 / 20)


def test_applied_swaps_the_average_in_and_restores_the_raw_weights_even_on_error():
    model = torch.nn.Linear(2, 1)
    _set(model, 1.0)
    average = WeightAverage(model, decay=0.9)
    _set(model, 4.0)
    with average.applied(model):
        assert all(torch.all(p == 1.0) for p in model.parameters())
    assert all(torch.all(p == 4.0) for p in model.parameters())
    with pytest.raises(RuntimeError, match="boom"), average.applied(model):
        raise RuntimeError("boom")
    assert all(torch.all(p == 4.0) for p in model.parameters())
    saved = average.averaged_state_dict(model)
    assert all(torch.all(v == 1.0) for v in saved.values())
    assert all(torch.all(p == 4.0) for p in model.parameters())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1, float("nan")])
def test_a_decay_outside_the_open_interval_is_refused(decay):
    with pytest.raises(ValueError, match="ema_decay"):
        WeightAverage(torch.nn.Linear(1, 1), decay=decay)


def test_trainer_config_names_a_bad_ema_decay():
    with pytest.raises(ValueError, match="ema_decay"):
        TrainerConfig(ema_decay=1.0)
    assert TrainerConfig(ema_decay=0.0).ema_decay == 0.0  # off


def test_a_saved_average_of_another_model_is_refused():
    average = WeightAverage(torch.nn.Linear(2, 1), decay=0.9)
    other = WeightAverage(torch.nn.Linear(3, 1), decay=0.9).state_dict()
    with pytest.raises(ValueError, match="shapes"):
        average.load_state_dict(other, source="last.pt")
    with pytest.raises(ValueError, match="holds 1 tensors"):
        average.load_state_dict({**other, "shadow": other["shadow"][:1]}, source="last.pt")
    with pytest.raises(ValueError, match="update count"):
        average.load_state_dict({**average.state_dict(), "updates": -1}, source="last.pt")


# -- in the trainer ---------------------------------------------------------------------------


def _run(data, out_dir, ema_decay=0.99, validate=None, resume=False, epochs=2):
    # test_trainer's run, every epoch kept (patience) so best.pt can be the last epoch
    return test_trainer._run(
        data, out_dir, epochs, validate, resume, patience=epochs, ema_decay=ema_decay
    )


def test_training_is_unchanged_and_the_average_is_what_is_validated_and_saved(data, tmp_path):
    seen = []

    def remember(m):
        seen.append({k: v.clone() for k, v in m.state_dict().items()})
        return {"ndcg@10": float(len(seen))}  # every epoch improves: best.pt is the last one

    plain_model, _ = _run(data, tmp_path / "plain", ema_decay=0.0)
    averaged_model, _ = _run(data, tmp_path / "averaged", validate=remember)
    # The optimizer steps the raw weights exactly as without averaging.
    for name, value in plain_model.state_dict().items():
        assert torch.equal(value, averaged_model.state_dict()[name]), name
    last = load_checkpoint(tmp_path / "averaged" / "last.pt")
    best = load_checkpoint(tmp_path / "averaged" / "best.pt")
    for name, value in last.state_dict.items():
        assert torch.equal(value, averaged_model.state_dict()[name]), name  # raw, to resume
    names = [name for name, _ in averaged_model.named_parameters()]
    shadow = last.training_state["weight_average"]["shadow"]
    assert last.training_state["weight_average"]["updates"] > 0
    for name, average in zip(names, shadow, strict=True):
        assert torch.equal(best.state_dict[name], average), name
        assert torch.equal(seen[-1][name], average), name  # validated = saved
    assert any(not torch.equal(best.state_dict[n], last.state_dict[n]) for n in names)


@pytest.mark.parametrize("first, then", [(0.99, 0.0), (0.0, 0.99), (0.99, 0.999)])
def test_resuming_with_averaging_switched_or_changed_is_refused(data, tmp_path, first, then):
    _run(data, tmp_path, ema_decay=first, epochs=1)
    with pytest.raises(ValueError, match=r"trainer\.ema_decay"):
        _run(data, tmp_path, ema_decay=then, resume=True)
