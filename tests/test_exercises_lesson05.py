"""seglib.exercises.lesson05: solutions pass, stubs are "not attempted", known mistakes are named."""
import pytest
import torch
from torch import nn

from seglib.exercises import lesson05 as ex
from seglib.models.fcn import FCN, count_parameters
from seglib.models.parsenet import L2Norm, ParseNet, replicate
from seglib.models.vgg import vgg16


def _stub(*args, **kwargs):
    raise NotImplementedError


CHECKS = [(ex.check_context_overhead, ex.solution_context_overhead, ex.CONTEXT_OVERHEAD_MISTAKES),
          (ex.check_replicate, ex.solution_replicate, ex.REPLICATE_MISTAKES),
          (ex.check_global_max, ex.solution_global_max, ex.GLOBAL_MAX_MISTAKES)]
MISTAKES = [(check, hint, wrong) for check, _, mistakes in CHECKS for hint, wrong in mistakes.items()]


@pytest.mark.parametrize("check,solution,_", CHECKS)
def test_solutions_pass_and_stubs_are_not_attempted(check, solution, _):
    assert check(solution).passed
    result = check(_stub)
    assert not result.passed and not result.attempted and "not attempted" in repr(result)


@pytest.mark.parametrize("check,hint,wrong", MISTAKES, ids=[h[:40] for _, h, _ in MISTAKES])
def test_each_known_mistake_is_rejected_and_named(check, hint, wrong):
    result = check(wrong)
    assert not result.passed and result.attempted and hint in result.message


def test_context_overhead_matches_the_real_models():
    with torch.device("meta"):
        for width, classes in [(1.0, 21), (1 / 8, 3)]:
            fcn = FCN(classes, "32s", vgg=vgg16(width, num_classes=classes))
            parsenet = ParseNet(classes, vgg=vgg16(width, num_classes=classes))
            channels = fcn.fc7.out_channels
            assert count_parameters(parsenet) - count_parameters(fcn) == \
                ex.solution_context_overhead(channels, classes)


def test_replicate_solution_is_expand_for_a_global_vector_and_nearest_for_a_grid():
    g = torch.randn(2, 3, 1, 1)
    assert torch.equal(ex.solution_replicate(g, (4, 5)), replicate(g, (4, 5)))
    grid = torch.randn(1, 2, 2, 3)
    assert torch.equal(ex.solution_replicate(grid, (6, 9)), nn.functional.interpolate(grid, size=(6, 9)))


def test_replicate_with_expand_or_nearest_interpolation_passes():
    assert ex.check_replicate(lambda p, size: nn.functional.interpolate(p, size=tuple(size))).passed


def test_l2norm_solution_passes_and_a_stub_is_not_attempted():
    assert ex.check_l2norm(L2Norm).passed
    class Stub(nn.Module):
        def __init__(self, channels, scale):
            super().__init__()
            raise NotImplementedError
    assert not ex.check_l2norm(Stub).attempted


class _Base(nn.Module):
    def __init__(self, channels, scale):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), float(scale)))


class EpsOutside(_Base):
    def forward(self, x):
        return self.gamma.view(1, -1, 1, 1) * x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)


class OverEverything(_Base):  # Caffe's across_spatial=True: one norm per image
    def forward(self, x):
        return self.gamma.view(1, -1, 1, 1) * x / x.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


class SharedScale(nn.Module):
    def __init__(self, channels, scale):
        super().__init__()
        self.gamma = nn.Parameter(torch.tensor(float(scale)))

    def forward(self, x):
        return self.gamma * x * torch.rsqrt(x.pow(2).sum(1, keepdim=True) + 1e-10)


class FixedScale(nn.Module):
    def __init__(self, channels, scale):
        super().__init__()
        self.register_buffer("gamma", torch.full((channels,), float(scale)))

    def forward(self, x):
        return self.gamma.view(1, -1, 1, 1) * x * torch.rsqrt(x.pow(2).sum(1, keepdim=True) + 1e-10)


class ScaleStartsAtOne(_Base):
    def __init__(self, channels, scale):
        super().__init__(channels, 1.0)

    def forward(self, x):
        return self.gamma.view(1, -1, 1, 1) * x * torch.rsqrt(x.pow(2).sum(1, keepdim=True) + 1e-10)


@pytest.mark.parametrize("cls,message", [
    (EpsOutside, "put eps inside the square root"),
    (OverEverything, "norm over channels ranges"),
    (SharedScale, "one scale per channel"),
    (FixedScale, "exactly one learnable parameter"),
    (ScaleStartsAtOne, "the scales should start at 10.0"),
])
def test_l2norm_check_names_each_mistake(cls, message):
    result = ex.check_l2norm(cls)
    assert not result.passed and result.attempted and message in result.message


def test_global_max_accepts_amax_and_max_twice():
    twice = lambda x: x.max(dim=3, keepdim=True).values.max(dim=2, keepdim=True).values  # noqa: E731
    assert ex.check_global_max(twice).passed
    assert ex.check_global_max(lambda x: torch.nn.functional.adaptive_max_pool2d(x, 1)).passed


def test_compare_pools_with_the_average_reproduces_the_tiny_net_and_the_stored_sweep():
    from seglib import sweep
    from seglib.models.parsenet import global_average
    results = ex.compare_pools(global_average, seeds=(0,))
    assert results["average"][0] == results["yours"][0]
    stored = sweep.load("parsenet").runs[1][0]["tiny net + global average"]
    # another processor adds in another order: a few thousandths apart after 300 Adam steps
    assert results["average"][0]["mIoU"] == pytest.approx(stored["mIoU"], abs=0.02)
    assert results["average"][0]["follows"] == stored["follows"] == 1.0
