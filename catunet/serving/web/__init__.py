"""The web page and its JSON API (``catunet serve``)."""
