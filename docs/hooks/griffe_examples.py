"""Griffe extension for the API reference: read ``Example:`` as an examples section.

keras_ae's docstrings are Google style and head their doctests ``Example:``. Griffe's Google
parser reads only ``Examples:`` as an examples section (``Example:`` becomes an admonition,
whose ``>>>`` lines would render as Markdown quotes), so this extension renames the heading
before the docstrings are parsed. It changes nothing in the package.
"""

from __future__ import annotations

import re

import griffe

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Renames each docstring's ``Example:`` heading to ``Examples:``."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        docstring = obj.docstring
        if docstring is not None and "Example:" in docstring.value:
            docstring.value = _EXAMPLE_HEADING.sub(r"\1Examples:", docstring.value)
