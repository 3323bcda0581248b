"""seglib.widgets.transposed_conv: the stepping widget redraws and rebuilds as its controls change."""
import pytest
import torch
import torch.nn.functional as F

from seglib.widgets.transposed_conv import (
    TransposedConvStepper,
    _default_kernel,
    plot_steps,
)


PNG = b"\x89PNG"


def test_default_widget_shows_the_worked_example():
    w = TransposedConvStepper()
    assert w.x.tolist() == [[1, 2], [3, 4]] and w.kernel.shape == (3, 3)
    assert w.step.max == w.play.max == 3  # four input cells
    assert bytes(w.image.value).startswith(PNG)
    assert "step 1 of 4" in w.caption.value and "5 × 5" in w.caption.value


def test_moving_the_slider_redraws_and_accumulates():
    w = TransposedConvStepper()
    first = w.image.value
    w.step.value = 2
    assert w.image.value != first
    assert w.current.position == (1, 0) and "step 3 of 4" in w.caption.value
    contributions = sum(s.contribution.sum() for s in w.steps[:3])
    assert w.current.partial.sum() == contributions


def test_last_step_equals_conv_transpose2d():
    x, k = torch.randn(3, 3), torch.randn(4, 4)
    w = TransposedConvStepper(x, k, stride=2, padding=1)
    w.step.value = w.step.max
    expected = F.conv_transpose2d(x[None, None], k[None, None], stride=2, padding=1)[0, 0]
    torch.testing.assert_close(w.current.output, expected)


def test_stride_control_rebuilds_the_steps():
    w = TransposedConvStepper()
    w.step.value = 3
    w.stride.value = 1
    assert w.current.partial.shape == (4, 4) and w.current.window == (1, 1, 4, 4)
    assert "4 × 4" in w.caption.value


def test_kernel_size_control_switches_to_the_default_kernel():
    w = TransposedConvStepper(kernel=torch.ones(2, 2))
    assert w.kernel_size.value == 2
    w.kernel_size.value = 4
    torch.testing.assert_close(w.kernel, _default_kernel(4))
    assert w.current.partial.shape == (6, 6)


def test_smaller_input_clamps_the_slider():
    w = TransposedConvStepper(x=torch.ones(3, 3))
    assert w.step.max == 8
    w.step.value = 8
    w.x = torch.ones(1, 2)  # change the input, then rebuild through a control
    w.stride.value = 3
    assert w.step.max == w.play.max == 1 and w.step.value == 1


def test_impossible_setting_is_explained_not_raised():
    w = TransposedConvStepper(x=torch.ones(1, 1), kernel=torch.ones(3, 3), padding=1)
    w.kernel_size.value = 1  # 1x1 input, kernel 1, padding 1: nothing would be left
    assert "Not possible" in w.caption.value
    assert w.kernel.shape == (3, 3)  # the last valid state is kept


@pytest.mark.parametrize("x,kernel", [(torch.ones(1, 2, 2), None), (None, torch.ones(2, 3))])
def test_rejects_bad_shapes(x, kernel):
    with pytest.raises(ValueError, match="kernel square"):
        TransposedConvStepper(x, kernel)


def test_plot_steps_draws_input_kernel_and_each_step():
    fig = plot_steps(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), _default_kernel(3), stride=2, steps=(0, 3))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["input x", "kernel", "after step 1: x[0, 0]", "after step 4: x[1, 1]"]
    last_texts = [t.get_text() for t in fig.axes[-1].texts]
    assert len(last_texts) == 25 and last_texts[12] == "36"  # the centre: 1*9 + 2*7 + 3*3 + 4*1


def test_stepper_displays_a_still_picture_then_the_panel(monkeypatch):
    from IPython.display import Image

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append((obj, kw)))
    w = TransposedConvStepper()
    w._ipython_display_()
    (still, _), (bundle, options) = shown
    assert isinstance(still, Image) and still.data == bytes(w.image.value) and still.data.startswith(PNG)
    assert options == {"raw": True}
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == w.model_id and view["version_major"] == 2
    w.step.value = 3                                  # the still follows the current picture
    assert w.snapshot().data == bytes(w.image.value) != still.data


def test_stepper_displays_through_ipython_formatter(monkeypatch):
    """IPython's own formatter (what a notebook cell's last value goes through) uses the display hook."""
    from IPython.core.formatters import IPythonDisplayFormatter

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    w = TransposedConvStepper()
    w.show_snapshot = False
    assert IPythonDisplayFormatter()(w) is True
    assert [b["application/vnd.jupyter.widget-view+json"]["model_id"] for b in shown] == [w.model_id]
