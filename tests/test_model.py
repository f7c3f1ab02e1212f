import pytest
import torch

from backprop_ninja.engine.exercises.forward import autograd_gradients
from backprop_ninja.packs.makemore4.exercises import EX1, EX3, INSTANCES
from backprop_ninja.packs.makemore.model import EXPANDED, FUSED, Instance, batch, learner_data, parameters

pytestmark = pytest.mark.fast  # pure pieces: the fast tier


def test_lecture_instance_has_the_lectures_sizes():
    params = parameters(Instance("lecture"))
    assert sum(p.nelement() for p in params.values()) == 4137
    ns = EX1.namespace(Instance("lecture"))
    shapes = {name: tuple(ns[name].shape) for name in EXPANDED.tensors}
    assert shapes["emb"] == (32, 3, 10) and shapes["embcat"] == (32, 30)
    assert shapes["bnmeani"] == (1, 64) and shapes["logit_maxes"] == (32, 1)
    assert shapes["loss"] == () and len(EXPANDED.tensors) == 20


def test_fused_forward_pass_is_the_expanded_one():
    lecture = Instance("lecture")
    params, data = parameters(lecture), learner_data(lecture, *batch(lecture))
    expanded, fused = EXPANDED(params, data), FUSED(params, data)
    assert torch.allclose(expanded["loss"], fused["loss"])
    assert torch.allclose(expanded["hpreact"], fused["hpreact"], atol=1e-6)


def test_instances_are_reproducible_and_change_every_hard_coded_size():
    a, b = parameters(INSTANCES[0]), parameters(INSTANCES[0])
    assert all(torch.equal(a[k], b[k]) for k in a)
    lecture = INSTANCES[0]
    for size in ("n", "n_hidden", "n_embd", "block_size", "vocab_size"):
        assert any(getattr(i, size) != getattr(lecture, size) for i in INSTANCES), size
    assert {i.dtype for i in INSTANCES} == {torch.float32, torch.float64}


def test_learner_sees_the_same_forward_pass_without_autograd_history():
    for instance in INSTANCES:
        ns = EX1.namespace(instance)
        params = {k: p.requires_grad_() for k, p in parameters(instance).items()}
        with_grad = EXPANDED(params, learner_data(instance, *batch(instance)))
        for name in EXPANDED.tensors:
            assert torch.equal(ns[name], with_grad[name].detach()), name
            assert not ns[name].requires_grad and ns[name].grad_fn is None
        assert not any(name in ns for name in EX1.names), "the answers must not be in the namespace"
        given = EX3.namespace(instance)["dhpreact"]
        data = learner_data(instance, *batch(instance))
        truth = autograd_gradients(EXPANDED, parameters(instance), data, ("dhpreact",))
        assert torch.equal(given, truth["dhpreact"])
