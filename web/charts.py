"""What every chart of the web client shares: the pygal style (white, sans-serif, a 15 px title, 13 px labels
unless a chart says otherwise). pygal is imported when a chart is drawn, not at import: it installs an import
hook without ``find_spec`` (an ImportWarning later)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def chart_style(colors: Sequence[str], **sizes: Any) -> Any:
    """A pygal ``Style`` in the client's look, with the series ``colors`` and any font ``sizes`` of its own."""
    from pygal.style import Style

    return Style(
        background="white",
        plot_background="white",
        colors=tuple(colors),
        font_family="sans-serif",
        title_font_size=15,
        **{"label_font_size": 13, **sizes},
    )
