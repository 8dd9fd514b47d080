"""The supervisor's live wait board: a page and its JSON twins on the worker's web server.

``feed`` (what the pipeline hands over), ``data`` (read-outs of the engine), ``access``
(token / basic auth), ``http`` (the endpoints, for faust and for ``chatwatch board``),
``merge`` (one board over many workers) and ``links`` (board links in alerts). Nothing is
imported here, so the pipeline can import ``agents.board.feed`` without the rest.
"""
