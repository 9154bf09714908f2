"""Download and preprocess the Omniglot files: ``python -m metalearn_lite.data.prepare``.

``python -m metalearn_lite.data.omniglot`` runs the same command. It lives here, not in
``omniglot.py``, because it also prepares Lake's one-shot runs, and ``lake.py`` builds on
``omniglot.py``: keeping the command apart keeps ``omniglot.py`` from importing ``lake.py``.
"""
from __future__ import annotations

import argparse
import sys

from .download import ChecksumError, DataNotFoundError
from .lake import LAKE_NAME, load_lake_runs
from .omniglot import OMNIGLOT_FILES, _omniglot_dir, load_omniglot, omniglot_file

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Download (and by default preprocess) Omniglot files: ``python -m metalearn_lite.data.prepare``."""
    parser = argparse.ArgumentParser(prog="python -m metalearn_lite.data.prepare", description=main.__doc__)
    parser.add_argument("names", nargs="*", default=list(OMNIGLOT_FILES), help=f"files to fetch (default: all of {list(OMNIGLOT_FILES)})")
    parser.add_argument("--root", default=None, help="data root (default: $METALEARN_LITE_DATA or ~/.cache/metalearn_lite)")
    parser.add_argument("--image-size", type=int, default=28, help="image size to preprocess for (default 28)")
    parser.add_argument("--download-only", action="store_true", help="only download and check the zips")
    args = parser.parse_args(argv)
    failed = []
    for name in args.names:
        try:
            path = omniglot_file(name, args.root)
            if args.download_only:
                print(f"{name}: {path} (md5 ok)")
            elif name == LAKE_NAME:
                runs = load_lake_runs(args.root, image_size=args.image_size)
                print(f"{name}: {len(runs)} one-shot runs at {args.image_size}px")
            else:
                ds = load_omniglot(name, args.root, image_size=args.image_size)
                print(f"{name}: {len(ds)} images, {ds.num_classes} classes, {len(ds.alphabet_names())} alphabets at {args.image_size}px")
        except (DataNotFoundError, ChecksumError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            failed.append(name)
    print(f"data folder: {_omniglot_dir(args.root)}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
