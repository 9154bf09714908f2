#!/usr/bin/env python3
"""The project's Makefile, in plain Python (standard library only).

    python3 tasks.py book    set up the environment, fetch the pinned JavaScript the pages
                             load (MathJax, Jupyter widgets; into _vendor/), build the book
                             into _build/html
    python3 tasks.py test    set up the environment, run pytest: tests/ (which also builds
                             the book and checks every page in headless Chromium) + the
                             chapter notebooks (nbval)
    python3 tasks.py book --student   the same book without the exercises' solutions
                             (into _build/student/_build/html)
    python3 tasks.py lab     open JupyterLab on chapters/
    python3 tasks.py clean   delete build outputs and caches (--venv: also .venv/)
    python3 tasks.py repository URL   set the repository's address (launch buttons, install cells)
    python3 tasks.py lock    refresh constraints.txt, the exact versions of the book/test environment
    python3 tasks.py dist    build the sdist and the wheel into dist/ and check them (twine check, contents)
    python3 tasks.py release date this version in CHANGELOG.md; the install cells then install it by name
                             (`release --check vX.Y.Z`: what the release workflow checks before publishing)
    python3 tasks.py version print the version (metalearn_lite.__version__)

Which environment: an already-active one is respected -- $VIRTUAL_ENV, or a conda
environment other than `base` ($CONDA_PREFIX) -- otherwise .venv/ in the repository is
created and used. Installing is skipped while a stamp file in that environment matches
a hash of pyproject.toml (plus this script's pins); edit pyproject.toml, or run
`clean --venv`, to install again. Extra arguments after `test` go to pytest, after
`lab` to JupyterLab (e.g. --no-browser).

The built pages load MathJax, require.js and the Jupyter widget manager from the site itself,
never from a CDN, so equations and widgets render offline. Those files are npm packages;
`vendor()` downloads the pinned tarballs from the npm registry (no node/npm needed; set
$NPM_CONFIG_REGISTRY for a mirror), checks each against its pinned sha512 integrity, and
unpacks the files the pages need into _vendor/ (git-ignored), which _config.yml adds to
html_static_path.
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TORCH = "torch==2.13.0"  # installed first, alone: an unpinned torch pulls a multi-GB CUDA build
EXTRAS = ".[book,test]"
SANITIZE = "chapters/nbval_sanitize.cfg"
CONSTRAINTS = ROOT / "constraints.txt"  # exact versions of everything else: `python3 tasks.py lock` refreshes it

# Numeric configurations the chapters are re-run under (besides this machine's own), so that a
# result which only reproduces on the CPU that made the stored outputs fails here, not on a
# reader's machine. Each changes floating-point results on an AVX-512 x86 CPU (measured: other
# kernels and other reduction orders in ATen, oneDNN and MKL); threads are pinned by the chapters.
NUMERICS = {
    "generic-x86": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
VENDOR = ROOT / "_vendor"  # html_static_path in _config.yml: its folders end up in _build/html/_static/


@dataclass(frozen=True)
class NpmPin:
    """One npm package whose files the built pages load, pinned by version and sha512 integrity."""

    name: str  # npm package name
    version: str
    integrity: str  # "sha512-<base64>": the registry's dist.integrity for this version
    folder: str  # unpacked into _vendor/<folder>/, which the build copies to _static/<folder>/
    files: tuple[str, ...]  # what to unpack: fnmatch patterns relative to the tarball's package/
    strip: str = ""  # prefix removed from those paths in _vendor/<folder>/

    @property
    def url(self) -> str:
        registry = os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org").rstrip("/")
        return f"{registry}/{self.name}/-/{self.name.split('/')[-1]}-{self.version}.tgz"


# To change a version, change its integrity too: `dist.integrity` at
# https://registry.npmjs.org/<name>/<version>. The require.js and html-manager versions are the
# ones myst-nb 1.x loads from CDNs by default (myst_nb/core/config.py, ipywidgets_js_factory).
NPM_PINS = (
    NpmPin(
        "mathjax", "3.2.2",
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        folder="mathjax", strip="es5/",
        # the TeX-to-HTML component, the TeX extensions its autoloader fetches (\boldsymbol,
        # \cancel, ...), its fonts, and what its right-click menu loads on demand (accessibility)
        files=("es5/tex-chtml.js", "es5/input/tex/extensions/*", "es5/output/chtml/fonts/woff-v2/*",
               "es5/ui/*", "es5/a11y/*", "es5/sre/*", "es5/input/mml.js", "es5/input/mml/*", "LICENSE"),
    ),
    NpmPin(
        "requirejs", "2.3.4",
        "sha512-qPD5gRrj6kGQ0ZySAJgqbArkaDqPMbQIT0zSZDkIv1mfA17w/tR2Faq5l2qqRf2CdQx6FWln9nUrgd2UDzb19A==",
        folder="requirejs", files=("require.js", "README.md"),  # README.md holds the licence
    ),
    NpmPin(
        # embed-amd.js bundles @jupyter-widgets/base, controls and output, so the standard widgets
        # need nothing else; it loads its icon fonts from its own folder
        "@jupyter-widgets/html-manager", "1.0.6",
        "sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
        folder="html-manager", strip="dist/",
        files=("dist/embed-amd.js", "dist/*.woff2", "dist/*.woff", "dist/*.ttf", "dist/*.eot", "dist/*.svg",
               "dist/embed.js.LICENSE.txt", "LICENSE"),
    ),
)

# Loaded between require.js and html-manager's embed-amd.js (_config.yml, nb_ipywidgets_js);
# vendor() writes it next to embed-amd.js. Two things the html-manager assumes about the page:
WIDGETS_SETUP_JS = """\
// Written by tasks.py (vendor): glue between the vendored @jupyter-widgets/html-manager and the book.
(function () {
  // 1. Its bundles load their icon fonts from the folder require.js resolves their module names
  //    to, by default next to the *page*; resolve them to this folder, where the fonts are.
  var here = document.currentScript.src.replace(/\\/[^\\/]*$/, "");
  window.require.config({paths: {"@jupyter-widgets/html-manager/dist": here, "@jupyter-widgets": here}});
  // 2. It typesets widget labels with MathJax 2's MathJax.Hub.Queue; the book runs MathJax 3.
  //    Translate, once MathJax 3 has loaded (deferred) and before widgets render (on load).
  //    (MathJax 3's default delimiters: \\(...\\) and $$...$$, not single $...$.)
  window.addEventListener("load", function () {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub) return;  // no math on the page, or MathJax 2
    mathjax.Hub = {Queue: function (job) {
      var element = job && job[2];
      if (!mathjax.startup) return;  // MathJax did not load: nothing to typeset with
      mathjax.startup.promise.then(function () { return mathjax.typesetPromise(element ? [element] : undefined); });
    }};
  });
})();
"""


def run(cmd: list, env_dir: Path | None = None, check: bool = True, extra_env: dict | None = None) -> int:
    """Print a command, run it from the repo root (with env_dir 'activated' and extra_env set), return its status."""
    shown = "".join(f"{k}={v} " for k, v in (extra_env or {}).items())
    print(f"\n==> {shown}{shlex.join(str(c) for c in cmd)}", flush=True)
    env = dict(os.environ, **(extra_env or {}))
    if env_dir is not None:
        env["VIRTUAL_ENV"] = str(env_dir)
        env["PATH"] = str(bin_dir(env_dir)) + os.pathsep + env.get("PATH", "")
    start = time.monotonic()
    try:
        code = subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)
    except KeyboardInterrupt:
        code = 130
    print(f"    ({time.monotonic() - start:.0f} s, exit {code})", flush=True)
    if check and code != 0:
        sys.exit(code)
    return code


def bin_dir(env_dir: Path) -> Path:
    for sub in ("bin", "Scripts", "."):  # venv on POSIX, venv on Windows, conda on Windows
        if (env_dir / sub / ("python.exe" if os.name == "nt" else "python")).exists():
            return env_dir / sub
    return env_dir / ("Scripts" if os.name == "nt" else "bin")


def tool(env_dir: Path, name: str) -> Path:
    return bin_dir(env_dir) / (name + (".exe" if os.name == "nt" else ""))


def environment() -> Path:
    """The active virtual/conda environment if there is one, else .venv/ (created if missing)."""
    if os.environ.get("VIRTUAL_ENV"):
        env_dir = Path(os.environ["VIRTUAL_ENV"])
        print(f"Using the active virtual environment {env_dir}")
    elif os.environ.get("CONDA_PREFIX") and os.environ.get("CONDA_DEFAULT_ENV", "base") != "base":
        env_dir = Path(os.environ["CONDA_PREFIX"])
        print(f"Using the active conda environment {env_dir}")
    else:
        env_dir = ROOT / ".venv"
        if not tool(env_dir, "python").exists():
            run([sys.executable, "-m", "venv", env_dir])
    return env_dir


def setup() -> Path:
    """Make sure the environment has torch and this package with its book and test extras."""
    env_dir = environment()
    python = tool(env_dir, "python")
    stamp = env_dir / ".metalearn-lite-installed"
    key = hashlib.sha256(
        ((ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes() + f"{TORCH}|{EXTRAS}|{ROOT}".encode())
    ).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == key:
        print(f"{env_dir.name}: up to date with pyproject.toml and {CONSTRAINTS.name} (skipping pip install)")
        return env_dir
    if subprocess.call([str(python), "-c", "import torch"], stderr=subprocess.DEVNULL) != 0:
        run([python, "-m", "pip", "install", TORCH], env_dir)
    # The library itself only has lower bounds (pyproject.toml); the book and test environment
    # gets the exact versions the chapters' stored outputs were made with.
    run([python, "-m", "pip", "install", "-c", CONSTRAINTS, "-e", EXTRAS], env_dir)
    stamp.write_text(key + "\n")
    return env_dir


def lock(args: list[str]) -> int:
    """Refresh constraints.txt: resolve pyproject.toml afresh in a new environment, record every version.

    Run it when a dependency changes (or to move to newer releases), re-run the tests, commit both.
    """
    with tempfile.TemporaryDirectory(prefix="metalearn-lock-") as tmp:
        env_dir = Path(tmp) / "venv"
        run([sys.executable, "-m", "venv", env_dir])
        python = tool(env_dir, "python")
        run([python, "-m", "pip", "install", "-q", TORCH], env_dir)
        run([python, "-m", "pip", "install", "-q", EXTRAS], env_dir)  # no constraints: the newest that fit
        # --all: setuptools too (the test extra builds the wheel with it, `build --no-isolation`)
        frozen = subprocess.run([str(python), "-m", "pip", "freeze", "--all", "--exclude-editable"], capture_output=True,
                                text=True, check=True, cwd=ROOT).stdout.splitlines()
    pins = sorted((line for line in frozen if "==" in line
                   and not line.lower().startswith(("torch==", "metalearn-lite", "pip=="))), key=str.lower)
    CONSTRAINTS.write_text(
        "# Exact versions for the book and test environment (pip constraints; the library itself keeps the\n"
        "# lower bounds of pyproject.toml). torch is pinned separately, by tasks.py (TORCH).\n"
        f"# Made with `python3 tasks.py lock` on Python {sys.version.split()[0]}; refresh the same way.\n"
        + "\n".join(pins) + "\n"
    )
    print(f"wrote {len(pins)} pins to {CONSTRAINTS.name}")
    return 0


def _unpack(pin: NpmPin, tarball: Path, dest: Path) -> int:
    """Unpack pin.files from an npm tarball into dest, refusing absolute or '..' member names."""
    count = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.replace("\\", "/")
            if name.startswith("/") or ".." in name.split("/") or ":" in name:
                raise SystemExit(f"{pin.name}@{pin.version}: unsafe path {member.name!r} in the tarball")
            if not (member.isfile() and name.startswith("package/")):
                continue  # links, devices, folders: never unpacked
            relative = name[len("package/"):]
            if not any(fnmatch.fnmatchcase(relative, pattern) for pattern in pin.files):
                continue
            if pin.strip and relative.startswith(pin.strip):
                relative = relative[len(pin.strip):]
            target = dest.joinpath(*relative.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            count += 1
    return count


def vendor(download: bool = True) -> Path:
    """Make _vendor/ hold the pinned npm files the built pages load (download only what is missing).

    With download=False (the test suite, which stays off the internet), a missing or outdated
    package is an error that says how to fetch it.
    """
    VENDOR.mkdir(exist_ok=True)
    for pin in NPM_PINS:
        stamp_text = f"{pin.name}@{pin.version} {pin.integrity}\n"
        folder = VENDOR / pin.folder
        stamp = folder / ".npm-pin"
        if stamp.exists() and stamp.read_text() == stamp_text:
            continue
        if not download:
            raise SystemExit(
                f"{folder.relative_to(ROOT)}/ does not hold {pin.name} {pin.version}: run `python3 tasks.py book` "
                "(or `test`), which downloads it"
            )
        print(f"==> fetch {pin.url}", flush=True)
        with tempfile.TemporaryDirectory(dir=VENDOR, prefix=".fetch-") as tmp:
            tarball = Path(tmp) / "package.tgz"
            digest = hashlib.sha512()
            try:
                with urllib.request.urlopen(pin.url, timeout=60) as response, open(tarball, "wb") as out:
                    while chunk := response.read(1 << 16):
                        digest.update(chunk)
                        out.write(chunk)
            except OSError as error:
                raise SystemExit(
                    f"Could not download {pin.url}: {error}\nThe book's pages need {pin.name} {pin.version}; "
                    "connect to the internet (or set NPM_CONFIG_REGISTRY to an npm mirror) and try again."
                ) from error
            got = "sha512-" + base64.b64encode(digest.digest()).decode()
            if got != pin.integrity:
                raise SystemExit(f"{pin.url}: integrity {got} does not match the pinned {pin.integrity}; not using it")
            unpacked = Path(tmp) / pin.folder
            count = _unpack(pin, tarball, unpacked)
            (unpacked / ".npm-pin").write_text(stamp_text)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(unpacked, folder)
        print(f"    {count} files into {folder.relative_to(ROOT)}/", flush=True)
    (VENDOR / "html-manager" / "setup.js").write_text(WIDGETS_SETUP_JS)
    (VENDOR / "versions.json").write_text(
        json.dumps({pin.name: {"version": pin.version, "integrity": pin.integrity} for pin in NPM_PINS}, indent=2) + "\n"
    )
    return VENDOR


def build_book(env_dir: Path | None = None, download: bool = True, student: bool = False) -> int:
    """Fetch the vendored JavaScript if needed and build every page; return jupyter-book's status.

    The one way the book is built: `tasks.py book` and the test suite (tests/test_book.py) both
    call this. env_dir defaults to the running Python's environment; download=False: see vendor.
    student=True builds the student edition into _build/student/_build/html: the same pages, from a
    copy of the sources without the exercises' solutions (see student_sources).
    """
    vendor(download)
    env_dir = env_dir if env_dir is not None else Path(sys.prefix)
    source, output = ROOT, ROOT
    if student:
        source, output = student_sources(ROOT / "_build" / "student-src"), ROOT / "_build" / "student"
    # --all: an incremental build does not repeat the warnings of unchanged pages, and
    # would pass where a fresh one fails (notebooks are not executed, so this is cheap).
    return run([tool(env_dir, "jupyter-book"), "build", str(source), "--path-output", str(output),
                "--all", "--warningiserror", "--keep-going"], env_dir, check=False)


# A solution is a MyST admonition titled "Solution" (```{admonition} Solution ... ```), and a
# multiple-choice question's answer is the <details> block of its HTML and the explanation
# its right option shows when clicked.
SOLUTION_BLOCK = re.compile(r"^(?P<fence>`{3,}|:{3,})\{admonition\}\s*Solution\b.*?^(?P=fence)[ \t]*(\n|\Z)", re.M | re.S)
ANSWER_BLOCK = re.compile(r"<details><summary>Show the answer</summary>.*?</details>", re.S)
EXPLANATION = re.compile(r'<span class="ml-explanation">.*?</span>', re.S)  # shown when the right option is clicked


def strip_solutions(text: str) -> str:
    """``text`` without solution admonitions and multiple-choice answers."""
    return EXPLANATION.sub("", ANSWER_BLOCK.sub("", SOLUTION_BLOCK.sub("", text)))


def student_sources(dest: Path) -> Path:
    """A copy of the book's sources (into ``dest``) with every solution and answer removed."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml", "404.md"):
        shutil.copy2(ROOT / name, dest / name)
    for folder in ("book", "chapters", VENDOR.name):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for page in [*dest.glob("book/*.md"), *dest.glob("chapters/*.md")]:
        page.write_text(strip_solutions(page.read_text(encoding="utf-8")), encoding="utf-8")
    for notebook in dest.glob("chapters/*.ipynb"):
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            cell["source"] = strip_solutions("".join(cell["source"]))
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "text/html" in data:
                    data["text/html"] = strip_solutions("".join(data["text/html"]))
        notebook.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return dest


# -- the repository's address: one value, written into every place that needs it ----------------

REPO_BLOCK = re.compile(r"# BEGIN repository.*?# END repository\n", re.S)  # in _config.yml
INSTALL_CELL = """\
# On Colab, or any kernel without the library: install it (no-op when installed).
# The release these outputs were made with (`python3 tasks.py release` sets it), else
# the book's repository (`python3 tasks.py repository URL` sets it):
RELEASE = {release!r}
REPOSITORY = {url!r}
try:
    import metalearn_lite
except ImportError:
    if RELEASE is not None:
        %pip install -q "metalearn-lite=={{RELEASE}}"
    elif REPOSITORY is not None:
        %pip install -q "git+{{REPOSITORY}}"
    else:
        raise ImportError(
            "metalearn_lite is not installed, and this copy of the book does not know"
            " its repository: run `pip install git+<the repository's URL>` (or"
            " `pip install -e .` in a clone), then run this cell again"
        ) from None
"""
#: how an install cell starts (the first line of INSTALL_CELL, and of the cells written before it)
INSTALL_CELL_STARTS = ("# On Colab, or any kernel without the library", "# On Colab or any kernel without the library")


def pages_url(url: str | None) -> str | None:
    """The GitHub Pages address of the repository at ``url`` (None unless it is on github.com).

    https://github.com/OWNER/NAME is published at https://OWNER.github.io/NAME/ (owner in lower
    case: it is a host name), and a repository named OWNER.github.io at https://OWNER.github.io/.
    """
    match = re.fullmatch(r"https://github\.com/([A-Za-z0-9-]+)/([A-Za-z0-9._-]+?)(?:\.git)?/?", url or "")
    if not match:
        return None
    owner, name = match.group(1).lower(), match.group(2)
    return f"https://{owner}.github.io/" + ("" if name.lower() == f"{owner}.github.io" else f"{name}/")


def config_block(url: str | None) -> str:
    """The repository and launch-button settings of _config.yml for ``url`` (None: unknown, buttons off).

    ``html.baseurl`` (Sphinx's html_baseurl: canonical links, the sitemap, link previews, the 404
    page's links; book/_ext/site_address.py) is the repository's GitHub Pages address.
    """
    on = "true" if url else "false"
    launch = ("launch_buttons:\n  notebook_interface: jupyterlab\n  colab_url: https://colab.research.google.com\n"
              "  binderhub_url: https://mybinder.org\n") if url else "launch_buttons: {}\n"
    return (
        "# BEGIN repository (written by `python3 tasks.py repository URL`; edit there, not here)\n"
        + ("# No repository address is known, so there are no launch/repository buttons.\n" if not url else "")
        + f"repository:\n  url: {json.dumps(url or '')}\n  path_to_book: \"\"\n  branch: main\n\n{launch}\n"
        f"html:\n  use_repository_button: {on}\n  use_issues_button: {on}\n  use_edit_page_button: false\n"
        f"  home_page_in_navbar: true\n  baseurl: {json.dumps(pages_url(url) or '')}  # where the site is published\n"
        "# END repository\n"
    )


def configured_repository() -> str | None:
    """The address _config.yml holds (None when unset)."""
    match = re.search(r"^repository:\n  url: (\"[^\n]*\")", (ROOT / "_config.yml").read_text(encoding="utf-8"), re.M)
    return (json.loads(match.group(1)) or None) if match else None


def git_remote_url() -> str | None:
    """``git remote get-url origin`` as an https address (None when there is no such remote)."""
    result = subprocess.run(["git", "remote", "get-url", "origin"], cwd=ROOT, capture_output=True, text=True)
    url = result.stdout.strip()
    if result.returncode != 0 or not url:
        return None
    url = re.sub(r"^git@([^:]+):", r"https://\1/", url)
    return re.sub(r"\.git$", "", url)


def set_repository(url: str | None) -> list[Path]:
    """Write ``url`` into _config.yml (buttons, site address) and every chapter's install cell; return the files changed."""
    if url is not None and not re.fullmatch(r"https://[^\s\"']+", url):
        raise SystemExit(f"not an https address: {url!r}")
    changed = []
    config = ROOT / "_config.yml"
    text = config.read_text(encoding="utf-8")
    if not REPO_BLOCK.search(text):
        raise SystemExit("_config.yml has no '# BEGIN repository' ... '# END repository' block to write into")
    new = REPO_BLOCK.sub(lambda _: config_block(url), text)
    if new != text:
        config.write_text(new, encoding="utf-8")
        changed.append(config)
    return changed + write_install_cells(url, released_version())


def install_cell(url: str | None, release: str | None) -> str:
    """The first code cell of every chapter: installs ``metalearn-lite==release``, else from ``url``."""
    return INSTALL_CELL.format(url=url, release=release)


def write_install_cells(url: str | None, release: str | None) -> list[Path]:
    """Rewrite every chapter's install cell (its source only: outputs and other cells are kept)."""
    changed = []
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        source = install_cell(url, release).rstrip("\n").splitlines(keepends=True)  # as black leaves it
        if "".join(first["source"]).startswith(INSTALL_CELL_STARTS) and first["source"] != source:
            first["source"] = source
            notebook.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            changed.append(notebook)
    return changed


def repository(args: list[str]) -> int:
    """`repository URL` (or, with no URL, origin's): set the address everywhere; `--unset`: forget it."""
    url = None if args == ["--unset"] else (args[0] if args else git_remote_url())
    if url is None and args != ["--unset"]:
        print("No URL given and no `origin` remote: python3 tasks.py repository https://github.com/OWNER/NAME")
        return 2
    for path in set_repository(url):
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"repository: {url or 'unknown (launch buttons off; install cells say what to do)'}")
    if url:
        print(f"site: {pages_url(url) or 'not on github.com: no GitHub Pages address (html.baseurl left empty)'}")
    return 0


# -- versions and releases: the version is written in one place, metalearn_lite/__init__.py ------

VERSION_FILE = "metalearn_lite/__init__.py"
CHANGELOG = "CHANGELOG.md"
#: a released version's changelog heading: "## 0.1.0 - 2026-12-08" (an undated "## 0.1.0" is not released)
RELEASED_HEADING = r"^## \[?{version}\]? - (\d{{4}}-\d{{2}}-\d{{2}})\s*$"


def version() -> str:
    """``metalearn_lite.__version__``, read from its file (no import: torch need not be installed)."""
    match = re.search(r'^__version__ = "([^"]+)"$', (ROOT / VERSION_FILE).read_text(encoding="utf-8"), re.M)
    if not match:
        raise SystemExit(f"{VERSION_FILE} has no line `__version__ = \"...\"`")
    return match.group(1)


def released_version() -> str | None:
    """The version, if CHANGELOG.md dates it as released (then the code here is that release), else None.

    The chapters' install cells install this release by name (`metalearn-lite==<version>`): the
    stored outputs were made with this code. A version still in development (no dated heading)
    makes them install from the repository instead.
    """
    current = version()
    changelog = ROOT / CHANGELOG
    text = changelog.read_text(encoding="utf-8") if changelog.exists() else ""
    return current if re.search(RELEASED_HEADING.format(version=re.escape(current)), text, re.M) else None


def release(args: list[str]) -> int:
    """`release`: date this version's changelog heading and make the install cells install it.

    `release --check TAG` (the release workflow): TAG is `v<version>`, the changelog dates that
    version, and the install cells install it -- else it exits non-zero and says what is missing.
    """
    current = version()
    if args[:1] == ["--check"] and len(args) == 2:
        problems = []
        if args[1] != f"v{current}":
            problems.append(f"the tag {args[1]} is not v{current}, the version in {VERSION_FILE}")
        if released_version() is None:
            problems.append(f"{CHANGELOG} does not date {current} as released: run `python3 tasks.py release`")
        expected = install_cell(configured_repository(), released_version()).rstrip("\n")
        stale = [nb.name for nb in sorted((ROOT / "chapters").glob("*.ipynb"))
                 if "".join(next(c for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]
                                 if c["cell_type"] == "code")["source"]) != expected]
        if stale:
            problems.append(f"install cells not written for this release: {', '.join(stale)}")
        for problem in problems:
            print(f"release check: {problem}")
        print(f"release check: {'failed' if problems else f'{current} is ready to publish'}")
        return 1 if problems else 0
    if args:
        print("`release` takes no arguments but `--check TAG`; the version is metalearn_lite.__version__")
        return 2
    changelog = ROOT / CHANGELOG
    text = changelog.read_text(encoding="utf-8")
    undated = re.compile(rf"^## \[?{re.escape(current)}\]?\s*$", re.M)
    if released_version() is None:
        if not undated.search(text):
            raise SystemExit(f"{CHANGELOG} has no heading `## {current}`: say what {current} changes, then release")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        changelog.write_text(undated.sub(f"## {current} - {today}", text, count=1), encoding="utf-8")
        print(f"wrote {CHANGELOG}: {current} released on {today}")
    for path in write_install_cells(configured_repository(), current):
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"\nNext: commit, then `git tag v{current} && git push origin v{current}`: the release workflow "
          f"publishes it to PyPI. Afterwards set the next version in {VERSION_FILE} with an undated "
          f"`## <next>` heading in {CHANGELOG} (the install cells then install from the repository again "
          "at the next `tasks.py repository`).")
    return 0


# -- the package: an sdist and a wheel that hold the library and nothing else ----------------------

#: what the sdist may hold besides metalearn_lite/ (MANIFEST.in keeps the book, tests and data out)
SDIST_EXTRAS = {"PKG-INFO", "README.md", "CHANGELOG.md", "LICENSE", "MANIFEST.in", "pyproject.toml", "setup.cfg"}


def dist_problems(sdist: Path, wheel: Path) -> list[str]:
    """What the archives hold that they should not (or lack): [] when the wheel is the library only."""
    import tarfile as _tarfile
    import zipfile

    problems = []
    stem = f"metalearn_lite-{version()}"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    problems += [f"wheel: {n}" for n in names if not n.startswith(("metalearn_lite/", f"{stem}.dist-info/"))]
    problems += [f"wheel: {n} is not Python source" for n in names
                 if n.startswith("metalearn_lite/") and not n.endswith(".py")]
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "metalearn_lite").rglob("*.py") if "__pycache__" not in p.parts}
    problems += [f"wheel lacks {n}" for n in sorted(source - set(names))]
    with _tarfile.open(sdist) as archive:
        members = [m.name for m in archive.getmembers() if m.isfile()]
    for name in members:
        inner = name.split("/", 1)[1] if name.startswith(stem + "/") else name
        if not (inner in SDIST_EXTRAS or inner.startswith(("metalearn_lite/", "metalearn_lite.egg-info/"))):
            problems.append(f"sdist: {name}")
    return problems


def build_dist(env_dir: Path | None = None, outdir: Path | None = None) -> tuple[Path, Path]:
    """`python -m build` (the wheel built from the sdist) + `twine check --strict`; return (sdist, wheel).

    --no-isolation: the build backend is the environment's setuptools (constraints.txt pins it),
    not the newest from the internet, so the same sources give the same archives.
    """
    env_dir = env_dir if env_dir is not None else Path(sys.prefix)
    outdir = outdir if outdir is not None else ROOT / "dist"
    python = tool(env_dir, "python")
    stem = f"metalearn_lite-{version()}"
    for old in (outdir / f"{stem}.tar.gz", outdir / f"{stem}-py3-none-any.whl"):
        old.unlink(missing_ok=True)
    run([python, "-m", "build", "--no-isolation", "--outdir", outdir, ROOT], env_dir)
    sdist, wheel = outdir / f"{stem}.tar.gz", outdir / f"{stem}-py3-none-any.whl"
    run([python, "-m", "twine", "check", "--strict", sdist, wheel], env_dir)
    problems = dist_problems(sdist, wheel)
    if problems:
        raise SystemExit("the package holds what it should not (or lacks what it should):\n  " + "\n  ".join(problems))
    return sdist, wheel


def dist(args: list[str]) -> int:
    """`dist`: build the sdist and the wheel into dist/, check them, list the wheel."""
    import zipfile

    sdist, wheel = build_dist(setup())
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            print(f"{info.file_size:9d}  {info.filename}")
    for path in (wheel, sdist):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KiB")
    return 0


def book(args: list[str]) -> int:
    student = "--student" in args
    env_dir = setup()
    code = build_book(env_dir, student=student)
    if code != 0:
        return code
    index = ROOT / "_build" / ("student/_build" if student else "") / "html" / "index.html"
    edition = "student edition of the book (no solutions)" if student else "book"
    print(f"\nThe {edition} is built. Open it in a browser:\n    {index.as_uri()}")
    return 0


# What tests/test_book.py drives: Debian's Chromium and its WebDriver (a test tool's own browser
# download is never used), and a CJK font so the Chinese titles in its screenshots are legible.
BROWSER_PACKAGES = {"chromium": "/usr/bin/chromium", "chromium-driver": "/usr/bin/chromedriver"}
CJK_FONT_PACKAGE = "fonts-wqy-zenhei"


def ensure_browser() -> None:
    """Install the browser test's Debian packages with apt-get when they are missing.

    Needs apt-get and root (or sudo). Elsewhere (macOS, Windows, no root) it only says what to
    install; the browser test then fails with the same advice, or is skipped with
    METALEARN_LITE_SKIP_BROWSER=1.
    """
    if os.environ.get("METALEARN_LITE_SKIP_BROWSER") == "1":
        return
    missing = [pkg for pkg, path in BROWSER_PACKAGES.items() if not Path(path).exists()]
    fc_list = shutil.which("fc-list")
    if fc_list is None or not subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout.strip():
        missing.append(CJK_FONT_PACKAGE)
    if not missing:
        return
    apt = shutil.which("apt-get")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    sudo = [] if root else ["sudo"] if shutil.which("sudo") else None
    if apt is None or sudo is None:
        print(f"note: the browser test needs {', '.join(missing)} (Debian package names); install them, "
              "or set METALEARN_LITE_SKIP_BROWSER=1 to skip that test", flush=True)
        return
    apt_cmd = [*sudo, "env", "DEBIAN_FRONTEND=noninteractive", apt]
    run([*apt_cmd, "update", "-q"])
    run([*apt_cmd, "install", "-y", "-q", *missing])


def test(pytest_args: list[str]) -> int:
    """pytest over tests/ and the chapters (nbval), then the chapters again under each of NUMERICS.

    ``--numerics NAME,...`` chooses the extra configurations (``--numerics none``: only this
    machine's own); every other argument goes to pytest.
    """
    numerics = list(NUMERICS)
    if "--numerics" in pytest_args:
        at = pytest_args.index("--numerics")
        if at + 1 >= len(pytest_args):
            raise SystemExit(f"--numerics needs a value: none, or a comma-separated list of {', '.join(NUMERICS)}")
        chosen = pytest_args[at + 1]
        pytest_args = pytest_args[:at] + pytest_args[at + 2:]
        numerics = [] if chosen == "none" else chosen.split(",")
        unknown = set(numerics) - set(NUMERICS)
        if unknown:
            raise SystemExit(f"unknown --numerics {', '.join(sorted(unknown))}: choose from {', '.join(NUMERICS)} or none")
    env_dir = setup()
    ensure_browser()
    vendor()  # the tests build the book, but never download anything themselves
    python = tool(env_dir, "python")
    nbval = ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", SANITIZE]
    chapters = any((ROOT / "chapters").glob("*.ipynb"))
    code = run([python, "-m", "pytest", "tests", *(["chapters", *nbval] if chapters else []), *pytest_args],
               env_dir, check=False)
    for name in numerics if chapters else []:
        print(f"\nThe chapters again, under the numerics of another machine ({name}):", flush=True)
        code = run([python, "-m", "pytest", "chapters", *nbval, *pytest_args], env_dir, check=False,
                   extra_env=NUMERICS[name]) or code
    return code


def lab(lab_args: list[str]) -> int:
    env_dir = setup()
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # e.g. in a container; JupyterLab refuses root otherwise
        lab_args = ["--allow-root", *lab_args]
    return run([tool(env_dir, "python"), "-m", "jupyter", "lab", "chapters", *lab_args], env_dir, check=False)


def clean(args: list[str]) -> int:
    paths = [ROOT / p for p in ("_build", "_vendor", ".pytest_cache", ".hypothesis", "build", "dist")]
    paths += ROOT.glob("*.egg-info")
    for folder in ("metalearn_lite", "tests", "benchmarks", "chapters", "book"):
        paths += (ROOT / folder).rglob("__pycache__")
        paths += (ROOT / folder).rglob(".ipynb_checkpoints")
    if "--venv" in args:
        paths.append(ROOT / ".venv")
    for path in paths:
        if path.exists():
            print(f"==> rm -r {path.relative_to(ROOT)}")
            shutil.rmtree(path)
    return 0


def main(argv: list[str]) -> int:
    args = argv[1:]
    commands = {"book": lambda: book(args), "test": lambda: test(args), "lab": lambda: lab(args), "clean": lambda: clean(args),
                "lock": lambda: lock(args), "repository": lambda: repository(args), "release": lambda: release(args),
                "dist": lambda: dist(args), "version": lambda: print(version()) or 0}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 0 if argv[:1] in (["-h"], ["--help"], ["help"]) else 2
    if argv[0] == "book" and args not in ([], ["--student"]):
        print("`book` takes no arguments but --student")
        return 2
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
