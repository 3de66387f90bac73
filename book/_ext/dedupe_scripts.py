"""Sphinx extension: drop repeated inline scripts from each page.

sphinx-thebe 0.3 registers its ``const THEBE_JS_URL = ...`` script twice under
Sphinx 7, and a second ``const`` declaration is a JavaScript error on every page
(the browser test of the book catches it). Keeping the first copy of each script is
what the page meant.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # one copy may have filename None and the other "", or another priority: compare what the page gets
        key = (str(getattr(script, "filename", script) or ""),
               tuple(sorted((getattr(script, "attributes", None) or {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
