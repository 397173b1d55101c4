"""What the tests share across apps: the named test world (``world``). Not imported by the site."""
