"""seglib.exercises.lesson04: lesson-specific cases (the shared ones are in test_exercises_common.py)."""
import torch
from torch import nn

from seglib.exercises import lesson04 as ex
from seglib.models.fcn import FCN
from seglib.models.vgg import convolutionalize, vgg16


def test_score_map_size_matches_the_real_network():
    net = convolutionalize(vgg16(1 / 16)).eval()
    with torch.no_grad():
        scores = net(torch.rand(1, 3, 255, 288))
    assert tuple(scores.shape[-2:]) == ex.solution_score_map_size(255, 288) == (1, 3)


def test_score_map_size_accepts_lists_and_whole_floats_but_not_a_single_number():
    assert ex.check_score_map_size(lambda h, w: [h / 32 // 1 - 6, w // 32 - 6]).passed
    result = ex.check_score_map_size(lambda h, w: h // 32 - 6)
    assert not result.passed and "expected a pair (rows, columns) like (1, 1), got 1" in result.message


def test_crop_add_crops_the_skip_as_the_reference_does():
    up, skip = torch.zeros(1, 1, 2, 2), torch.arange(16.0).view(1, 1, 4, 4)
    assert ex.solution_crop_add(up, skip, 1).flatten().tolist() == [5.0, 6.0, 9.0, 10.0]


def test_crop_add_written_differently_passes_without_a_hint():
    def learner(upsampled, skip, offset):
        h, w = upsampled.shape[2], upsampled.shape[3]
        return skip.narrow(2, offset, h).narrow(3, offset, w) + upsampled
    result = ex.check_crop_add(learner)
    assert result.passed and "Hint" not in result.message


def test_cropping_the_upsampled_map_instead_fails_on_the_first_case_without_a_false_hint():
    def crops_the_wrong_tensor(up, skip, off):
        return up[..., off:off + skip.shape[-2], off:off + skip.shape[-1]] + skip
    result = ex.check_crop_add(crops_the_wrong_tensor)
    assert not result.passed and "case 1" in result.message and "Hint" not in result.message


def test_freeze_upsamplers_solution_freezes_exactly_the_2x_upsamplers():
    model = FCN(3, "8s", vgg=vgg16(1 / 16))
    ex.solution_freeze_upsamplers(model)
    frozen = {name.split(".")[0] for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"upscore", "upscore2", "upscore_pool4"}  # upscore: the fixed final upsampler
    assert ex.check_freeze_upsamplers(ex.solution_freeze_upsamplers).passed


def test_freeze_upsamplers_check_names_what_is_wrong():
    def everything(model):
        model.requires_grad_(False)
    result = ex.check_freeze_upsamplers(everything)
    assert not result.passed and "also frozen" in result.message
    result = ex.check_freeze_upsamplers(lambda model: model.upscore2.requires_grad_(False)
                                        if hasattr(model, "upscore2") else None)
    assert not result.passed and "still trainable: ['upscore_pool4.weight']" in result.message
    assert not ex.check_freeze_upsamplers(lambda model: None).passed


def test_fcn4s_solution_passes_and_starts_like_fcn8s_upsampled():
    assert ex.check_fcn4s(ex.SolutionFCN4s).passed
    out = ex._fcn4s_outputs(ex.SolutionFCN4s, (45, 77), 0.0)
    assert out.shape == (1, 3, 45, 77)


def test_fcn4s_check_rejects_a_net_that_ignores_pool2_and_a_stub():
    class NoSkip(ex.SolutionFCN4s):
        def forward(self, x):
            self.score_pool2.weight.data.zero_()
            return super().forward(x)
    result = ex.check_fcn4s(NoSkip)
    assert not result.passed and "case 3" in result.message

    class Stub(ex.SolutionFCN4s):
        def forward(self, x):
            raise NotImplementedError
    assert not ex.check_fcn4s(Stub).attempted


def test_fcn4s_pool2_reads_a_quarter_size_map():
    model = ex.SolutionFCN4s(3, vgg16(1 / 16))
    assert isinstance(model.pool2[-1], nn.MaxPool2d)
    assert model.pool2(torch.rand(1, 3, 64, 64)).shape[-1] == 16
