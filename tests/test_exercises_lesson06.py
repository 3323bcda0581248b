"""seglib.exercises.lesson06: the checks accept correct answers, reject the typical wrong ones."""
import torch
import torch.nn.functional as F

from seglib.exercises import lesson06 as ex
from seglib.models.deconvnet import DeconvNet
from seglib.models.vgg import vgg16


def test_unpool_solution_passes_and_matches_torch():
    assert ex.check_unpool(ex.solution_unpool).passed
    x = torch.randn(1, 2, 5, 7)
    p, i = F.max_pool2d(x, 2, 2, return_indices=True)
    assert torch.equal(ex.solution_unpool(p, i, (5, 7)), F.max_unpool2d(p, i, 2, 2, output_size=(5, 7)))


def test_unpool_written_with_a_loop_passes():
    def learner(pooled, indices, size):
        out = torch.zeros(*pooled.shape[:2], size[0] * size[1])
        for n in range(pooled.shape[0]):
            for c in range(pooled.shape[1]):
                for value, index in zip(pooled[n, c].flatten(), indices[n, c].flatten(), strict=True):
                    out[n, c, index] = value
        return out.view(*pooled.shape[:2], *size)
    assert ex.check_unpool(learner).passed


def test_unpool_check_names_known_mistakes():
    result = ex.check_unpool(ex._repeat_upsample)
    assert not result.passed and "nearest-neighbour" in result.message
    result = ex.check_unpool(ex._top_left)
    assert not result.passed and "top-left" in result.message
    assert not ex.check_unpool(lambda p, i, s: None).passed
    result = ex.check_unpool(lambda p, i, s: F.max_unpool2d(p, i, 2, 2))  # no output_size: fails on 7x9
    assert not result.passed and "case 3" in result.message


def test_unpool_sizes_match_the_real_network():
    model = DeconvNet(3, vgg=vgg16(1 / 16, batch_norm=True, pool5_grid=1)).eval()
    maps = model.maps(torch.rand(1, 3, 97, 131))
    sizes = [tuple(maps[f"unpool{s}"].shape[-2:]) for s in range(5, 0, -1)]
    assert sizes == ex.solution_unpool_sizes(97, 131)
    assert ex.check_unpool_sizes(ex.solution_unpool_sizes).passed


def test_unpool_sizes_check_names_known_mistakes():
    for wrong, hint in [(ex.SIZE_MISTAKES[k], k[:30]) for k in ex.SIZE_MISTAKES]:
        result = ex.check_unpool_sizes(wrong)
        assert not result.passed and hint in result.message, result.message
    result = ex.check_unpool_sizes(lambda h, w: (h, w))
    assert not result.passed and "five" in result.message


def test_decoder_parameters_solution_passes_and_matches_the_model():
    assert ex.check_decoder_parameters(ex.solution_decoder_parameters).passed
    assert ex.solution_decoder_parameters(21) == 117_520_277


def test_decoder_parameters_check_names_known_mistakes():
    for hint, wrong in ex.PARAMETER_MISTAKES.items():
        result = ex.check_decoder_parameters(wrong)
        assert not result.passed and hint in result.message, result.message
    result = ex.check_decoder_parameters(lambda c: 117_520_277)  # right for 21 classes only
    assert not result.passed and "case 2" in result.message and "Hint" not in result.message


def test_merge_proposals_solution_passes_and_known_mistakes_are_named():
    assert ex.check_merge_proposals(ex.solution_merge_proposals).passed
    for hint, wrong in ex.MERGE_MISTAKES.items():
        result = ex.check_merge_proposals(wrong)
        assert not result.passed and hint in result.message
    def stub(*args):
        raise NotImplementedError
    assert not ex.check_merge_proposals(stub).attempted
