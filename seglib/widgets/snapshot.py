"""A still picture before every interactive panel: a saved notebook viewed without a kernel (GitHub,
nbviewer, Colab's preview) shows no widget, so each panel shows its picture as a plain PNG first. The
widget's display data is written in the form ipywidgets 7 (Colab) and 8 both read."""
from __future__ import annotations

import IPython.display as ipd


class StillThenPanel:
    """Mixin for the course's panels: by default a panel's widget is ``self.widget`` and the PNG
    it shows now is in ``self.picture`` (override ``_panel``, ``_still_png`` otherwise);
    ``show_snapshot = False`` skips the still.
    First used in notebooks/03_upsampling.ipynb, section 2 (TransposedConvStepper)."""

    show_snapshot: bool = True

    @property
    def png(self) -> bytes:
        """The PNG shown now (the picture widget keeps it as a memoryview)."""
        return bytes(self.picture.value)

    def _still_png(self) -> bytes:
        return self.png

    def _panel(self):
        return self.widget

    def snapshot(self) -> ipd.Image:
        """The picture shown now, as a static ``IPython.display.Image``."""
        return ipd.Image(data=bytes(self._still_png()), format="png")

    def _ipython_display_(self, **kwargs) -> None:
        panel = self._panel()
        if self.show_snapshot:
            ipd.display(self.snapshot())
        view = {"version_major": 2, "version_minor": 0, "model_id": panel.model_id}
        ipd.display({"text/plain": f"{type(panel).__name__}(...)",
                     "application/vnd.jupyter.widget-view+json": view}, raw=True)
        if callable(getattr(panel, "_handle_displayed", None)):  # ipywidgets 7: on_displayed callbacks
            panel._handle_displayed()
