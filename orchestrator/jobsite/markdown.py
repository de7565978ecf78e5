"""Markdown from people (a project's status description) to HTML that is safe to show: raw HTML is
escaped, and links with unsafe schemes (javascript:, data: ...) are not made into links."""

from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def render(text: str) -> str:
    return _md.render(text)
