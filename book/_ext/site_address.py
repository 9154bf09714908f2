"""Sphinx extension: everything that depends on where the site is published, from html_baseurl.

``python3 tasks.py repository URL`` writes the repository's GitHub Pages address into
_config.yml (``html.baseurl``, Sphinx's ``html_baseurl``): https://OWNER.github.io/NAME/ for
https://github.com/OWNER/NAME. From it this extension sets

* ``ogp_site_url`` (sphinxext-opengraph): the absolute ``og:url`` of each page's link preview
  (and ``ogp_site_name``, the book's title);
* ``notfound_urls_prefix`` (sphinx-notfound-page): the path the 404 page's styles, scripts and
  navigation are linked from -- GitHub Pages serves 404.html at whatever address was asked for,
  so relative links would point into nowhere -- and it makes the links in the 404 page's own
  text (404.md) absolute the same way;
* and, while no address is known, it leaves out the sitemap (sphinx-sitemap needs absolute
  addresses) instead of failing the build with its warning.
"""
from urllib.parse import urlsplit

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _site_root(config) -> str:
    """The path of the site on its host ('/NAME/'), or '/' when the address is unknown."""
    path = urlsplit(config.html_baseurl or "").path or "/"
    return path if path.endswith("/") else path + "/"


def _from_baseurl(app, config):
    base = config.html_baseurl or ""
    if base and not base.endswith("/"):
        config.html_baseurl = base = base + "/"
    if not config.ogp_site_url:
        config.ogp_site_url = base
    if not config.ogp_site_name:
        config.ogp_site_name = config.html_title or config.project
    config.notfound_urls_prefix = _site_root(config)
    if not base:
        config.suppress_warnings = [*config.suppress_warnings, "sitemap.configuration"]
        logger.info("site_address: no html_baseurl (`python3 tasks.py repository URL` sets it): no sitemap.xml")


def _absolute_links_in_404(app, doctree, docname):
    if docname != app.config.notfound_pagename:
        return
    root = _site_root(app.config)
    for node in doctree.findall(nodes.reference):
        uri = node.get("refuri", "")
        if uri and not urlsplit(uri).scheme and not uri.startswith(("/", "#")):
            node["refuri"] = root + uri


def setup(app):
    app.connect("config-inited", _from_baseurl, priority=400)  # before sphinx-notfound-page checks its prefix
    app.connect("doctree-resolved", _absolute_links_in_404)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
