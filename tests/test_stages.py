"""seglib.stages is lesson 04's section 4 cell, tidied: the same calls give the same weights."""
import torch
from torch.utils.data import TensorDataset

from seglib import stages
from seglib.models.fcn import FCN
from seglib.models.local import LocalNet
from seglib.models.vgg import shapes_vgg16
from seglib.train import fit


def small():
    return stages.data(0, n_train=16, n_val=4, size=96)


def test_train_stages_is_the_lessons_cell():
    train, _, _ = small()
    runs = stages.train_stages(train, 0, rivals=False)
    assert list(runs) == ["local-only", "FCN-32s", "FCN-32s, trained on", "FCN-16s (from 32s)",
                          "FCN-8s (from 16s)"]

    def lesson(model, epochs, lr=1e-3):  # notebooks/04_fcn.ipynb, section 4, as written there
        fit(model, train, epochs=epochs, lr=lr, optimizer="adam", schedule="constant", progress=False)
        return model.eval()

    torch.manual_seed(0)
    lesson(LocalNet(6), 1, lr=1e-2)
    fcn32 = lesson(FCN(6, "32s", vgg=shapes_vgg16()), 1)
    fcn16 = lesson(FCN(6, "16s", vgg=shapes_vgg16()).init_from(fcn32), 1)
    fcn8 = lesson(FCN(6, "8s", vgg=shapes_vgg16()).init_from(fcn16), 1)
    mine = runs["FCN-8s (from 16s)"].state_dict()
    assert all(torch.equal(v, mine[k]) for k, v in fcn8.state_dict().items())


def test_rivals_add_the_retuned_control_and_fcn8s_at_once():
    train, images, _ = small()
    runs = stages.train_stages(TensorDataset(*train[:8]), 1, rivals=True)
    assert {"FCN-32s, trained on at 3e-4", "FCN-8s at once"} <= set(runs)
    assert runs["FCN-8s at once"].variant == "8s" and not runs["FCN-8s at once"].training
    with torch.no_grad():
        assert runs["FCN-8s at once"](images).shape == (4, 6, 96, 96)
