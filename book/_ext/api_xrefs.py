"""Sphinx extension: resolve the API page's Python cross-references by what the names are.

The docstrings name things the way the library's users write them -- ``metalearn_lite.meta_train``
(re-exported at the top), ``ConvNet4`` from inside another module, ``adapt`` inside a class --
while autodoc documents each object once, under the module that defines it
(``metalearn_lite.training.meta_train``). Sphinx's own lookup does not connect the two and leaves
such a reference as plain code, without its link. Here a reference Sphinx could not resolve is
imported from where it was written (the module and class it appears in, then the package), and
linked to where that object is documented. Names that are not the library's (torch, the
standard library) stay plain: the build is offline, with no intersphinx.
"""
import importlib
import inspect

from sphinx.util.nodes import make_refnode


def _lookup(path: str):
    """The object a dotted path names (importing the longest importable module prefix), or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # noqa: BLE001 -- not a module: try a shorter prefix
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None


def _documented_names(obj, found_as: str) -> list[str]:
    """Names under which ``obj`` may be documented: its defining module's, then as found."""
    names = []
    if inspect.ismodule(obj):
        names.append(obj.__name__)
    else:
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if module and qualname:
            names.append(f"{module}.{qualname}")
    names.append(found_as)
    return names


def _documented_as(env, obj) -> str | None:
    """The name under which the very object ``obj`` is documented (re-exports included), if any."""
    cache = getattr(env, "_api_xrefs_by_id", None)
    if cache is None:
        cache = env._api_xrefs_by_id = {}
        for name in env.get_domain("py").objects:
            if name.startswith("metalearn_lite"):
                found = _lookup(name)
                if found is not None:
                    cache.setdefault(id(found), name)
    return cache.get(id(obj))


def _resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = [f"{module}.{cls}.{target}" if module and cls else None, f"{module}.{target}" if module else None,
                  target, f"metalearn_lite.{target}"]
    objects = env.get_domain("py").objects
    for path in filter(None, candidates):
        if not path.startswith("metalearn_lite"):
            continue
        obj = _lookup(path)
        if obj is None:
            continue
        for name in [*_documented_names(obj, path), _documented_as(env, obj)]:
            if name in objects:
                return _link(app, node, contnode, objects, name)
    # a bare name (``sample``, a method named from another class's docstring): the one documented
    # object of the library with that last component, if there is exactly one
    if "." not in target:
        matches = [name for name in objects if name.startswith("metalearn_lite.") and name.endswith("." + target)]
        if len(matches) == 1:
            return _link(app, node, contnode, objects, matches[0])
    return None


def _link(app, node, contnode, objects, name):
    entry = objects[name]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)


def setup(app):
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
