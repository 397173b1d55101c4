"""Support code for the tests and benchmarks, never imported by the site (pyproject's packages
leave it out): the named test world (``world``) and the live test server (``live_server``)."""
