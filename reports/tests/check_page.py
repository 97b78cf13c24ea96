#!/usr/bin/env python3
"""Checks a generated report page (DIR/index.html): its sections in order,
every <img> naming an existing PNG beside the page and carrying alt text, no
http:// or https:// reference, no <script>.

    check_page.py DIR summary,verdicts,...    # exit 0 when the page is right
"""

import html.parser
import os
import sys

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.sections, self.ids, self.scripts = [], [], set(), 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "script":
            self.scripts += 1
        if "id" in a:
            self.ids.add(a["id"])


def problems(out_dir, sections):
    """Returns (page text, parsed page, list of what is wrong)."""
    with open(os.path.join(out_dir, "index.html"), encoding="utf-8") as f:
        text = f.read()
    page = Page()
    page.feed(text)
    bad = []
    if page.sections != sections:
        bad.append(f"sections are {page.sections}; expected {sections}")
    if page.scripts or "<script" in text.lower():
        bad.append("the page uses <script>")
    for scheme in ("http://", "https://"):
        if scheme in text:
            bad.append(f"the page references {scheme}")
    if not page.imgs:
        bad.append("the page has no figure")
    for img in page.imgs:
        src = img.get("src", "")
        if not img.get("alt"):
            bad.append(f"image {src} has no alt text")
        if not src or "/" in src or ":" in src:
            bad.append(f"image {src!r} is not a file beside the page")
            continue
        path = os.path.join(out_dir, src)
        if not os.path.isfile(path):
            bad.append(f"image {src} does not exist")
            continue
        with open(path, "rb") as f:
            if f.read(8) != PNG_SIGNATURE:
                bad.append(f"image {src} is not a PNG")
    return text, page, bad


def main():
    out_dir, sections = sys.argv[1], sys.argv[2].split(",")
    _, page, bad = problems(out_dir, sections)
    for b in bad:
        print(f"FAIL: {out_dir}/index.html: {b}")
    if not bad:
        print(f"ok: {out_dir}/index.html: sections {','.join(sections)}, {len(page.imgs)} PNG figures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
