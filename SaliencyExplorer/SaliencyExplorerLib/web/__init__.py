"""The web front door: the Slicer panel's steps in a browser, served by trame-slicer (``python -m
SaliencyExplorerLib web --root DIR``).

``root_files`` (the one folder the server may touch), ``case`` (the panel's steps on a scene, no trame),
``link`` (a URL that opens a case), ``app`` (the trame page; the only trame user). Nothing is imported here,
so the rest of the library and the CLI work without the ``web`` extra.
"""
