"""Remote management from the city: signed desired config (``config/desired`` ->
``config/reported``) and commands (``cmd/<name>`` -> ``cmd/<name>/result``); docs/remote.md."""
