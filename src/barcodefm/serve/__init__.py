"""``barcodefm serve``: identify barcodes on a local web page, offline, with one loaded model.

The pieces, one per file:

- ``identifier.py``: :class:`Identifier`, the model, its training references and the 2-D map,
  loaded once; names the records of one upload (the computation of ``barcodefm classify``);
- ``results.py``: the min-prob cutoff and the TSV download (the columns of ``barcodefm classify``);
- ``uploads.py``: an upload received into a private temporary folder under a size limit, then
  read by the package's barcode readers (bad records are rejected with a reason, the rest kept);
- ``jobs.py``: one worker thread runs the model, a few records at a time; uploads wait in a bounded
  queue;
- ``app.py``: the web application (Starlette) and its page, ``static/``, behind a guard against
  other web sites (DNS rebinding, cross-site requests, framing).

The web libraries are the ``serve`` extra (``pip install 'barcodefm[serve]'``): nothing here is
imported by ``barcodefm --help``.
"""
