"""Sphinx extension: write each <script> of a page once.

Sphinx 7 can list an inline script twice when an extension adds it after the builder has
started (sphinx-thebe's ``const THEBE_JS_URL = ...`` is one); the second copy is a
redeclaration, which the browser reports as an error on every page. Keep the first.
"""


def _unique_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        key = (getattr(script, "filename", None) or "",  # an inline script has None or ""
                tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _unique_scripts, priority=900)  # after the extensions that add scripts to the page
    return {"parallel_read_safe": True, "parallel_write_safe": True}
