"""One module per study: its samples and the layouts of real files it reads, its
features, its networks and its named procedures, on the shared modules below
(``io``, ``features``, ``models``, ``training``, ``metrics``, ``fitting``, ``explain``,
``plotting``) and the detectors' simulations (``detectors``).

Contents: ``photon_jets``, ``photon_id``, ``shashlik``, ``ldmx``, ``lartpc``.
"""
