"""seglib.exercises.lesson08: the checks accept right answers and reject (and name) the usual mistakes."""
import torch
from torch import nn

from seglib.cost import multiply_adds
from seglib.exercises import lesson08 as ex


def test_solutions_pass_and_agree_with_the_flop_counter():
    assert ex.check_conv_multiply_adds(ex.solution_conv_multiply_adds).passed
    assert ex.check_training_bytes(ex.solution_training_bytes).passed
    conv = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=2)
    assert ex.solution_conv_multiply_adds(conv, 13, 9) == multiply_adds(conv, torch.zeros(1, 8, 13, 9))


def test_a_measured_answer_is_accepted():
    def measured(conv, h, w):  # the learner may simply run the layer under the counter
        return multiply_adds(conv, torch.zeros(1, conv.in_channels, h, w))

    assert ex.check_conv_multiply_adds(measured).passed


def test_each_known_mistake_is_named():
    for hint, wrong in ex.MACS_MISTAKES.items():
        result = ex.check_conv_multiply_adds(wrong)
        assert not result.passed and hint in result.message
    for hint, wrong in ex.BYTES_MISTAKES.items():
        result = ex.check_training_bytes(wrong)
        assert not result.passed and hint in result.message


def test_other_wrong_answers_get_no_false_hint_and_stubs_are_not_attempted():
    off_by_one = ex.check_conv_multiply_adds(lambda c, h, w: ex.solution_conv_multiply_adds(c, h, w) + 1)
    assert not off_by_one.passed and "Hint" not in off_by_one.message

    def stub(conv, h, w):
        raise NotImplementedError

    result = ex.check_conv_multiply_adds(stub)
    assert not result.attempted and "not attempted" in result.message
