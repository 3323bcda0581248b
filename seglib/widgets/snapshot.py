"""A still picture next to every interactive panel.

A widget is drawn by the browser from a live kernel. In a saved notebook viewed on
GitHub, nbviewer or Colab's preview there is no kernel, and the widget's output shows
nothing. So each panel of the course, when displayed, first shows its current picture
as a plain PNG (``IPython.display.Image``), then the interactive panel: readers without
a kernel see the picture, learners with one see both (the still stays as it was drawn).

Works with ipywidgets 7 (Colab) and 8: the widget's display data is written out here,
in the form both versions use, instead of going through either version's display hook.
"""
from __future__ import annotations

import IPython.display as ipd
import ipywidgets as widgets


def png_image(png: bytes | memoryview) -> ipd.Image:
    """A PNG (bytes, or the memoryview an ``ipywidgets.Image`` keeps) as a static IPython image."""
    return ipd.Image(data=bytes(png), format="png")


def widget_bundle(widget: widgets.Widget) -> dict:
    """The display data of ``widget``: plain text plus the widget-view reference (protocol 2)."""
    bundle = {"text/plain": f"{type(widget).__name__}(...)"}
    if widget._view_name is not None:
        bundle["application/vnd.jupyter.widget-view+json"] = {
            "version_major": 2, "version_minor": 0, "model_id": widget.model_id}
    return bundle


class StillThenPanel:
    """Mixin for the course's panels: ``snapshot()`` and the display described above.

    A panel provides ``_still_png()`` (the PNG it shows now) and ``_panel()`` (its widget);
    ``show_snapshot = False`` skips the still.
    """

    show_snapshot: bool = True

    def snapshot(self) -> ipd.Image:
        """The picture shown now, as a static ``IPython.display.Image`` (PNG)."""
        return png_image(self._still_png())

    def _ipython_display_(self, **kwargs) -> None:
        display_with_snapshot(self._panel(), self._still_png() if self.show_snapshot else None)


def display_with_snapshot(widget: widgets.Widget, png: bytes | memoryview | None) -> None:
    """Display ``png`` as a still (if given), then ``widget`` itself."""
    if png:
        ipd.display(png_image(png))
    ipd.display(widget_bundle(widget), raw=True)
    handle_displayed = getattr(widget, "_handle_displayed", None)  # ipywidgets 7: on_displayed callbacks
    if callable(handle_displayed):
        handle_displayed()
